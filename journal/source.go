package journal

import (
	"errors"
	"net/http"
	"time"
)

// ErrSignature is returned by a Source when a webhook's signature is missing
// or does not verify: the gateway answers 401 and archives nothing.
var ErrSignature = errors.New("journal: webhook signature missing or invalid")

// Request is one webhook delivery as a Source sees it: the exact body (a
// signature covers the bytes, not their meaning) and the headers.
type Request struct {
	Header http.Header
	Body   []byte
	// Now is the reception time: the future-date check, and the
	// timestamp window of signature checks.
	Now time.Time
	// Tenant is the tenant the records are archived under (empty: the
	// default tenant).
	Tenant string
	Limits Limits
}

// Result is what a Source made of one delivery.
type Result struct {
	// Records are the messages to archive, in payload order.
	Records []Record
	// Reply, when not nil, is the whole answer to the delivery (a
	// platform's URL-verification handshake): it is written as JSON with
	// status 200 and nothing is archived.
	Reply any
	// Meta is merged into the ingest answer, e.g. WeCom's "seq" so that a
	// puller can resume from it.
	Meta map[string]any
	// Signature is the delivery's verified signature when the source
	// checked one: the gateway's replay cache refuses it with another
	// body (ReplayCache).
	Signature *Signature
}

// Source decodes one platform's native webhook or push payloads. Decode
// checks the platform's signature first (ErrSignature), then decodes: a
// payload is accepted whole or rejected with an *Error naming the field and
// line (or item) of the first problem.
type Source interface {
	Platform() string
	Decode(Request) (Result, error)
}

// Item is one record of an import (an export file, a mailbox) or the reason
// it was rejected. Importers yield items in a deterministic order so that an
// interrupted import resumes by skipping the items it already sent.
type Item struct {
	Record Record
	// Err is set when the item is rejected: an *Error saying why.
	Err error
	// Where names the item for a person: "general/2026-01-02.json#3",
	// "mbox:1234".
	Where string
	// Bytes is the size of the item's input, for progress reporting.
	Bytes int64
}
