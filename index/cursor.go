package index

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// cursor is the sort values of the last hit of a page, the SearchAfter of
// the next: (sent_at, doc id) for the time sort, (score, doc id) for
// relevance. It is sent to clients as unpadded base64url JSON; they must
// treat it as opaque.
type cursor struct {
	Sort string `json:"s"` // "t" or "r"
	Key  string `json:"k"` // sent_at (RFC 3339, ns) or score
	ID   string `json:"i"` // doc id
}

// encodeCursor returns the cursor after the hit docID, which was sent at
// sentAt (time sort) or scored score (relevance).
func encodeCursor(relevance bool, sentAt time.Time, docID string, score float64) string {
	c := cursor{Sort: "t", Key: sentAt.UTC().Format(time.RFC3339Nano), ID: docID}
	if relevance {
		c = cursor{Sort: "r", Key: strconv.FormatFloat(score, 'g', -1, 64), ID: docID}
	}
	b, _ := json.Marshal(c) // three strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the SearchAfter values of s and, for the time sort,
// the month of its sent_at.
func decodeCursor(s string, relevance bool) ([]string, int, error) {
	bad := func(why string) ([]string, int, error) {
		return nil, 0, fmt.Errorf("cursor: %s: %w", why, ErrBadRequest)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return bad("malformed")
	}
	if _, _, ok := splitDocID(c.ID); !ok {
		return bad("malformed")
	}
	switch {
	case c.Sort == "t" && !relevance:
		t, err := time.Parse(time.RFC3339Nano, c.Key)
		if err != nil {
			return bad("malformed time")
		}
		return []string{c.Key, c.ID}, monthKey(t), nil
	case c.Sort == "r" && relevance:
		if _, err := strconv.ParseFloat(c.Key, 64); err != nil {
			return bad("malformed score")
		}
		return []string{c.Key, c.ID}, 0, nil
	}
	return bad("from a search with another sort order")
}
