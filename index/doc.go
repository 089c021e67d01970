// Package index is every node's full-text index of archived messages: a
// derived view that can always be rebuilt from storage alone (Rebuild).
//
// It owns the Bleve mapping, the indexer that follows the catalog
// (Follower), the translation of a search Request into Bleve queries, and
// the monthly partitions. It never imports cluster or gateway: it declares
// the Catalog it follows, and cmd/holdfast connects the two.
//
// # Mapping
//
// The text and attachment names are analysed with Bleve's cjk analyzer
// (unicode tokenizer, width folding, lowercase, CJK bigrams): English words
// stay words and Chinese becomes overlapping character pairs, so a Chinese
// word is found inside a sentence without spaces; the querystring package
// searches CJK text as a phrase so that 奥斯卡 does not match 奥斯 or 斯卡
// alone. Ids, names, platforms and the like are keywords (exact values).
// The mapping is static: nothing unmapped is indexed and there is no _all
// field. Only the text and a small JSON of the fields a Hit shows are
// stored; the raw payload stays in storage, one ranged GET away
// (Hit.Location).
//
// # Partitions
//
// There is one Bleve (scorch) index per calendar month of sent_at, in
// Dir/p-YYYY-MM, opened on first use. A search with a time range reads only
// the months it overlaps. A time-sorted search reads the months newest
// first, asking each for only the hits still missing from the page, and
// stops as soon as the page is full: months are disjoint, so an older month
// cannot hold a hit that sorts before the page's last one. Bleve's sort
// reads the sort values of every match it is given, so a month with many
// matches is read in windows of sent_at, newest first, the same way; a
// month with few has its matches loaded and sorted without bleve's sort.
// The cursor holds the last hit's (sent_at, doc id), and what is newer
// than the cursor is not read at all, so page 100 costs what page 1 costs.
// What the first page does not read is only counted (no sort, no stored
// fields, no scoring), up to TotalCountLimit matches and TotalCountTime:
// past either, Total is a lower bound and Result.TotalRelation says so
// (Request.ExactTotal counts everything). See timesort.go and count.go.
// Time-sorted searches run word searches and one-term phrases as plain
// term searches (rewrite.go), and excluded tenants are a top-level "must
// not" (query.go): unscored, bleve then intersects the terms and the
// filters as bitmaps.
//
// Relevance-sorted searches read every month in range at once (a Bleve
// IndexAlias) for scores and ids only, then load the stored fields and
// highlights of the page's hits from their own months; scores are per
// month, and the total is exact.
//
// # Versions
//
// A document is one message version, with id "<message id>/<version>".
// Only the highest version of a message has latest=true, and searches
// match latest documents unless Request.AllVersions is set. A side file
// (Dir/meta.db, bbolt) maps each message id to its indexed versions and
// their months, so that indexing a newer version finds and re-indexes the
// previous latest one (from its stored fields) with latest=false in O(1),
// and an older version arriving late is indexed with latest=false at once.
//
// # Checkpoint
//
// IndexSegment streams a segment's records into per-partition batches of
// BatchSize; a goroutine per partition applies them (each bleve batch
// returns once persisted) while the next one is mapped. Once every batch
// is persisted, the side records and the checkpoint (the catalog sequence
// number of the segment) are committed in one synced bbolt transaction. A
// crash in between leaves the checkpoint before the segment, which is
// indexed again: indexing is idempotent. The Follower and Rebuild index
// the segments that are waiting in runs of about RunRecords records the
// same way, so batches stay full when a segment's records spread over
// several months, and commit once per run.
package index
