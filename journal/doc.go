// Package journal turns what journal sources send into archive.Message
// records: one file (or subpackage) per source format. json.go is holdfast's
// own normalised record, as POST /v1/messages takes it; the platform formats
// (WeCom, DingTalk, Zoom, Slack, Teams, email) follow the same shape: decode,
// validate, and either return every record of a payload or an *Error naming
// the field and line of the first problem.
package journal
