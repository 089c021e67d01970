package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestJoinChars(t *testing.T) {
	tests := []struct{ in, want string }{
		{"为 什 么 听 一 面 之 辞 就 相 信 ？", "为什么听一面之辞就相信？"},
		{"1 0 个 聊 天", "10个聊天"},
		{"c a l l 我", "call我"},
		{"真 的 瘦 了 . . . .", "真的瘦了...."},
		{"hello world 你 好", "hello world你好"},
		{"  多 余  空 格 ", "多余空格"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := joinChars(tt.in); got != tt.want {
			t.Errorf("joinChars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseIRCLine(t *testing.T) {
	tests := []struct {
		line, nick, text string
		ok               bool
	}{
		{"[09:19] <vinux> JHBuddy, well I need", "vinux", "JHBuddy, well I need", true},
		{"[02:07] <[noobuntu] > anyone familiar", "[noobuntu]", "anyone familiar", true},
		{"[12:00] <g[r] eek> hi", "g[r]eek", "hi", true},
		{"=== MorphDK [~morphdk@x.dk]  has joined #ubuntu", "", "", false},
		{"[10:00]  * mrglinux prefer go on debian", "", "", false},
		{"[05:12] -gfxtxoyrwa:#ubuntu- spam", "", "", false},
		{"[12:15] <opteron>", "", "", false},
		{"[24:00] <a> b", "", "", false},
		{"[-1:00] <a> b", "", "", false},
	}
	for _, tt := range tests {
		l, _, ok := parseIRCLine(tt.line)
		if ok != tt.ok || (ok && (l.nick != tt.nick || l.text != tt.text)) {
			t.Errorf("parseIRCLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, l.nick, l.text, ok, tt.nick, tt.text, tt.ok)
		}
	}
}

func TestIRCTimes(t *testing.T) {
	day := time.Date(2010, 3, 4, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h*60+m) * time.Minute) }
	tests := []struct {
		name  string
		lines []string
		want  []time.Time
	}{
		{"24-hour midnight", []string{"[23:58] <a> x", "=== b joined", "[23:59] <a> x", "[00:01] <a> y"},
			[]time.Time{at(23, 58), at(23, 58), at(23, 59), at(24, 1)}},
		{"12-hour wrap", []string{"[12:58] <a> x", "[01:02] <a> y", "[11:59] <a> z", "[12:00] <a> w"},
			[]time.Time{at(12, 58), at(13, 2), at(23, 59), at(24, 0)}},
		{"small step back is held", []string{"[10:05] <a> x", "[10:04] <a> y", "[10:06] <a> z"},
			[]time.Time{at(10, 5), at(10, 5), at(10, 6)}},
	}
	for _, tt := range tests {
		got := ircTimes(tt.lines, day, -1)
		for i := range got {
			if !got[i].Equal(tt.want[i]) {
				t.Errorf("%s: line %d at %v, want %v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestDir(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "shared", "data")
	deep := filepath.Join(root, "main", "internal", "corpus")
	for _, d := range []string{filepath.Join(data, "kdconv"), deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(deep)
	t.Setenv(EnvDir, "")
	got, err := Dir()
	if err != nil || !sameDir(t, got, data) {
		t.Fatalf("Dir from %s = %q, %v; want %q", deep, got, err, data)
	}
	t.Setenv(EnvDir, data)
	if got, err := Dir(); err != nil || !sameDir(t, got, data) {
		t.Fatalf("Dir with $%s = %q, %v; want %q", EnvDir, got, err, data)
	}
	t.Setenv(EnvDir, t.TempDir())
	if _, err := Dir(); !errors.Is(err, ErrNoData) {
		t.Fatalf("Dir with an empty $%s: %v, want ErrNoData", EnvDir, err)
	}
}

// sameDir compares directories through symbolic links (a temporary
// directory may be reached through one).
func sameDir(t *testing.T, a, b string) bool {
	t.Helper()
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	for _, s := range Sources() {
		if _, err := Load(empty, s, 1); !errors.Is(err, ErrNoData) {
			t.Errorf("Load(%s) from an empty directory: %v, want ErrNoData", s, err)
		}
	}
	if _, err := Load(empty, Source("mail"), 1); !errors.Is(err, ErrUnknownSource) {
		t.Errorf("Load(mail): %v, want ErrUnknownSource", err)
	}
	if _, err := Mixed(empty, 4); !errors.Is(err, ErrNoData) {
		t.Errorf("Mixed from an empty directory: %v, want ErrNoData", err)
	}
}
