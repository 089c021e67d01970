// Package corpus turns the real conversation data kept outside the
// repository (../shared/data) into holdfast ingest messages, for integration
// tests and benchmarks. It owns the parsing of four public data sets and
// nothing else; the data is read from its directory at run time and never
// copied into the repository.
//
// The sources and how each becomes a [Message]:
//
//   - [IRC]: #ubuntu logs (irc-ubuntu/*/*.raw.txt), one message per
//     "[hh:mm] <nick> text" line; join/part notices ("=== ...") and "/me"
//     actions ("[hh:mm]  * nick ...") are not messages and are skipped.
//     Platform "irc", conversation "#ubuntu" (channel). SentAt is the file
//     name's day plus the line's clock, made monotonic across midnight (and
//     across the 12-hour clock some early logs use).
//   - [Slack]: disentangled public Slack communities
//     (slack-disentangled/<team>/<year>/*.xml), Slack markup kept in the text.
//     Platform "slack"; each disentangled conversation is a channel
//     conversation; SentAt is the message's <ts>.
//   - [KdConv]: Chinese knowledge-grounded dialogues (kdconv/<domain>/*.json).
//     Platform "generic"; each dialogue is a direct conversation between two
//     synthetic speakers who alternate.
//   - [LCCC]: Chinese Weibo conversations (lccc-toy), characters separated by
//     spaces in the data and joined back here. Platform "weibo"; each
//     conversation is direct, speakers alternate.
//
// KdConv and LCCC carry no dates: their SentAt is synthetic and
// deterministic, 2025-01-01T00:00:00Z plus one minute per message in stream
// order, so that date-range queries have something to select.
//
// Every SourceID starts with its source's name ("irc:", "slack:", "kdconv:",
// "lccc:"), so SourceIDs are unique across all four sources, not only
// within a platform. Every Text is valid UTF-8 and not blank.
//
// Tests find the data with [Dir] and skip when it returns an error wrapping
// [ErrNoData].
package corpus
