package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
)

// clusterAdmin adapts *cluster.Node to the gateway's ClusterAdmin, so that
// the gateway never depends on the cluster's types.
type clusterAdmin struct{ node *cluster.Node }

var _ gateway.ClusterAdmin = clusterAdmin{}

func (c clusterAdmin) Members(ctx context.Context) ([]gateway.Member, error) {
	ms, err := c.node.Members(ctx)
	if err != nil {
		return nil, clusterErr(err)
	}
	out := make([]gateway.Member, len(ms))
	for i, m := range ms {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case !m.Voter:
			role = "non-voter"
		}
		out[i] = gateway.Member{ID: m.ID, RaftAddr: m.RaftAddr, Role: role, Reachable: m.Reachable,
			AppliedIndex: m.AppliedIndex, CatalogSeq: m.LastSeq, IndexedSeq: m.Progress}
		if m.LastSeq > m.Progress {
			out[i].Lag = m.LastSeq - m.Progress
		}
		if m.LastContact >= 0 {
			out[i].LastContact = m.LastContact.String()
		}
	}
	return out, nil
}

func (c clusterAdmin) Join(ctx context.Context, id, addr string) error {
	return clusterErr(c.node.Join(ctx, id, addr))
}

func (c clusterAdmin) Remove(ctx context.Context, id string) error {
	return clusterErr(c.node.Remove(ctx, id))
}

func (c clusterAdmin) LeaderLastSeq(ctx context.Context) (uint64, error) {
	seq, err := c.node.LeaderLastSeq(ctx)
	return seq, clusterErr(err)
}

var _ gateway.Quarantine = clusterAdmin{}

func (c clusterAdmin) Quarantined() ([]gateway.QuarantinedSegment, error) {
	qs, err := c.node.Quarantined()
	if err != nil {
		return nil, err
	}
	out := make([]gateway.QuarantinedSegment, len(qs))
	for i, q := range qs {
		out[i] = gateway.QuarantinedSegment{Segment: q.Segment, Seq: q.Seq, Node: q.Node, Reason: q.Reason, At: q.At}
	}
	return out, nil
}

var _ gateway.Duplicated = clusterAdmin{}

func (c clusterAdmin) DuplicatedSegments() ([]string, error) { return c.node.DuplicatedSegments() }

func (c clusterAdmin) RepairSegment(ctx context.Context, key, by string) error {
	err := c.node.RepairSegment(ctx, key, by)
	if errors.Is(err, cluster.ErrNotFound) {
		return fmt.Errorf("%w: %w", gateway.ErrNotQuarantined, err)
	}
	return clusterErr(err)
}

// clusterErr maps the cluster's sentinels onto the gateway's.
func clusterErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNoLeader):
		return fmt.Errorf("%w: %w", gateway.ErrNoLeader, err)
	case errors.Is(err, cluster.ErrUnknownMember):
		return fmt.Errorf("%w: %w", gateway.ErrUnknownMember, err)
	}
	return err
}

// clusterTLS loads the mutual TLS configuration of cluster connections, or
// nil when none is configured.
func clusterTLS(c config.Cluster) (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls_cert: %w", err)
	}
	pem, err := os.ReadFile(c.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster.tls_ca: no certificate in %s", c.TLSCA)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
