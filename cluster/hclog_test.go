package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

func TestRaftLoggerBridgesIntoLogrus(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.InfoLevel)
	hl := newRaftLogger(logrus.NewEntry(l).WithField("component", "cluster")).Named("snapshot").With("id", "1-2-3")

	hl.Debug("dropped below the level")
	hl.Warn("failed to contact", "server-id", "node2", "error", errors.New("refused"))
	hl.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] raft-net: boom")

	var lines []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (debug is below the level): %s", len(lines), buf.String())
	}
	want := map[string]any{"level": "warning", "msg": "failed to contact", "component": "raft",
		"logger": "snapshot", "id": "1-2-3", "server-id": "node2", "error": "refused"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("warn line %s = %v, want %v", k, lines[0][k], v)
		}
	}
	if lines[1]["level"] != "error" || lines[1]["msg"] != "raft-net: boom" {
		t.Errorf("standard logger line = %v", lines[1])
	}
}
