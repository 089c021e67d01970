package archive

import "time"

// Segment is the catalog's record of one sealed, uploaded and verified
// segment object. It carries metadata only, never message bodies.
type Segment struct {
	// Key is the object key in the bucket.
	Key string `json:"key"`
	// VersionID is the storage version written by the PUT.
	VersionID string `json:"version_id,omitempty"`
	Tenant    string `json:"tenant"`
	// Node is the id of the node that sealed and uploaded it.
	Node string `json:"node"`
	// SHA256 is the hex digest of the whole object.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Count is the number of message versions inside.
	Count int `json:"count"`
	// RetainUntil is the object's COMPLIANCE retain-until date: the latest
	// retain_until of the records inside.
	RetainUntil time.Time `json:"retain_until"`
	// MinSentAt and MaxSentAt bound the records' sent_at.
	MinSentAt time.Time `json:"min_sent_at"`
	MaxSentAt time.Time `json:"max_sent_at"`
	// ManifestOffset and ManifestLength locate the manifest frame so that a
	// reader needs one ranged GET to learn where every record is.
	ManifestOffset int64     `json:"manifest_offset"`
	ManifestLength int64     `json:"manifest_length"`
	SealedAt       time.Time `json:"sealed_at"`
	// LegalHold is true when the object was written with legal hold on.
	LegalHold bool `json:"legal_hold,omitempty"`
	// Holds are the legal holds the object was written under, with the
	// number of matching message versions inside for each.
	Holds map[string]int `json:"holds,omitempty"`
	// Expired is true once a retention sweep has deleted the object: the
	// catalog keeps the key, with a new Seq, so that followers drop its
	// documents. ExpiredAt is when, Sweep the sweep that deleted it.
	Expired   bool      `json:"expired,omitempty"`
	ExpiredAt time.Time `json:"expired_at,omitzero"`
	Sweep     string    `json:"sweep,omitempty"`
}

// CatalogEntry is one segment as the catalog records it, with its catalog
// sequence number: strictly increasing in the order the catalog applied
// it, and identical on every node. Followers (the index) page through the
// catalog by Seq.
type CatalogEntry struct {
	Seq     uint64  `json:"seq"`
	Segment Segment `json:"segment"`
}
