package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// WeCom decodes WeCom's 会话内容存档 (conversation content archive) as a
// puller forwards it to POST /v1/sources/wecom: the messages the archive
// SDK's GetChatData returns, decrypted with DecryptData. holdfast never
// holds the archive private key, so a body carries plaintext messages, in
// one of three shapes:
//
//   - the GetChatData answer with each entry's plaintext added:
//     {"chatdata":[{"seq":1,"msgid":"...","decrypted":{...}}, ...]}.
//     "decrypted" is the message object, or the JSON text DecryptData
//     returned as a string; other keys (errcode, encrypt_chat_msg, ...) are
//     ignored;
//   - a JSON array of decrypted messages;
//   - NDJSON, one decrypted message per line (a single message is NDJSON of
//     one line, and may span several lines).
//
// An element of the array or a line of NDJSON may also be one chatdata
// entry {"seq","msgid","decrypted"}. The highest seq seen is reported as
// Result.Meta["seq"], for the puller to resume from.
//
// Each message becomes one record: msgid is its source id; a revoke
// (action "recall") is the recall version of its pre_msgid; a switch (the
// member changed device) is archived as type "switch" in conversation
// "switch:<user>". A group message's conversation is its roomid; a 1:1
// message's is "direct:" and its sorted parties. Ids starting with "wo" or
// "wm" are external contacts. Every message type is archived with its raw
// JSON and a searchable text (see wecomText); media bodies (sdkfileid,
// md5sum) have no bytes here and get no attachment entry.
//
// WeCom signs nothing on this path (the gateway's ingest token
// authenticates the puller): Decode checks no signature.
type WeCom struct{}

var _ Source = WeCom{}

// Platform returns "wecom".
func (WeCom) Platform() string { return wecomPlatform }

// Decode turns one body into records, all or none: the first bad message
// is returned as an *Error naming the WeCom field and the line.
func (WeCom) Decode(req Request) (Result, error) {
	entries, e := splitWeCom(req.Body)
	if e != nil {
		return Result{}, e
	}
	res := Result{Records: make([]Record, 0, len(entries))}
	var seq *uint64
	for _, ent := range entries {
		rec, e := ent.record(req.Tenant, req.Limits, req.Now)
		if e != nil {
			return Result{}, e
		}
		res.Records = append(res.Records, rec)
		seq = maxSeq(seq, ent.seq)
	}
	if seq != nil {
		res.Meta = map[string]any{"seq": *seq}
	}
	return res, nil
}

// ReadWeCom reads a WeCom archive export for `holdfast import wecom FILE`:
// NDJSON of decrypted messages (or chatdata entries), or one JSON document
// in a shape WeCom.Decode accepts. It calls fn with one Item per message,
// in file order; a message that cannot be archived is an Item with Err set
// and the rest of the file is still read (an NDJSON line that is not JSON
// rejects that line only; a whole document that is not JSON is one
// rejected Item). It returns the first error of r or of fn.
func ReadWeCom(r io.Reader, tenant string, lim Limits, now time.Time, fn func(Item) error) error {
	br := bufio.NewReader(r)
	var head []byte
	line := 0
	for {
		l, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("wecom: read line %d: %w", line+1, err)
		}
		head = append(head, l...)
		line++
		if t := bytes.TrimSpace(l); len(t) > 0 || err != nil {
			if len(t) > 0 && t[0] == '{' && json.Valid(t) {
				// NDJSON: this line and every following one.
				return readWeComLines(br, l, line, readCtx{tenant, lim, now, fn})
			}
			rest, err := io.ReadAll(br)
			if err != nil {
				return fmt.Errorf("wecom: read: %w", err)
			}
			return emitWeCom(append(head, rest...), 0, readCtx{tenant, lim, now, fn})
		}
	}
}

// readCtx is what every item of an import is decoded with.
type readCtx struct {
	tenant string
	lim    Limits
	now    time.Time
	fn     func(Item) error
}

// readWeComLines reads NDJSON from br, l being line number line, already
// read.
func readWeComLines(br *bufio.Reader, l []byte, line int, rc readCtx) error {
	for {
		if len(bytes.TrimSpace(l)) > 0 {
			if err := emitWeCom(l, line-1, rc); err != nil {
				return err
			}
		}
		next, err := br.ReadBytes('\n')
		if len(next) == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("wecom: read line %d: %w", line+1, err)
		}
		l, line = next, line+1
	}
}

// emitWeCom yields the items of data, whose first line is line skip+1 of
// the file.
func emitWeCom(data []byte, skip int, rc readCtx) error {
	entries, e := splitWeCom(data)
	if e != nil {
		e.Line += skip
		return rc.fn(Item{Err: e, Where: fmt.Sprintf("line %d", e.Line), Bytes: int64(len(data))})
	}
	for _, ent := range entries {
		ent.line += skip
		it := Item{Where: ent.where(), Bytes: int64(len(ent.data))}
		rec, e := ent.record(rc.tenant, rc.lim, rc.now)
		if e != nil {
			it.Err = e
		} else {
			it.Record = rec
		}
		if err := rc.fn(it); err != nil {
			return err
		}
	}
	return nil
}

// wecomEntry is one decrypted message of a body and where it was found.
type wecomEntry struct {
	line int
	// item names the chatdata entry the message came in ("chatdata[3]",
	// or "" for a bare entry line); chatdata is false for a bare message.
	item     string
	chatdata bool
	// data is the decrypted message's JSON, as received.
	data []byte
	seq  *uint64
	// msgid is the chatdata entry's own msgid, when it gave one.
	msgid string
}

