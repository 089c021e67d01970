package journal

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/archive"
)

// Helpers the platform sources share: body splitting, signature headers,
// time fields, field renaming in errors, and streaming of import files.

// splitSourceBody splits a webhook body into its payloads: one JSON
// object however it is laid out (platforms and people pretty-print), else
// what splitBody accepts: a JSON array of objects or NDJSON.
func splitSourceBody(body []byte) ([]item, *Error) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' && utf8.Valid(t) && json.Valid(t) {
		return []item{{line: lineAt(body, int64(bytes.IndexByte(body, '{'))), data: t}}, nil
	}
	return splitBody(body, false)
}

// signedHeaders returns a signed webhook's timestamp and signature headers
// once both are present and the timestamp, a Unix time read by at, is
// within window of now; else an error wrapping ErrSignature. The
// Signature names the pair for the replay cache; it expires when the
// window closes for the timestamp.
func signedHeaders(h http.Header, tsName, sigName string, at func(int64) time.Time, now time.Time, window time.Duration) (string, string, *Signature, error) {
	ts, sig := h.Get(tsName), h.Get(sigName)
	if ts == "" || sig == "" {
		return "", "", nil, fmt.Errorf("%s or %s header missing: %w", tsName, sigName, ErrSignature)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", "", nil, fmt.Errorf("%s %q is not a Unix time: %w", tsName, ts, ErrSignature)
	}
	if d := now.Sub(at(n)); d > window || d < -window {
		return "", "", nil, fmt.Errorf("%s %s is more than %s from now: %w", tsName, ts, window, ErrSignature)
	}
	return ts, sig, &Signature{Key: ts + "\n" + sig, Expires: at(n).Add(window)}, nil
}

// withSignature sets the verified signature of a decoded delivery.
func withSignature(res Result, err error, sig *Signature) (Result, error) {
	if err == nil {
		res.Signature = sig
	}
	return res, err
}

// epochMillis is a Unix time in milliseconds, sent as a JSON number or a
// string of digits (DingTalk documents createAt as a string and sends a
// number).
type epochMillis int64

// UnmarshalJSON accepts a number, a string of digits or null.
func (t *epochMillis) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" || s == "" {
		*t = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// A type error, so that encoding/json names the field.
		return &json.UnmarshalTypeError{Value: "non-integer " + string(b), Type: reflect.TypeFor[int64]()}
	}
	*t = epochMillis(n)
	return nil
}

// time is t as a UTC time, zero when t is not set.
func (t epochMillis) time() time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(t)).UTC()
}

// parseTimeField parses an RFC 3339 time (ISO 8601 with an offset, as
// Zoom and Graph send them) of field; "" is the zero time.
func parseTimeField(s, field string, line int) (time.Time, *Error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, badField(line, field, "%s %q is not an RFC 3339 time such as 2026-01-02T15:04:05.123Z", field, s)
	}
	return t, nil
}

// platformField makes a Finish error name the platform's own field.
func platformField(e *Error, names map[string]string) *Error {
	if e == nil {
		return nil
	}
	if n, ok := names[e.Field]; ok {
		e.Field = n
	}
	return e
}

// v0Signature is the "v0=" signature Slack and Zoom both send: the hex
// HMAC-SHA256 of "v0:", the timestamp, ":" and the exact body.
func v0Signature(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// unixSeconds is the time of a Unix timestamp in seconds (signedHeaders).
func unixSeconds(s int64) time.Time { return time.Unix(s, 0) }

func macSHA256(key, msg string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func firstText(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// finishVersions makes one record of m per action, in order, each
// validated by Finish with raw as its payload.
func finishVersions(m archive.Message, actions []archive.Action, raw []byte, line int, lim Limits, now time.Time, names map[string]string) ([]archive.Message, *Error) {
	out := make([]archive.Message, 0, len(actions))
	for _, a := range actions {
		v := m
		v.Action, v.To = a, append([]archive.Participant(nil), m.To...)
		if e := platformField(Finish(&v, raw, line, lim, now), names); e != nil {
			return nil, e
		}
		out = append(out, v)
	}
	return out, nil
}

// emitItems yields the records of one input message (or the reason it
// was rejected) as import items: the first carries the input's size, the
// others are named after their action.
func emitItems(fn func(Item) error, where string, line int, size int64, msgs []archive.Message, e *Error) error {
	if e != nil {
		return fn(Item{Err: e, Where: where, Bytes: size})
	}
	for i, m := range msgs {
		it := Item{Record: Record{Line: line, Message: m}, Where: where, Bytes: size}
		if i > 0 {
			it.Where, it.Bytes = fmt.Sprintf("%s (%s)", where, m.Action), 0
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// eachJSONValue calls fn with every top-level JSON value of r, numbered
// from 1: the elements of a top-level array, or the values of a stream of
// them (one, or one per line). A syntax error ends the stream: it is
// returned as an *Error naming the value and its byte offset. fn's error
// is returned as it is.
func eachJSONValue(r io.Reader, fn func(n int, v json.RawMessage) error) error {
	br := bufio.NewReader(r)
	first, err := peekNonSpace(br)
	if errors.Is(err, io.EOF) {
		return &Error{Kind: KindEmpty, Line: 1, Msg: "input is empty"}
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	dec := json.NewDecoder(br)
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return &Error{Kind: KindSyntax, Msg: "malformed JSON: " + err.Error()}
		}
	}
	for n := 1; !array || dec.More(); n++ {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) && !array {
			return nil
		}
		if err != nil {
			return &Error{Kind: KindSyntax, Msg: fmt.Sprintf("value %d: malformed JSON near byte %d: %v", n, dec.InputOffset(), err)}
		}
		if err := fn(n, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return &Error{Kind: KindSyntax, Msg: "malformed JSON: the array is not closed: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Kind: KindSyntax, Msg: fmt.Sprintf("unexpected data after the closing ] near byte %d", dec.InputOffset())}
	}
	return nil
}

// peekNonSpace skips white space and returns the next byte, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		if !isSpace(b[0]) {
			return b[0], nil
		}
		if _, err := br.ReadByte(); err != nil {
			return 0, err
		}
	}
}
