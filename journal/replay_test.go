package journal

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestReplayCacheRefusesASignatureWithAnotherBody(t *testing.T) {
	c := NewReplayCache(10)
	sig := Signature{Key: "1700000000000\nsign", Expires: now.Add(time.Hour)}
	if err := c.Check("dingtalk", sig, []byte(`{"a":1}`), now); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if err := c.Check("dingtalk", sig, []byte(`{"a":1}`), now.Add(time.Minute)); err != nil {
		t.Fatalf("redelivery of the same body: %v", err)
	}
	if err := c.Check("dingtalk", sig, []byte(`{"senderNick":"CEO"}`), now.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("same signature, another body: %v, want ErrReplay", err)
	}
	// Another platform's identical header tuple is another signature.
	if err := c.Check("zoom", sig, []byte(`{"other":1}`), now); err != nil {
		t.Fatalf("another platform: %v", err)
	}
	// Once the window closed the source refuses the signature itself;
	// the cache forgets it.
	if err := c.Check("dingtalk", Signature{Key: "x", Expires: now.Add(2 * time.Hour)}, nil, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("after the window: %d entries, want 1 (the two expired ones dropped)", c.Len())
	}
	if err := c.Check("dingtalk", sig, []byte(`{"senderNick":"CEO"}`), now.Add(time.Hour)); err != nil {
		t.Fatalf("an expired signature is the window check's to refuse: %v", err)
	}
}

func TestReplayCacheIsBounded(t *testing.T) {
	c := NewReplayCache(3)
	for i := range 10 {
		sig := Signature{Key: strconv.Itoa(i), Expires: now.Add(time.Duration(i+1) * time.Minute)}
		if err := c.Check("slack", sig, []byte("body"), now); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 3 || c.Evicted() != 7 {
		t.Fatalf("len %d, evicted %d; want 3 and 7", c.Len(), c.Evicted())
	}
	// The survivors are the ones that expire last.
	if err := c.Check("slack", Signature{Key: "9", Expires: now.Add(10 * time.Minute)}, []byte("forged"), now); !errors.Is(err, ErrReplay) {
		t.Fatalf("latest signature forgotten: %v", err)
	}
}

func BenchmarkReplayCacheCheck(b *testing.B) {
	c := NewReplayCache(DefaultReplayCacheEntries)
	body := []byte(`{"msgId":"m","text":{"content":"hello"}}`)
	for i := 0; b.Loop(); i++ {
		sig := Signature{Key: fmt.Sprint(i), Expires: now.Add(time.Hour)}
		if err := c.Check("dingtalk", sig, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDingTalkSignWindowAndSignature(t *testing.T) {
	const secret = "SECd0a8f3c2b1e4"
	body := loadSourceFixture(t, "dingtalk", "text_group.json")
	ts := strconv.FormatInt(now.Add(-10*time.Minute).UnixMilli(), 10)
	h := http.Header{}
	h.Set("timestamp", ts)
	h.Set("sign", dingTalkSign(ts, secret))
	res, err := DingTalk{AppSecret: secret}.Decode(Request{Header: h, Body: body, Now: now, Limits: sourceLimits})
	if err != nil || res.Signature == nil {
		t.Fatalf("default window (an hour): %v, signature %v", err, res.Signature)
	}
	if want := now.Add(-10 * time.Minute).Add(DingTalkSignWindow); !res.Signature.Expires.Equal(want) {
		t.Fatalf("signature expires %v, want %v (timestamp + window)", res.Signature.Expires, want)
	}
	_, err = DingTalk{AppSecret: secret, SignWindow: 5 * time.Minute}.Decode(Request{Header: h, Body: body, Now: now, Limits: sourceLimits})
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("10-minute-old timestamp with a 5-minute window: %v, want ErrSignature", err)
	}
	if res, _ := (DingTalk{}).Decode(Request{Body: body, Now: now, Limits: sourceLimits}); res.Signature != nil {
		t.Fatal("an unsigned source reports a signature")
	}
}

// TestSignedSourcesReportTheirSignature: every source that checks a
// signature hands it to the replay cache, expiring with its window.
func TestSignedSourcesReportTheirSignature(t *testing.T) {
	slackBody := slackFixture(t, "message.json")
	res, err := Slack{SigningSecret: slackTestSecret}.Decode(slackRequest(slackBody))
	if err != nil || res.Signature == nil || !res.Signature.Expires.Equal(time.Unix(slackNow.Unix(), 0).Add(slackSignatureWindow)) {
		t.Fatalf("slack: %v, signature %+v", err, res.Signature)
	}
	const zoomSecret = "Wh5ec_r3tT0ken"
	zoomBody := loadSourceFixture(t, "zoom", "url_validation.json")
	res, err = Zoom{SecretToken: zoomSecret}.Decode(Request{Header: zoomHeader(zoomSecret, now, zoomBody), Body: zoomBody, Now: now})
	if err != nil || res.Signature == nil || !res.Signature.Expires.Equal(now.Add(zoomSignWindow)) {
		t.Fatalf("zoom: %v, signature %+v", err, res.Signature)
	}
	if res, _ := (Zoom{}).Decode(Request{Body: zoomBody, Now: now}); res.Signature != nil {
		t.Fatal("zoom without a secret reports a signature")
	}
}
