package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/holdfast/holdfast/archive"
)

// SegmentPrefix is where the audit trail's segments are stored: the
// segments of tenant _audit.
const SegmentPrefix = "segments/_audit/"

// Kinds of Problem.
const (
	// KindGap: sequence numbers are missing from a chain (a record was
	// removed, or its segment is unreadable).
	KindGap = "gap"
	// KindBreak: a record does not link to the one before it (the record
	// before was altered and re-hashed, or this one was forged).
	KindBreak = "break"
	// KindFork: two different records claim one sequence number.
	KindFork = "fork"
	// KindAltered: a record's content does not match its own hash.
	KindAltered = "altered"
	// KindUnreadable: a segment could not be read or decoded at all.
	KindUnreadable = "unreadable"
)

// Store is what Verify reads: any archive.ObjectStore.
type Store interface {
	List(ctx context.Context, prefix string, fn func(archive.ObjectInfo) error) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// Problem is one finding, named so that an examiner can look at it.
type Problem struct {
	Kind  string `json:"kind"`
	Node  string `json:"node,omitempty"`
	Chain string `json:"chain,omitempty"`
	// Seq is the first sequence number concerned (0: unknown); Last is
	// the last of a gap.
	Seq  uint64 `json:"seq,omitempty"`
	Last uint64 `json:"last,omitempty"`
	// Segment is the key of the segment holding the record concerned
	// (for a gap: the record after it).
	Segment string `json:"segment,omitempty"`
	Detail  string `json:"detail"`
}

func (p Problem) String() string {
	s := p.Kind
	if p.Node != "" {
		s += fmt.Sprintf(" node %s chain %s", p.Node, p.Chain)
	}
	switch {
	case p.Last > p.Seq:
		s += fmt.Sprintf(" seq %d..%d", p.Seq, p.Last)
	case p.Seq > 0:
		s += fmt.Sprintf(" seq %d", p.Seq)
	}
	if p.Segment != "" {
		s += " in " + p.Segment
	}
	return s + ": " + p.Detail
}

// Chain summarises one node's chain as found in storage.
type Chain struct {
	Node    string `json:"node"`
	Chain   string `json:"chain"`
	First   uint64 `json:"first"`
	Last    uint64 `json:"last"`
	Records int    `json:"records"`
	// Copies counts records stored more than once, identical.
	Copies int `json:"copies,omitempty"`
}

// Report is what Verify found.
type Report struct {
	Segments int `json:"segments"`
	Records  int `json:"records"`
	// Unchained counts audit records written before chaining existed.
	Unchained int       `json:"unchained,omitempty"`
	Chains    []Chain   `json:"chains"`
	Problems  []Problem `json:"problems"`
	// Notes are findings that are not problems by themselves: a node
	// with more than one chain (its data dir was lost, or a chain was
	// forged whole).
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// link is one chained record as found in storage.
type link struct {
	Node    string `json:"node"`
	Chain   string `json:"chain"`
	Seq     uint64 `json:"seq"`
	Prev    string `json:"prev"`
	sha     string
	segment string
}

// Verify reads every audit segment in store and checks each node's chain.
// It fails only when storage cannot be listed; everything else it finds is
// in the report.
func Verify(ctx context.Context, store Store, codec *archive.Codec) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	var keys []string
	if err := store.List(ctx, SegmentPrefix, func(o archive.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	chains := map[[2]string][]link{}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Segments++
		data, err := readAll(ctx, store, key)
		if err == nil {
			err = codec.ScanEach(data, func(m archive.Message, line []byte, _ archive.ManifestEntry, rerr error) error {
				rep.Records++
				l, ok := linkOf(m, line, rerr == nil)
				l.segment = key
				switch {
				case rerr != nil:
					rep.Problems = append(rep.Problems, Problem{Kind: KindAltered, Node: l.Node, Chain: l.Chain, Seq: l.Seq, Segment: key,
						Detail: fmt.Sprintf("record fails verification: %v", rerr)})
				case !ok:
					rep.Unchained++
				default:
					k := [2]string{l.Node, l.Chain}
					chains[k] = append(chains[k], l)
				}
				return nil
			})
		}
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Kind: KindUnreadable, Segment: key, Detail: err.Error()})
		}
	}
	perNode := map[string]int{}
	for _, k := range sortedKeys(chains) {
		rep.Chains = append(rep.Chains, checkChain(chains[k], &rep.Problems))
		perNode[k[0]]++
	}
	for _, c := range rep.Chains {
		if n := perNode[c.Node]; n > 1 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("node %s has %d chains: its data dir was replaced, or a chain was forged whole", c.Node, n))
			perNode[c.Node] = 0
		}
	}
	return rep, nil
}

// readAll reads a whole object; a store that verifies what it reads (the
// fs store) fails the read of an object altered on disk.
func readAll(ctx context.Context, store Store, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// linkOf reads the chain link from an audit record's raw payload (the
// audit event's JSON); for a record that failed verification it reads
// what it can from the line itself, to name it. ok is false when the
// record carries no link.
func linkOf(m archive.Message, line []byte, verified bool) (l link, ok bool) {
	if !verified {
		if err := json.Unmarshal(line, &m); err != nil {
			return l, false
		}
	}
	raw, err := m.RawBytes()
	if err != nil || json.Unmarshal(raw, &l) != nil || l.Seq == 0 || l.Chain == "" {
		return l, false
	}
	l.sha = m.SHA256
	return l, true
}

func sortedKeys(m map[[2]string][]link) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}

// checkChain orders one chain's records by sequence number and reports
// every gap, break and fork in it.
func checkChain(ls []link, problems *[]Problem) Chain {
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].Seq < ls[j].Seq })
	c := Chain{Node: ls[0].Node, Chain: ls[0].Chain, First: ls[0].Seq, Last: ls[len(ls)-1].Seq}
	report := func(p Problem) {
		p.Node, p.Chain = c.Node, c.Chain
		*problems = append(*problems, p)
	}
	var prev *link
	for i := range ls {
		l := &ls[i]
		switch {
		case prev != nil && l.Seq == prev.Seq && l.sha == prev.sha:
			c.Copies++
			continue
		case prev != nil && l.Seq == prev.Seq:
			report(Problem{Kind: KindFork, Seq: l.Seq, Segment: l.segment,
				Detail: fmt.Sprintf("two records claim this number: %s (in %s) and %s", prev.sha, prev.segment, l.sha)})
			continue
		}
		c.Records++
		want := uint64(1)
		if prev != nil {
			want = prev.Seq + 1
		}
		switch {
		case l.Seq > want:
			report(Problem{Kind: KindGap, Seq: want, Last: l.Seq - 1, Segment: l.segment,
				Detail: fmt.Sprintf("%d record(s) missing before seq %d", l.Seq-want, l.Seq)})
		case prev == nil && l.Prev != "":
			report(Problem{Kind: KindBreak, Seq: l.Seq, Segment: l.segment, Detail: "the first record links to a record before it"})
		case prev != nil && l.Prev != prev.sha:
			report(Problem{Kind: KindBreak, Seq: l.Seq, Segment: l.segment,
				Detail: fmt.Sprintf("links to %s but seq %d (in %s) is %s: one of them was altered or forged", l.Prev, prev.Seq, prev.segment, prev.sha)})
		}
		prev = l
	}
	return c
}

// ErrProblems is returned by callers (the CLI) when a verification found
// problems.
var ErrProblems = errors.New("audit: the audit trail has problems")
