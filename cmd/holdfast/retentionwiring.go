package main

import (
	"context"
	"reflect"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/cluster"
	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
)

// startRetention registers the leader's retention jobs on node: legal
// holds and sweeps (matching through gw's index, reporting sweeps to gw's
// audit trail), and the replication of the configured policies.
func startRetention(node *cluster.Node, gw *gateway.Gateway, store archive.ObjectStore, r config.Retention, log *logrus.Entry) {
	node.RunRetention(cluster.Retention{
		Store: store, Matcher: gw, SweepEvery: time.Duration(r.SweepEvery), Report: gw.AuditSweep, Log: log,
		AuditUntil: gw.AuditRetainUntil,
	})
	node.RunWhileLeader("policies-from-config", func(ctx context.Context) {
		syncConfigPolicies(ctx, node, r.PolicySet(), log)
	})
}

// syncConfigPolicies replicates the configured policies when the cluster
// has none yet, or has the config's and the file changed since. Policies
// set through the API are never overwritten by a file: the log says so.
func syncConfigPolicies(ctx context.Context, node *cluster.Node, set archive.PolicySet, log *logrus.Entry) {
	for ctx.Err() == nil {
		rec, ok, err := node.Policies()
		switch {
		case err != nil:
			log.WithError(err).Error("read replicated policies")
		case ok && rec.Source != "config":
			if !reflect.DeepEqual(normalised(rec.Set), normalised(set)) {
				log.WithFields(logrus.Fields{"revision": rec.Revision, "by": rec.By}).
					Warn("retention policies were set through the API; retention.policies of the config file is not applied")
			}
			return
		case ok && reflect.DeepEqual(normalised(rec.Set), normalised(set)):
			return
		case !ok && len(set.Policies) == 0 && (set.DirectChat == "" || set.DirectChat == archive.DirectLongest):
			return // nothing configured, nothing replicated: the defaults apply
		default:
			if err := node.SetPolicies(ctx, set, "config", node.ID()); err != nil {
				log.WithError(err).Error("replicate the configured policies; retrying")
			} else {
				log.WithField("policies", len(set.Policies)).Info("configured retention policies replicated")
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func normalised(s archive.PolicySet) archive.PolicySet {
	if s.DirectChat == "" {
		s.DirectChat = archive.DirectLongest
	}
	if len(s.Policies) == 0 {
		s.Policies = nil
	}
	return s
}
