package journal

import (
	"bytes"
	"encoding/json"

	"github.com/holdfast/holdfast/archive"
)

// The scanner below decodes a record of holdfast's own format in one pass
// over its bytes, validating it as it goes, instead of encoding/json's
// three (json.Valid, the decoder's own scan, then reflection). It only
// ever takes the common, unambiguous shape: exact lowercase keys, each at
// most once, values of the field's own JSON type, no null. On anything
// else it gives up and the record takes the encoding/json path, which
// decides and words every error, so for any input the outcome is the one
// encoding/json gives. journal tests check that equivalence (TestScanMatchesDecoder,
// FuzzScanMatchesDecoder).
//
// Strings without escapes are substrings of one copy of the record, which
// is also the raw payload when the record sends none: one allocation per
// record instead of one per field.

// scanDisabled turns the scanner off, for the tests that compare it with
// encoding/json.
var scanDisabled bool

// maxScanDepth bounds the nesting of a raw value the scanner follows;
// deeper values go to encoding/json.
const maxScanDepth = 512

type scanner struct {
	d     []byte
	s     string // string(d): the strings the scanner returns share it
	i     int
	depth int
}

// scanRecord decodes the record in d (valid UTF-8, as splitBody checks)
// and reports whether it could; text is string(d).
func scanRecord(d []byte) (in inputMessage, text string, ok bool) {
	if scanDisabled {
		return in, "", false
	}
	sc := scanner{d: d, s: string(d)}
	sc.ws()
	if !sc.input(&in) {
		return inputMessage{}, "", false
	}
	sc.ws()
	if sc.i != len(d) {
		return inputMessage{}, "", false
	}
	return in, sc.s, true
}

// scanArray splits and decodes an array body, with the lines its items
// start on, and reports whether it could.
func scanArray(body []byte) ([]item, bool) {
	if scanDisabled {
		return nil, false
	}
	sc := scanner{d: body}
	if !sc.next('[') {
		return nil, false
	}
	var items []item
	line, at := 1, 0 // body[at] is on line
	for {
		sc.ws()
		start := sc.i
		if !sc.skipValue() {
			return nil, false
		}
		data := body[start:sc.i]
		in, text, ok := scanRecord(data)
		if !ok {
			return nil, false
		}
		line += bytes.Count(body[at:start], []byte{'\n'})
		at = start
		items = append(items, item{line: line, data: data, in: in, text: text, scanned: true})
		if sc.next(']') {
			break
		}
		if !sc.next(',') {
			return nil, false
		}
	}
	sc.ws()
	return items, sc.i == len(body)
}

func (sc *scanner) input(in *inputMessage) bool {
	return sc.object(func(key string) bool {
		switch key {
		case "platform":
			return sc.str(&in.Platform)
		case "tenant":
			return sc.str(&in.Tenant)
		case "source_id":
			return sc.str(&in.SourceID)
		case "action":
			return sc.str(&in.Action)
		case "version":
			v, ok := sc.uint()
			if !ok || int64(int(v)) != v {
				return false
			}
			n := int(v)
			in.Version = &n
			return true
		case "conversation":
			return sc.conversation(&in.Conversation)
		case "from":
			return sc.participant(&in.From)
		case "to":
			in.To = []archive.Participant{}
			return sc.array(func() bool {
				in.To = append(in.To, archive.Participant{})
				return sc.participant(&in.To[len(in.To)-1])
			})
		case "sent_at":
			return sc.str(&in.SentAt)
		case "type":
			return sc.str(&in.Type)
		case "text":
			return sc.str(&in.Text)
		case "attachments":
			in.Attachments = []inputAttachment{}
			return sc.array(func() bool {
				in.Attachments = append(in.Attachments, inputAttachment{})
				return sc.attachment(&in.Attachments[len(in.Attachments)-1])
			})
		case "raw":
			if sc.i < len(sc.d) && sc.d[sc.i] == 'n' {
				return false // null: encoding/json's RawMessage rules
			}
			start := sc.i
			if !sc.skipValue() {
				return false
			}
			in.Raw = json.RawMessage(sc.d[start:sc.i])
			return true
		case "raw_encoding":
			return sc.str(&in.RawEncoding)
		}
		// Fields holdfast sets, unknown fields, other spellings: the
		// decoder words the error or applies its matching rules.
		return false
	})
}

func (sc *scanner) conversation(c *archive.Conversation) bool {
	return sc.object(func(key string) bool {
		switch key {
		case "id":
			return sc.str(&c.ID)
		case "kind":
			return sc.str(&c.Kind)
		case "name":
			return sc.str(&c.Name)
		}
		return false
	})
}

func (sc *scanner) participant(p *archive.Participant) bool {
	return sc.object(func(key string) bool {
		switch key {
		case "id":
			return sc.str(&p.ID)
		case "name":
			return sc.str(&p.Name)
		case "department":
			return sc.str(&p.Department)
		case "external":
			return sc.bool(&p.External)
		}
		return false
	})
}

func (sc *scanner) attachment(a *inputAttachment) bool {
	return sc.object(func(key string) bool {
		switch key {
		case "name":
			return sc.str(&a.Name)
		case "content_type":
			return sc.str(&a.ContentType)
		case "size":
			v, ok := sc.uint()
			if ok {
				a.Size = &v
			}
			return ok
		case "sha256":
			return sc.str(&a.SHA256)
		case "data":
			var s string
			if !sc.str(&s) {
				return false
			}
			a.Data = &s
			return true
		}
		return false
	})
}
