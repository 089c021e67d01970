package gateway

import (
	"bytes"
	"context"
	"hash/maphash"
	"math/bits"

	"github.com/cockroachdb/pebble"
)

// idFilter remembers, in memory, every message id the ledger holds or has
// reserved, as a Bloom filter: "no" is certain, "maybe" is not. It lets
// the ledger answer a send of a new id, by far the most common record,
// without a Pebble point lookup (a memtable skiplist seek and a bloom probe
// per level: 14% of the CPU of `holdfast bench ingest` before it).
//
// The filter is only trusted once ready: the ledger fills it from Pebble in
// the background at open, while every new reservation is added as it is
// made, so that no id can be missed. It grows in parts, each four times the
// previous, up to maxIDFilterBytes; past that it is saturated and answers
// "maybe" to everything, and the ledger reads Pebble as it always did.
//
// Callers hold ledger.mu.
type idFilter struct {
	seed  maphash.Seed
	parts []bloomPart
	ready bool // every id in the ledger has been added
	full  bool // saturated: every answer is "maybe"
	bytes int
}

// Sizing: about 12 bits per id (a blocked filter with 6 probes in one
// 64-bit word: a few percent of false "maybe", each costing a lookup).
const (
	idFilterFirstIDs = 1 << 16
	idFilterBitsPer  = 12
	idFilterProbes   = 6
	maxIDFilterBytes = 64 << 20
)

type bloomPart struct {
	words []uint64
	ids   int // added to this part
	limit int // ids this part was sized for
}

func newIDFilter() *idFilter {
	return &idFilter{seed: maphash.MakeSeed()}
}

// add records id. It never fails: a filter that cannot grow saturates.
func (f *idFilter) add(id string) {
	if f.full {
		return
	}
	if len(f.parts) == 0 || f.parts[len(f.parts)-1].ids >= f.parts[len(f.parts)-1].limit {
		if !f.grow() {
			return
		}
	}
	p := &f.parts[len(f.parts)-1]
	w, mask := f.locate(id, len(p.words))
	p.words[w] |= mask
	p.ids++
}

// grow adds a part four times the size of the last; false once that would
// pass maxIDFilterBytes, and the filter is saturated.
func (f *idFilter) grow() bool {
	ids := idFilterFirstIDs
	if n := len(f.parts); n > 0 {
		ids = f.parts[n-1].limit * 4
	}
	words := ids * idFilterBitsPer / 64
	if f.bytes+words*8 > maxIDFilterBytes {
		f.full, f.parts = true, nil
		return false
	}
	f.parts = append(f.parts, bloomPart{words: make([]uint64, words), limit: ids})
	f.bytes += words * 8
	return true
}

// absent reports whether id is certainly not in the ledger: only once the
// filter is ready and not saturated.
func (f *idFilter) absent(id string) bool {
	if !f.ready || f.full {
		return false
	}
	for i := range f.parts {
		p := &f.parts[i]
		w, mask := f.locate(id, len(p.words))
		if p.words[w]&mask == mask {
			return false
		}
	}
	return true
}

// locate maps id to a word of an n-word part and the probe bits in it.
func (f *idFilter) locate(id string, n int) (int, uint64) {
	h := maphash.String(f.seed, id)
	hi, _ := bits.Mul64(h, uint64(n))
	var mask uint64
	// The word comes from the high bits of h, the probes from its low 36.
	for i := 0; i < idFilterProbes; i++ {
		mask |= 1 << (h >> (6 * i) & 63)
	}
	return int(hi), mask
}

// fillIDs adds every message id already in the ledger to the id filter,
// then marks it ready. Ids written after the iterator's snapshot need no
// reading: each was added when it was reserved (or replayed). When Pebble
// cannot be read here the filter simply stays unready and every lookup
// goes to Pebble, which reports the error itself.
func (l *ledger) fillIDs(ctx context.Context) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'v'}, UpperBound: []byte{'v' + 1}})
	if err != nil {
		return
	}
	defer it.Close()
	batch := make([]string, 0, 4096)
	flush := func() {
		l.mu.Lock()
		for _, id := range batch {
			l.ids.add(id)
		}
		l.mu.Unlock()
		batch = batch[:0]
	}
	var last []byte
	for it.First(); it.Valid(); it.Next() {
		id := it.Key()[1:]
		if i := bytes.IndexByte(id, 0); i >= 0 {
			id = id[:i]
		}
		if bytes.Equal(id, last) {
			continue // the versions of one id are adjacent
		}
		last = append(last[:0], id...)
		if batch = append(batch, string(id)); len(batch) == cap(batch) {
			flush()
			if ctx.Err() != nil {
				return
			}
		}
	}
	if it.Error() != nil {
		return
	}
	flush()
	l.mu.Lock()
	l.ids.ready = true
	l.mu.Unlock()
}
