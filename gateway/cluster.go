package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/holdfast/holdfast/index"
)

// ClusterAdmin is what the gateway needs from the cluster for its admin
// routes and for strongly consistent reads. cmd/holdfast adapts
// *cluster.Node to it.
type ClusterAdmin interface {
	Members(ctx context.Context) ([]Member, error)
	Join(ctx context.Context, id, raftAddr string) error
	Remove(ctx context.Context, id string) error
	// LeaderLastSeq is the catalog position the leader had committed at
	// the time of the call.
	LeaderLastSeq(ctx context.Context) (uint64, error)
}

// IndexProgress is this node's indexer: how far it has followed the
// catalog. *index.Follower satisfies it.
type IndexProgress interface {
	WaitIndexed(ctx context.Context, seq uint64) error
	Stats() index.FollowerStats
}

// Member is one node as GET /v1/cluster shows it.
type Member struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	Role         string `json:"role"` // leader, follower, non-voter
	Reachable    bool   `json:"reachable"`
	LastContact  string `json:"last_contact,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	// CatalogSeq is the catalog position the node has applied; IndexedSeq
	// how far its index has followed it; Lag the segments it has yet to
	// index.
	CatalogSeq uint64 `json:"catalog_seq"`
	IndexedSeq uint64 `json:"indexed_seq"`
	Lag        uint64 `json:"lag"`
}

// Errors a ClusterAdmin returns that the API maps to a status.
var (
	// ErrNoLeader: the cluster has no leader now (no quorum); retry.
	ErrNoLeader = errors.New("no leader")
	// ErrUnknownMember: no member has that id.
	ErrUnknownMember = errors.New("unknown member")
)

func (g *Gateway) handleCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	members, err := g.cluster.Members(ctx)
	if err != nil {
		writeError(w, clusterError(err))
		return
	}
	quarantined := []QuarantinedSegment{}
	if q := g.quarantine(); q != nil {
		list, err := q.Quarantined()
		if err != nil {
			writeError(w, internal(g, err, "list quarantined segments"))
			return
		}
		quarantined = append(quarantined, list...)
	}
	duplicated, err := g.duplicatedSegments()
	if err != nil {
		writeError(w, internal(g, err, "list duplicated segments"))
		return
	}
	if !g.auditOK(w, r, AuditReadCluster, "", nil, http.StatusOK) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": g.cfg.NodeID, "members": members,
		"quarantined": quarantined, "duplicated": duplicated})
}

type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

func (g *Gateway) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	dec := json.NewDecoder(http.MaxBytesReader(rawWriter(w), r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "join body: " + err.Error()})
		return
	}
	if req.ID == "" || req.RaftAddr == "" {
		field := "id"
		if req.ID != "" {
			field = "raft_addr"
		}
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: field,
			Message: "a join needs the node's id and raft address (its cluster.raft_listen)"})
		return
	}
	if !g.auditOK(w, r, AuditJoin, req.ID, map[string]any{"raft_addr": req.RaftAddr}, http.StatusOK) {
		return
	}
	if err := g.cluster.Join(r.Context(), req.ID, req.RaftAddr); err != nil {
		writeError(w, clusterError(err))
		return
	}
	g.log.WithField("member", req.ID).WithField("raft_addr", req.RaftAddr).Info("member joined")
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.ID})
}

func (g *Gateway) handleRemoveNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !g.auditOK(w, r, AuditRemoveNode, id, nil, http.StatusOK) {
		return
	}
	if err := g.cluster.Remove(r.Context(), id); err != nil {
		writeError(w, clusterError(err))
		return
	}
	g.log.WithField("member", id).Info("member removed")
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}

func clusterError(err error) *APIError {
	switch {
	case errors.Is(err, ErrNoLeader):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the cluster has no leader (no quorum); retry: " + err.Error()}
	case errors.Is(err, ErrUnknownMember):
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	}
	return &APIError{Status: http.StatusBadGateway, Code: CodeUnavailable, Message: "cluster: " + err.Error()}
}

// waitConsistent, for ?consistency=strong, waits until this node has
// indexed everything the leader had committed when the request came in.
func (g *Gateway) waitConsistent(r *http.Request) *APIError {
	switch r.URL.Query().Get("consistency") {
	case "", "local":
		return nil
	case "strong":
	default:
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "consistency", Message: "consistency must be local or strong"}
	}
	if g.cluster == nil || g.indexed == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	seq, err := g.cluster.LeaderLastSeq(ctx)
	if err != nil {
		return clusterError(err)
	}
	if err := g.indexed.WaitIndexed(ctx, seq); err != nil {
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "this node has not indexed up to the leader's position " + strconv.FormatUint(seq, 10) + " yet; retry, or use another node"}
	}
	return nil
}
