package e2e

import (
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/archive"
	"github.com/holdfast/holdfast/internal/slackfixture"
)

// TestImportSlackExport: the Slack data of ../shared/data, laid out as a
// real Slack workspace export, is imported with `holdfast import slack`:
// every message is archived once and is found by its user and its words;
// importing again archives nothing new.
func TestImportSlackExport(t *testing.T) {
	s3 := sharedMinIO(t)
	export := t.TempDir()
	stats, err := slackfixture.Build(export, filepath.Join(repoRoot(t), "..", "shared", "data"))
	if errors.Is(err, slackfixture.ErrNoData) {
		t.Skip("no ../shared/data")
	}
	if err != nil {
		t.Fatal(err)
	}
	bucket := "e2e-import-" + randomSuffix()
	d := newDaemon(t, s3, bucket, "")
	d.start()
	run := func() string {
		cmd := exec.Command(holdfastBin(t), "import", "-server", d.url, "-token", adminToken, "-tenant", "slackco", "-restart", "slack", export)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("holdfast import: %v\n%s", err, tail(string(out), 3000))
		}
		return string(out)
	}
	out := run()
	want := len(stats.Messages)
	if !strings.Contains(out, "rejected") || strings.Contains(out, "  rejected ") {
		t.Logf("import output:\n%s", tail(out, 2000))
	}
	d.waitDrained(2 * 60e9)
	counts, _ := bucketRecords(t, minioClient(t, s3), bucket)
	slack := 0
	for _, n := range counts {
		if n != 1 {
			t.Fatalf("a message version is stored %d times", n)
		}
	}
	slack = len(counts)
	if slack < want {
		t.Fatalf("%d message versions in the bucket, want at least the %d messages of the export", slack, want)
	}
	// Again (before any search, whose audit records are archived too):
	// nothing new is archived.
	out = run()
	if !strings.Contains(out, "already archived") {
		t.Fatalf("second import output:\n%s", tail(out, 1000))
	}
	d.waitDrained(60e9)
	again, _ := bucketRecords(t, minioClient(t, s3), bucket)
	if len(again) != len(counts) {
		t.Fatalf("the second import archived %d new message versions", len(again)-len(counts))
	}
	// By user and by text: a sample of the export's messages, each found
	// among its sender's messages and by a word of its text.
	for i := 0; i < want; i += want / 7 {
		m := stats.Messages[i]
		id := archive.MessageID("slackco", "slack", m.ChannelID+":"+m.TS)
		found := d.search(t, url.Values{"sender": {m.User}, "consistency": {"strong"}})
		if !contains(found, id+"/0") {
			t.Fatalf("message %d (%s by %s) not found by its user", i, m.TS, m.User)
		}
		word := longestWord(m.Text)
		if word == "" {
			continue
		}
		if found := d.search(t, url.Values{"q": {word}, "sender": {m.User}}); !contains(found, id+"/0") {
			t.Fatalf("message %d not found by the word %q of %q", i, word, m.Text)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// longestWord is the longest plain word of text, a good search term.
func longestWord(text string) string {
	best := ""
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		if len(w) > len(best) && len(w) < 20 {
			best = w
		}
	}
	return best
}
