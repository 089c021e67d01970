// Package audit checks the audit trail's tamper evidence from storage
// alone: each node's audit records form a hash chain (every record carries
// its chain's id, its sequence number and the sha256 of the record before
// it, all covered by its own sha256), and Verify reads every audit segment
// straight from the bucket and names each gap (a record removed) and each
// break (a record altered or forged) by node, sequence number and segment
// key. The gateway writes the chain; this package only reads it.
package audit
