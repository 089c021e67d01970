package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// QuarantinedSegment is one node's quarantine of a segment, as GET
// /v1/cluster shows it: a segment that node's indexer found corrupt (or
// missing) in storage and indexed on past.
type QuarantinedSegment struct {
	Segment string    `json:"segment"`
	Seq     uint64    `json:"seq"`
	Node    string    `json:"node"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Quarantine is what the gateway needs for quarantined segments. The
// ClusterAdmin that cmd/holdfast passes implements it too.
type Quarantine interface {
	// Quarantined lists every node's quarantine records.
	Quarantined() ([]QuarantinedSegment, error)
	// RepairSegment clears the quarantine of key and has every node's
	// indexer read it again; ErrNotQuarantined when no node quarantined
	// it.
	RepairSegment(ctx context.Context, key, by string) error
}

// ErrNotQuarantined: no node quarantined the segment a repair names.
var ErrNotQuarantined = errors.New("segment not quarantined")

// AuditRepairSegment is the audited action of POST /v1/cluster/repair.
const AuditRepairSegment = "repair_segment"

// quarantine returns the cluster's Quarantine, or nil.
func (g *Gateway) quarantine() Quarantine {
	q, _ := g.cluster.(Quarantine)
	return q
}

// Duplicated is what the gateway needs to show the segments that may
// repeat a message version stored in another segment: a copy delivered
// after its twin's claim was dropped, or a claim taken over from a segment
// that arrived after all (see VersionClaimer). The index keeps one document
// per version, so search shows one of the two; GET /v1/cluster lists these
// segments so that no record in storage goes unaccounted for. The
// ClusterAdmin that cmd/holdfast passes implements it too.
type Duplicated interface {
	// DuplicatedSegments lists the keys of those segments.
	DuplicatedSegments() ([]string, error)
}

// duplicatedSegments lists the segments that may repeat versions stored
// elsewhere; none without a cluster that tracks them.
func (g *Gateway) duplicatedSegments() ([]string, error) {
	d, ok := g.cluster.(Duplicated)
	if !ok {
		return []string{}, nil
	}
	keys, err := d.DuplicatedSegments()
	if keys == nil {
		keys = []string{}
	}
	return keys, err
}

// quarantinedSegments counts the distinct segments some node has
// quarantined, for holdfast_index_quarantined_segments; -1 when unknown.
func (g *Gateway) quarantinedSegments() int64 {
	q := g.quarantine()
	if q == nil {
		return 0
	}
	list, err := q.Quarantined()
	if err != nil {
		return -1
	}
	keys := map[string]bool{}
	for _, s := range list {
		keys[s.Segment] = true
	}
	return int64(len(keys))
}

// repairRequest is POST /v1/cluster/repair: one segment, or every
// quarantined one.
type repairRequest struct {
	Segment string `json:"segment"`
	All     bool   `json:"all"`
}

// handleRepair retries quarantined segments: their quarantine is cleared
// and every node's indexer reads them again, quarantining any that is
// still corrupt anew.
func (g *Gateway) handleRepair(w http.ResponseWriter, r *http.Request) {
	q := g.quarantine()
	if q == nil {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this node has no cluster catalog"})
		return
	}
	var req repairRequest
	if e := decodeBody(r, "request body", &req); e != nil {
		writeError(w, e)
		return
	}
	req.Segment = strings.TrimSpace(req.Segment)
	if (req.Segment == "") == !req.All {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "segment",
			Message: `name the quarantined segment to repair ("segment"), or ask for every one ("all": true), not both`})
		return
	}
	keys := []string{req.Segment}
	if req.All {
		list, err := q.Quarantined()
		if err != nil {
			writeError(w, internal(g, err, "list quarantined segments"))
			return
		}
		keys = distinctSegments(list)
	}
	target := req.Segment
	if req.All {
		target = "all"
	}
	if !g.auditOK(w, r, AuditRepairSegment, target, map[string]any{"segments": keys}, http.StatusAccepted) {
		return
	}
	repaired := []string{}
	for _, key := range keys {
		err := q.RepairSegment(r.Context(), key, callerOf(r).Name)
		switch {
		case errors.Is(err, ErrNotQuarantined) && !req.All:
			writeError(w, &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Field: "segment",
				Message: fmt.Sprintf("segment %s is not quarantined (GET /v1/cluster lists those that are)", key)})
			return
		case errors.Is(err, ErrNotQuarantined): // repaired meanwhile
		case err != nil:
			writeError(w, clusterError(err))
			return
		default:
			repaired = append(repaired, key)
		}
	}
	g.log.WithField("segments", len(repaired)).WithField("by", callerOf(r).Name).Info("quarantined segments sent back to every indexer")
	writeJSON(w, http.StatusAccepted, map[string]any{"repaired": repaired})
}

func distinctSegments(list []QuarantinedSegment) []string {
	seen := map[string]bool{}
	var keys []string
	for _, s := range list {
		if !seen[s.Segment] {
			seen[s.Segment] = true
			keys = append(keys, s.Segment)
		}
	}
	sort.Strings(keys)
	return keys
}
