package archive

import "time"

// VersionClaim is one message version an uploader is about to store in a
// segment: the catalog keeps the first segment that claims each version,
// cluster-wide, so that a version two nodes acknowledged is stored once.
type VersionClaim struct {
	// ID is the message id (tenant, platform and source id).
	ID string
	// Event is the idempotency key of the version within the message:
	// its action and version ("send/v0", "edit/v2"), or for an edit sent
	// without a version, the action and a hash of what it says.
	Event string
	// Version is the version the claiming node assigned.
	Version int
}

// SegmentClaims are the versions one segment, named by its object key,
// claims.
type SegmentClaims struct {
	Segment  string
	Versions []VersionClaim
	// Oldest is when the oldest of the versions was accepted (zero when
	// unknown): a version older than the claims the catalog still keeps
	// may have a twin it can no longer see, and its segment is marked.
	Oldest time.Time
}

// ClaimOutcome is what the catalog decided about one VersionClaim.
type ClaimOutcome struct {
	// Won means the claiming segment stores the version: upload it.
	Won bool
	// Pending means another segment claimed the version first and is not
	// yet stored: keep the record and claim again later (the claim is
	// taken over if its segment never arrives).
	Pending bool
	// Winner is the stored segment that holds the version when another
	// segment won (neither Won nor Pending), and Version the version it
	// stores it as.
	Winner  Segment
	Version int
}
