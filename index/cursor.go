package index

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// cursor is where the next page starts. It is sent to clients as unpadded
// base64url JSON; they must treat it as opaque.
//
// For the time sort it is the sort values of the last hit, (sent_at, doc
// id), the SearchAfter of the next page: a message's sent_at never
// changes, so page 100 is as cheap and as exact as page 1 while messages
// keep arriving.
//
// For relevance it names the ranking snapshot of the first page and the
// offset of the next page in it (see ranking.go).
type cursor struct {
	Sort   string `json:"s"`           // "t" or "r"
	Key    string `json:"k,omitempty"` // sent_at (RFC 3339, ns), or the ranking id
	ID     string `json:"i,omitempty"` // doc id
	Offset int    `json:"o,omitempty"` // relevance: hits before the next page
	// Total is the first page's total, which later pages repeat instead of
	// counting every older partition again: on a large archive that count
	// is most of a deep page's cost. Gte says it is a lower bound.
	Total uint64 `json:"n,omitempty"`
	Gte   bool   `json:"g,omitempty"`
}

// encodeCursor returns the cursor after the hit docID sent at sentAt, of a
// search whose first page counted total hits (at least, when gte).
func encodeCursor(sentAt time.Time, docID string, total uint64, gte bool) string {
	return encode(cursor{Sort: "t", Key: sentAt.UTC().Format(time.RFC3339Nano), ID: docID, Total: total, Gte: gte})
}

// encodeRankingCursor returns the cursor of the page at offset in ranking.
func encodeRankingCursor(ranking string, offset int) string {
	return encode(cursor{Sort: "r", Key: ranking, Offset: offset})
}

func encode(c cursor) string {
	b, _ := json.Marshal(c) // strings, ints and a bool: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// position is a decoded cursor. For the time sort: the SearchAfter values
// (sent_at, doc id), the sent_at and its month, and the first page's total;
// for relevance: the ranking id (after) and the offset of the page (month).
type position struct {
	after    []string
	at       time.Time
	month    int
	total    uint64
	totalGte bool
}

// decodeCursor reads cursor s of a search with the given sort.
func decodeCursor(s string, relevance bool) (position, error) {
	bad := func(why string) (position, error) {
		return position{}, fmt.Errorf("cursor: %s: %w", why, ErrBadRequest)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return bad("malformed")
	}
	switch {
	case c.Sort == "t" && !relevance:
		if _, _, ok := splitDocID(c.ID); !ok {
			return bad("malformed")
		}
		t, err := time.Parse(time.RFC3339Nano, c.Key)
		if err != nil {
			return bad("malformed time")
		}
		return position{after: []string{c.Key, c.ID}, at: t, month: monthKey(t), total: c.Total, totalGte: c.Gte}, nil
	case c.Sort == "r" && relevance:
		if c.Offset <= 0 || c.Key == "" {
			return bad("malformed")
		}
		return position{after: []string{c.Key}, month: c.Offset}, nil
	}
	return bad("from a search with another sort order")
}
