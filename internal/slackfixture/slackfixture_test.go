package slackfixture

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// data is a small file in the shape of ../shared/data/slack-disentangled.
const data = `<slack>
  <team_domain>acme</team_domain>
  <channel_name>general</channel_name>
  <message conversation_id="1">
    <ts>2019-01-01T23:59:59.500000</ts>
    <user>Zoe</user>
    <text>&lt;@Adam&gt; see &lt;https://x.test&gt; -&amp;gt; ok</text>
  </message>
  <message conversation_id="1">
    <ts>2019-01-02T00:00:01.000001</ts>
    <user>Adam</user>
    <text>thanks</text>
  </message>
  <message conversation_id="2">
    <ts>2019-01-02T08:00:00.000000</ts>
    <user>Zoe</user>
    <text>second</text>
  </message>
</slack>`

func buildSmall(t *testing.T) (string, Stats) {
	t.Helper()
	src := t.TempDir()
	xml := filepath.Join(src, "slack-disentangled", "acme", "2019", "merged-acme-general.xml")
	if err := os.MkdirAll(filepath.Dir(xml), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(xml, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := Build(dir, filepath.Join(src, "slack-disentangled"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func TestBuildLayout(t *testing.T) {
	dir, st := buildSmall(t)
	want := []Message{
		{Channel: "acme-general", ChannelID: "C00000001", User: "U00000002", UserName: "Zoe",
			Text: "<@Adam> see <https://x.test> -&gt; ok", TS: "1546387199.500000", File: "acme-general/2019-01-01.json", Index: 1},
		{Channel: "acme-general", ChannelID: "C00000001", User: "U00000001", UserName: "Adam",
			Text: "thanks", TS: "1546387201.000001", File: "acme-general/2019-01-02.json", Index: 1},
		{Channel: "acme-general", ChannelID: "C00000001", User: "U00000002", UserName: "Zoe",
			Text: "second", TS: "1546416000.000000", File: "acme-general/2019-01-02.json", Index: 2},
	}
	if st.Channels != 1 || st.Users != 2 || st.Files != 2 || !reflect.DeepEqual(st.Messages, want) {
		t.Fatalf("stats %+v\nwant messages %+v", st, want)
	}
	var day []map[string]string
	readJSON(t, filepath.Join(dir, "acme-general", "2019-01-02.json"), &day)
	if len(day) != 2 || day[1]["type"] != "message" || day[1]["user"] != "U00000002" || day[1]["ts"] != "1546416000.000000" || day[1]["text"] != "second" {
		t.Fatalf("day file %+v", day)
	}
	var chans []struct {
		ID, Name string
		Members  []string
	}
	readJSON(t, filepath.Join(dir, "channels.json"), &chans)
	if len(chans) != 1 || chans[0].ID != "C00000001" || chans[0].Name != "acme-general" || !reflect.DeepEqual(chans[0].Members, []string{"U00000001", "U00000002"}) {
		t.Fatalf("channels.json %+v", chans)
	}
	var users []struct {
		ID      string `json:"id"`
		TeamID  string `json:"team_id"`
		Profile struct {
			DisplayName string `json:"display_name"`
		} `json:"profile"`
	}
	readJSON(t, filepath.Join(dir, "users.json"), &users)
	if len(users) != 2 || users[1].ID != "U00000002" || users[1].TeamID != TeamID || users[1].Profile.DisplayName != "Zoe" {
		t.Fatalf("users.json %+v", users)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	a, sa := buildSmall(t)
	b, sb := buildSmall(t)
	if !reflect.DeepEqual(sa, sb) {
		t.Fatal("two builds gave different stats")
	}
	for _, f := range []string{"users.json", "channels.json", "acme-general/2019-01-01.json", "acme-general/2019-01-02.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || string(x) != string(y) {
			t.Fatalf("%s differs between builds", f)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
