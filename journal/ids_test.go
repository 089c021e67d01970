package journal

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestControlCharactersInIDsAreRefused(t *testing.T) {
	for field, body := range map[string]string{
		"source_id":       strings.Replace(good, `"source_id":"1.2"`, `"source_id":"1.2\u0000"`, 1),
		"conversation.id": strings.Replace(good, `"id":"C1"`, `"id":"C\u001b[2J"`, 1),
		"from.id":         strings.Replace(good, `"id":"U1"`, `"id":"U1\r\nX-Forged: 1"`, 1),
		"to[0].id":        strings.Replace(good, `"id":"U2"`, `"id":"U2\u0085"`, 1),
		"tenant":          strings.Replace(good, `"platform"`, `"tenant":"acme\u0000","platform"`, 1),
	} {
		t.Run(field, func(t *testing.T) {
			_, err := DecodeJSON([]byte(body), false, Limits{MaxFieldBytes: 1 << 20}, now)
			var e *Error
			if !errors.As(err, &e) || e.Field != field || e.Kind != KindInvalid {
				t.Fatalf("err = %v, want an invalid %s", err, field)
			}
		})
	}
	// Text and names may hold line breaks and tabs.
	ok := strings.Replace(good, `"text":"hi"`, `"text":"line 1\nline 2\ttab"`, 1)
	if _, err := DecodeJSON([]byte(ok), false, Limits{MaxFieldBytes: 1 << 20}, now); err != nil {
		t.Fatalf("control characters in text: %v", err)
	}
}

func TestRecipientsCap(t *testing.T) {
	to := make([]string, 1001)
	for i := range to {
		to[i] = fmt.Sprintf(`{"id":"u%d"}`, i)
	}
	body := strings.Replace(good, `"to":[{"id":"U2"}]`, `"to":[`+strings.Join(to, ",")+`]`, 1)
	_, err := DecodeJSON([]byte(body), false, Limits{MaxFieldBytes: 1 << 20, MaxRecipients: 1000}, now)
	var e *Error
	if !errors.As(err, &e) || e.Field != "to" || !strings.Contains(e.Msg, "1001") || !strings.Contains(e.Msg, "1000") {
		t.Fatalf("1001 recipients with a cap of 1000: %v", err)
	}
	if _, err := DecodeJSON([]byte(body), false, Limits{MaxFieldBytes: 1 << 20, MaxRecipients: 1001}, now); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
}
