package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/holdfast/holdfast/journal"
)

// APIError is an error a client can act on: a stable machine code, an HTTP
// status and a human sentence, with the field and input line at fault where
// there is one.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"`
	// Position is the 1-based character of a query where it is malformed.
	Position int `json:"position,omitempty"`
	// Limit is the configuration key of the limit a request went over,
	// and Max its value (search.max_wildcards, 10).
	Limit string `json:"limit,omitempty"`
	Max   int    `json:"max,omitempty"`
}

func (e *APIError) Error() string {
	s := e.Code + ": " + e.Message
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

// Machine codes of APIError.
const (
	CodeBadRequest    = "bad_request"
	CodeInvalidJSON   = "invalid_json"
	CodeInvalidField  = "invalid_field"
	CodeInvalidQuery  = "invalid_query"
	CodeInvalidUTF8   = "invalid_utf8"
	CodeTooLarge      = "too_large"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeConflict      = "conflict"
	CodeSpoolFull     = "spool_full"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	CodeUnsupported   = "unsupported_media_type"
	CodeStoreTimedOut = "store_timeout"
)

// journalError maps a payload problem to the API's error answer.
func journalError(err error) *APIError {
	var je *journal.Error
	if !errors.As(err, &je) {
		return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "could not decode the body"}
	}
	e := &APIError{Status: http.StatusBadRequest, Field: je.Field, Line: je.Line, Message: je.Msg}
	switch je.Kind {
	case journal.KindSyntax:
		e.Code = CodeInvalidJSON
	case journal.KindEncoding:
		e.Code = CodeInvalidUTF8
	case journal.KindTooLarge:
		e.Status, e.Code = http.StatusRequestEntityTooLarge, CodeTooLarge
	case journal.KindEmpty:
		e.Code = CodeBadRequest
	default:
		e.Code = CodeInvalidField
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

func writeError(w http.ResponseWriter, e *APIError) {
	writeJSON(w, e.Status, map[string]*APIError{"error": e})
}
