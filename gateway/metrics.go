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
	searchesOverLimit  counter
	searchesTimedOut   counter
	searchesThrottled  counter
	messagesElsewhere  counter
	claimsPending      gauge
	storageUp          gauge
	spoolBytes         func() int64
	spoolPendingRecord func() int64
	ledgerReplay       func() int64
	index              func() index.FollowerStats
	// The webhook replay cache (see limits.go).
	webhookReplays counter
	replayEntries  func() int64
	replayEvicted  func() int64
	// quarantined counts the segments quarantined in the catalog.
	quarantined func() int64
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
		{"holdfast_messages_stored_elsewhere_total", "Message versions left out of this node's segments because another node's segment claimed and stored them first.", "counter", m.messagesElsewhere.v.Load()},
		{"holdfast_claims_pending", "Message versions held back, neither stored nor left out, because another node's segment claimed them first and is not yet stored.", "gauge", m.claimsPending.v.Load()},
		{"holdfast_storage_up", "1 when the last storage operation succeeded.", "gauge", m.storageUp.v.Load()},
		{"holdfast_searches_over_limit_total", "Searches refused with 400 for a query over a search limit.", "counter", m.searchesOverLimit.v.Load()},
		{"holdfast_searches_timed_out_total", "Searches stopped at search.timeout and answered 504.", "counter", m.searchesTimedOut.v.Load()},
		{"holdfast_searches_throttled_total", "Searches refused with 429: the caller had search.max_concurrent_per_caller running.", "counter", m.searchesThrottled.v.Load()},
	}
	if m.spoolBytes != nil {
		all = append(all, metric{"holdfast_spool_bytes", "Bytes in the spool not yet in storage.", "gauge", m.spoolBytes()})
	}
	if m.spoolPendingRecord != nil {
		all = append(all, metric{"holdfast_spool_records", "Records in the spool not yet in storage.", "gauge", m.spoolPendingRecord()})
	}
	all = append(all, metric{"holdfast_webhook_replays_total", "Webhook deliveries refused because their signature was already used for another body.", "counter", m.webhookReplays.v.Load()})
	if m.replayEntries != nil {
		all = append(all,
			metric{"holdfast_webhook_replay_cache_entries", "Webhook signatures remembered by the replay cache.", "gauge", m.replayEntries()},
			metric{"holdfast_webhook_replay_cache_evictions_total", "Signatures forgotten before their window closed because the replay cache was full.", "counter", m.replayEvicted()})
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
			metric{"holdfast_index_failures_total", "Failed attempts to read or index a segment (each retried; only one corrupt or missing in storage is quarantined).", "counter", int64(st.Failures)},
			metric{"holdfast_index_stuck", "1 while a segment keeps failing to index.", "gauge", boolGauge(st.LastError != "")},
			metric{"holdfast_index_quarantined_total", "Segments this node's indexer quarantined (corrupt or missing in storage) and indexed on past, since start.", "counter", int64(st.Quarantined)},
		)
	}
	if m.quarantined != nil {
		all = append(all, metric{"holdfast_index_quarantined_segments", "Segments some node has quarantined: not searchable there until repaired (-1: unknown).", "gauge", m.quarantined()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	for _, x := range all {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", x.name, x.help, x.name, x.kind, x.name, x.value)
	}
}
