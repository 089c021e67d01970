package gateway

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"

	"github.com/holdfast/holdfast/index"
)

// counter is a monotonically increasing Prometheus counter.
type counter struct{ v atomic.Int64 }

func (c *counter) add(n int64) { c.v.Add(n) }

// gauge is a Prometheus gauge.
type gauge struct{ v atomic.Int64 }

func (g *gauge) set(n int64) { g.v.Store(n) }

func boolGauge(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// metrics are the gateway's Prometheus metrics, written in the text
// exposition format by writeTo. A handful of atomics keep the hot path free
// of locks and the binary free of a metrics framework.
type metrics struct {
	messagesAccepted   counter
	messagesDuplicate  counter
	messagesRejected   counter
	messagesStored     counter
	attachmentsStored  counter
	segmentsWritten    counter
	uploadErrors       counter
	spoolFullRejects   counter
	storageUp          gauge
	spoolBytes         func() int64
	spoolPendingRecord func() int64
	ledgerReplay       func() int64
	index              func() index.FollowerStats
}

func (m *metrics) writeTo(w io.Writer) {
	type metric struct {
		name, help, kind string
		value            int64
	}
	all := []metric{
		{"holdfast_messages_accepted_total", "Message versions accepted and spooled.", "counter", m.messagesAccepted.v.Load()},
		{"holdfast_messages_duplicate_total", "Message versions answered as duplicates of one already archived.", "counter", m.messagesDuplicate.v.Load()},
		{"holdfast_messages_rejected_total", "Message versions rejected as invalid.", "counter", m.messagesRejected.v.Load()},
		{"holdfast_messages_stored_total", "Message versions written to WORM storage.", "counter", m.messagesStored.v.Load()},
		{"holdfast_attachments_stored_total", "Attachments written or re-locked in WORM storage.", "counter", m.attachmentsStored.v.Load()},
		{"holdfast_segments_written_total", "Segments uploaded and verified.", "counter", m.segmentsWritten.v.Load()},
		{"holdfast_storage_errors_total", "Failed storage or catalog operations (each retried).", "counter", m.uploadErrors.v.Load()},
		{"holdfast_spool_full_rejects_total", "Ingest requests refused with 503 because the spool was full.", "counter", m.spoolFullRejects.v.Load()},
		{"holdfast_storage_up", "1 when the last storage operation succeeded.", "gauge", m.storageUp.v.Load()},
	}
	if m.spoolBytes != nil {
		all = append(all, metric{"holdfast_spool_bytes", "Bytes in the spool not yet in storage.", "gauge", m.spoolBytes()})
	}
	if m.spoolPendingRecord != nil {
		all = append(all, metric{"holdfast_spool_records", "Records in the spool not yet in storage.", "gauge", m.spoolPendingRecord()})
	}
	if m.ledgerReplay != nil {
		all = append(all, metric{"holdfast_ledger_replay_records", "Spooled records a restart would replay into the ledger now (those after its checkpoint).", "gauge", m.ledgerReplay()})
	}
	if m.index != nil {
		st := m.index()
		all = append(all,
			metric{"holdfast_index_checkpoint", "Catalog position this node has indexed up to.", "gauge", int64(st.Checkpoint)},
			metric{"holdfast_index_lag_segments", "Catalog entries this node has yet to index (catch-up progress).", "gauge", int64(st.Lag)},
			metric{"holdfast_index_segments_total", "Segments indexed since start.", "counter", int64(st.Indexed)},
			metric{"holdfast_index_failures_total", "Failed attempts to read or index a segment (each retried, none skipped).", "counter", int64(st.Failures)},
			metric{"holdfast_index_stuck", "1 while a segment keeps failing to index.", "gauge", boolGauge(st.LastError != "")},
		)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	for _, x := range all {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", x.name, x.help, x.name, x.kind, x.name, x.value)
	}
}
