// Package spool is the gateway's local, durable write-ahead log: the reason an
// ingest acknowledgement (HTTP 202, SMTP 250) is safe to send.
//
// The gateway appends stamped records with Append, which returns only after
// the records are written and fsync'd. An uploader reads them back in LSN
// order with Read, packs them into WORM segments, uploads them and then
// advances a durable watermark with Commit; files whose records all lie below
// the watermark are deleted. Before uploading, the uploader may record an
// Intent (the LSN range it is about to upload) so that after a crash it
// re-uploads exactly the same range under the same object keys. Records are
// opaque bytes to the spool.
//
// # Group commit
//
// One writer goroutine owned by the Spool collects every waiting Append (up
// to Options.BatchBytes), writes them with one write and one fsync, then
// releases them all. The records of one Append are always contiguous and in
// the same batch, so a call is durable entirely or not at all.
//
// # On-disk format
//
// A spool directory holds WAL files named by their first LSN
// ("%020d.wal"), a state file (state.json: the watermark and the pending
// intent, replaced atomically) and a LOCK file that keeps a second process
// out. Integers are little-endian; checksums are CRC-32C (Castagnoli).
//
//	file header (24 bytes): magic "HFSPOOL\x00" | u32 version (1) | u64 first LSN | u32 crc32c(previous 20 bytes)
//	record frame:           u32 length (< 2^31)  | u32 crc32c(payload) | payload
//	commit frame:           u32 0x80000010       | u32 crc32c(payload) | u64 first LSN | u64 last LSN
//
// A record's LSN is implied by its position: the file's first LSN plus the
// number of records before it. Every batch ends with a commit frame naming
// the LSN range it closes, so recovery knows exactly where the last complete
// write ended: records after the last commit frame of the last file belong
// to a write that never finished (and was never acknowledged) and are
// truncated. A damaged frame anywhere else, or one followed by a later
// intact commit frame, is corruption of acknowledged data and Open fails
// with ErrCorrupt naming the file and offset; nothing is dropped silently.
//
// Memory stays bounded however large the spool grows: the Spool keeps each
// file's LSN range and a sparse offset index (one entry per
// indexInterval bytes), never a per-record table.
package spool