// field names a field of the decrypted message for an error.
func (e wecomEntry) field(name string) string {
	switch {
	case !e.chatdata:
		return name
	case e.item == "":
		return "decrypted." + name
	}
	return e.item + ".decrypted." + name
}

// entryField names a field of the chatdata entry itself.
func (e wecomEntry) entryField(name string) string {
	if e.item == "" {
		return name
	}
	return e.item + "." + name
}

func (e wecomEntry) where() string {
	if e.item == "" {
		return fmt.Sprintf("line %d", e.line)
	}
	return fmt.Sprintf("line %d %s", e.line, e.item)
}

// splitWeCom finds the decrypted messages of a body in any of the shapes
// WeCom documents.
func splitWeCom(body []byte) ([]wecomEntry, *Error) {
	start := len(body) - len(bytes.TrimLeft(body, " \t\r\n"))
	if utf8.Valid(body) && start < len(body) && body[start] == '{' && !firstLineIsJSON(body[start:]) {
		// One object over several lines: the envelope, or one message.
		t := bytes.TrimSpace(body)
		if e := checkObject(t, 0); e != nil {
			e.Line += lineAt(body, int64(start)) - 1
			return nil, e
		}
		return objectEntries(t, lineAt(body, int64(start)))
	}
	items, e := splitBody(body, false)
	if e != nil {
		return nil, e
	}
	var entries []wecomEntry
	for _, it := range items {
		ents, e := objectEntries(bytes.TrimSpace(it.data), it.line)
		if e != nil {
			return nil, e
		}
		entries = append(entries, ents...)
	}
	return entries, nil
}

func firstLineIsJSON(b []byte) bool {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return json.Valid(bytes.TrimSpace(b))
}

// objectEntries reads one well-formed JSON object starting on line: the
// chatdata envelope, one chatdata entry or one decrypted message.
func objectEntries(obj []byte, line int) ([]wecomEntry, *Error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(obj, &keys); err != nil {
		return nil, jsonError(obj, line, err)
	}
	if _, ok := keys["chatdata"]; ok {
		return envelopeEntries(obj, line)
	}
	ent, e := unwrapEntry(obj, keys, line, "")
	if e != nil {
		return nil, e
	}
	return []wecomEntry{ent}, nil
}

// envelopeEntries reads {"chatdata":[...]}, each entry on its own line.
func envelopeEntries(obj []byte, line int) ([]wecomEntry, *Error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	var entries []wecomEntry
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(obj, line, err)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, jsonError(obj, line, err)
		}
		if key != "chatdata" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, jsonError(obj, line, err)
			}
			continue
		}
		ents, e := chatdataEntries(dec, obj, line)
		if e != nil {
			return nil, e
		}
		entries = append(entries, ents...)
	}
	if len(entries) == 0 {
		return nil, &Error{Kind: KindEmpty, Field: "chatdata", Line: line, Msg: "chatdata holds no messages"}
	}
	return entries, nil
}

// chatdataEntries reads the chatdata array dec is at.
func chatdataEntries(dec *json.Decoder, obj []byte, line int) ([]wecomEntry, *Error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, badField(line, "chatdata", "chatdata must be an array of {seq, msgid, decrypted}")
	}
	var entries []wecomEntry
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(obj, line, err)
		}
		for start < int64(len(obj)) && (obj[start] == ',' || isSpace(obj[start])) {
			start++
		}
		l := line + lineAt(obj, start) - 1
		item := fmt.Sprintf("chatdata[%d]", i)
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			return nil, badField(l, item, "%s must be an object {seq, msgid, decrypted}", item)
		}
		ent, e := unwrapEntry(raw, keys, l, item)
		if e != nil {
			return nil, e
		}
		entries = append(entries, ent)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(obj, line, err)
	}
	return entries, nil
}

// unwrapEntry reads a chatdata entry (it has "decrypted") or a bare
// decrypted message. item names an entry of the envelope; an envelope's
// entry must carry its plaintext.
func unwrapEntry(obj []byte, keys map[string]json.RawMessage, line int, item string) (wecomEntry, *Error) {
	ent := wecomEntry{line: line, item: item, data: obj}
	dec, ok := keys["decrypted"]
	if !ok {
		if item != "" {
			return ent, badField(line, item+".decrypted", "%s has no decrypted message: forward what DecryptData returned, holdfast does not hold the archive private key", item)
		}
		return ent, nil
	}
	ent.chatdata = true
	if s, ok := keys["seq"]; ok && string(s) != "null" {
		var seq uint64
		if err := json.Unmarshal(s, &seq); err != nil {
			return ent, badField(line, ent.entryField("seq"), "seq must be a whole number, not %s", s)
		}
		ent.seq = &seq
	}
	if m, ok := keys["msgid"]; ok && json.Unmarshal(m, &ent.msgid) != nil {
		return ent, badField(line, ent.entryField("msgid"), "msgid must be a string, not %s", m)
	}
	data, e := decryptedJSON(dec, line, ent.entryField("decrypted"))
	ent.data = data
	return ent, e
}

// decryptedJSON returns the message a chatdata entry's decrypted holds: an
// object, or a string holding one.
func decryptedJSON(raw json.RawMessage, line int, field string) ([]byte, *Error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badField(line, field, "%s is not a valid JSON string", field)
		}
		raw = json.RawMessage(bytes.TrimSpace([]byte(s)))
	}
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, badField(line, field, "%s must be the decrypted message: a JSON object, or a string holding one", field)
	}
	return raw, nil
}

func maxSeq(cur, seq *uint64) *uint64 {
	if seq == nil || (cur != nil && *cur >= *seq) {
		return cur
	}
	return seq
}
