package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/archive/fsstore"
)

func TestCheckChain(t *testing.T) {
	l := func(seq uint64, sha, prev string) link {
		return link{Node: "n1", Chain: "c", Seq: seq, sha: sha, Prev: prev, segment: "seg-" + sha}
	}
	for _, tc := range []struct {
		name  string
		links []link
		want  []string // Problem.String prefixes
	}{
		{"clean, out of order", []link{l(2, "b", "a"), l(1, "a", ""), l(3, "c", "b")}, nil},
		{"identical copy", []link{l(1, "a", ""), l(2, "b", "a"), l(2, "b", "a"), l(3, "c", "b")}, nil},
		{"gap in the middle", []link{l(1, "a", ""), l(2, "b", "a"), l(5, "e", "d")}, []string{"gap node n1 chain c seq 3..4 in seg-e"}},
		{"gap at the start", []link{l(3, "c", "b"), l(4, "d", "c")}, []string{"gap node n1 chain c seq 1..2 in seg-c"}},
		{"break", []link{l(1, "a", ""), l(2, "x", "a"), l(3, "c", "b")}, []string{"break node n1 chain c seq 3 in seg-c"}},
		{"first links back", []link{l(1, "a", "z")}, []string{"break node n1 chain c seq 1 in seg-a"}},
		{"fork", []link{l(1, "a", ""), l(2, "b", "a"), l(2, "f", "a")}, []string{"fork node n1 chain c seq 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []Problem
			c := checkChain(tc.links, &ps)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems %v, want %v", ps, tc.want)
			}
			for i, p := range ps {
				if !strings.HasPrefix(p.String(), tc.want[i]) {
					t.Fatalf("problem %q, want %q…", p, tc.want[i])
				}
			}
			if tc.name == "identical copy" && (c.Copies != 1 || c.Records != 3) {
				t.Fatalf("chain %+v", c)
			}
		})
	}
}

// chainedRecord is an audit record as the gateway writes it: the event's
// JSON, with its chain link, is the raw payload.
func chainedRecord(t *testing.T, node string, seq uint64, prev string) archive.Message {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"node": node, "chain": "c0", "seq": seq, "prev": prev, "action": "search"})
	m := archive.Message{Platform: "holdfast", Tenant: "_audit", SourceID: fmt.Sprintf("%s-%d", node, seq), Action: archive.ActionSend,
		Conversation: archive.Conversation{ID: "search"}, From: archive.Participant{ID: "sup"}, Type: "audit", Text: "search",
		SentAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), ReceivedAt: time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC),
		RetainUntil: time.Now().Add(time.Hour)}
	m.SetRaw(raw)
	m.Seal()
	return m
}

func putSegment(t *testing.T, st archive.ObjectStore, codec *archive.Codec, key string, ms []archive.Message, alter func([]byte) []byte) {
	t.Helper()
	w := codec.NewWriter("_audit", 0)
	for _, m := range ms {
		line, err := m.Line()
		if err != nil {
			t.Fatal(err)
		}
		if alter != nil {
			line = alter(line)
		}
		w.Add(m.ID, m.Version, m.SHA256, m.RetainUntil, line)
	}
	s, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), key, bytes.NewReader(s.Data), int64(len(s.Data)), archive.PutOptions{RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNamesAlteredRecord: a record whose content no longer matches
// its hash is named (node, seq, segment), and so is the gap it leaves;
// the other node's chain is clean.
func TestVerifyNamesAlteredRecord(t *testing.T) {
	st, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	codec, err := archive.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	var n1, n2 []archive.Message
	for seq, p1, p2 := uint64(1), "", ""; seq <= 4; seq++ {
		a, b := chainedRecord(t, "n1", seq, p1), chainedRecord(t, "n2", seq, p2)
		n1, n2, p1, p2 = append(n1, a), append(n2, b), a.SHA256, b.SHA256
	}
	putSegment(t, st, codec, "segments/_audit/a", n1[:2], nil)
	putSegment(t, st, codec, "segments/_audit/b", n1[2:3], func(l []byte) []byte {
		return bytes.Replace(l, []byte(`"text":"search"`), []byte(`"text":"nothing"`), 1)
	})
	putSegment(t, st, codec, "segments/_audit/c", append(n1[3:], n2...), nil)
	putSegment(t, st, codec, "segments/acme/x", n2, nil) // not the audit tenant's: not read
	rep, err := Verify(context.Background(), st, codec)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Segments != 3 || rep.Records != 8 || len(rep.Chains) != 2 {
		t.Fatalf("report %+v", rep)
	}
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.String())
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "altered node n1 chain c0 seq 3 in segments/_audit/b") ||
		!strings.HasPrefix(got[1], "gap node n1 chain c0 seq 3 in segments/_audit/c") {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	if c := rep.Chains[1]; c.Node != "n2" || c.First != 1 || c.Last != 4 || c.Records != 4 {
		t.Fatalf("n2's chain %+v", c)
	}
}
