package spool_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast/holdfast/gateway/spool"
)

// fillSpool appends n records (in calls of up to three) and closes the spool.
func fillSpool(t *testing.T, dir string, opts spool.Options, n int) [][]byte {
	t.Helper()
	s, err := spool.Open(dir, opts, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for len(want) < n {
		var recs [][]byte
		for range min(3, n-len(want)) {
			recs = append(recs, payload(uint64(len(want)+len(recs)+1), 300))
		}
		mustAppend(t, s, recs...)
		want = append(want, recs...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// lastFile returns the path of the WAL file with the highest first LSN.
func lastFile(t *testing.T, dir string) string {
	t.Helper()
	files := walFiles(t, dir)
	return files[len(files)-1] // Glob sorts; names are zero-padded
}

func appendToFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestTornTailTruncatedOnReopen(t *testing.T) {
	rec := spool.AppendRecordFrame(nil, []byte("never acknowledged"))
	badCRC := bytes.Clone(rec)
	badCRC[len(badCRC)-1] ^= 0xff
	tails := map[string][]byte{
		"partial frame header":        rec[:5],
		"partial payload":             rec[:len(rec)-3],
		"record without commit frame": rec,
		"batch with bad crc":          spool.AppendCommitFrame(bytes.Clone(badCRC), 13, 13),
		"commit frame cut short":      spool.AppendCommitFrame(bytes.Clone(rec), 13, 13)[:len(rec)+10],
		"zeroed pages":                make([]byte, 8192),
		"garbage":                     payload(99, 5000),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := fillSpool(t, dir, spool.Options{}, 12)
			path := lastFile(t, dir)
			size := fileSize(t, path)
			appendToFile(t, path, tail)

			s := mustOpen(t, dir, spool.Options{})
			if s.LastLSN() != 12 {
				t.Fatalf("last lsn %d after torn tail, want 12", s.LastLSN())
			}
			if got := fileSize(t, path); got != size {
				t.Fatalf("file is %d bytes after recovery, want %d (truncated to the last batch)", got, size)
			}
			checkRecords(t, readAll(t, s, 1), 1, want)
			if first, _ := mustAppend(t, s, []byte("after recovery")); first != 13 {
				t.Fatalf("append after recovery: lsn %d, want 13", first)
			}
			s.Close()
			s = mustOpen(t, dir, spool.Options{})
			if s.LastLSN() != 13 {
				t.Fatalf("second reopen: last lsn %d, want 13", s.LastLSN())
			}
		})
	}
}

func TestTornNewFileRemovedOnReopen(t *testing.T) {
	for name, content := range map[string][]byte{
		"empty":          nil,
		"partial header": []byte("HFSPOOL\x00\x01"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := fillSpool(t, dir, spool.Options{}, 6)
			torn := filepath.Join(dir, spool.FileName(7))
			if err := os.WriteFile(torn, content, 0o640); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, dir, spool.Options{})
			checkRecords(t, readAll(t, s, 1), 1, want)
			if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("torn file still there: %v", err)
			}
			if first, _ := mustAppend(t, s, []byte("x")); first != 7 {
				t.Fatalf("append after recovery: lsn %d, want 7", first)
			}
		})
	}
}

func TestMidFileCorruptionIsAnError(t *testing.T) {
	// The first record's payload starts right after the file and frame headers.
	const recOff = spool.HeaderSize
	cases := map[string]struct {
		opts spool.Options
		file func(t *testing.T, dir string) string
		off  func(t *testing.T, path string) int64
	}{
		"last file, acknowledged batches follow": {
			file: lastFile,
			off:  func(*testing.T, string) int64 { return recOff + spool.FrameHeaderSize + 7 },
		},
		"earlier file, its last batch": {
			opts: spool.Options{FileBytes: 2048},
			file: func(t *testing.T, dir string) string { return walFiles(t, dir)[0] },
			off: func(t *testing.T, path string) int64 {
				return fileSize(t, path) - spool.CommitFrameSize - 5 // inside the last record
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fillSpool(t, dir, c.opts, 30)
			path := c.file(t, dir)
			flipByte(t, path, c.off(t, path))
			_, err := spool.Open(dir, c.opts, testLog(t))
			if !errors.Is(err, spool.ErrCorrupt) {
				t.Fatalf("open with corruption in %s: %v, want ErrCorrupt", filepath.Base(path), err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset ") {
				t.Fatalf("error %q does not name the file %s and offset", err, path)
			}
			t.Logf("open: %v", err)
		})
	}
}

func TestCorruptionFoundByRead(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, spool.Options{})
	mustAppend(t, s, []byte("first record"), []byte("second record"))
	path := lastFile(t, dir)
	second := int64(spool.HeaderSize + spool.FrameHeaderSize + len("first record"))
	flipByte(t, path, second+spool.FrameHeaderSize+2)
	_, err := s.Read(context.Background(), 1, 10, 0)
	if !errors.Is(err, spool.ErrCorrupt) {
		t.Fatalf("read of a corrupted record: %v, want ErrCorrupt", err)
	}
	if want := fmt.Sprintf("%s offset %d", path, second); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// crashChildEnv names the spool directory of the child process that
// TestCrashKeepsAcknowledgedRecords kills.
const crashChildEnv = "HOLDFAST_SPOOL_CRASH_DIR"

// TestCrashKeepsAcknowledgedRecords runs appenders in a child process, kills
// it with SIGKILL mid-stream (no Close, no deferred code), damages the tail
// as a torn write would, reopens the spool and checks that every record the
// child reported as acknowledged is there with the right content.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("crash test runs a child process")
	}
	dir := t.TempDir()
	opts := spool.Options{FileBytes: 256 << 10}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedRecords$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct{ first, last, g, c uint64 }
	var acks []ack
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &a.first, &a.last, &a.g, &a.c); err != nil {
			t.Fatalf("child said %q: %v", sc.Text(), err)
		}
		acks = append(acks, a)
		if len(acks) == 3000 && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true // keep reading what the child printed before it died
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks without being killed", len(acks))
	}
	// A power cut could also have left half a batch behind.
	appendToFile(t, lastFile(t, dir), spool.AppendRecordFrame(nil, []byte("torn"))[:9])

	s := mustOpen(t, dir, opts)
	for _, a := range acks {
		recs, err := s.Read(context.Background(), a.first, int(a.last-a.first+1), 0)
		if err != nil {
			t.Fatalf("acknowledged lsn %d..%d: %v", a.first, a.last, err)
		}
		for i, r := range recs {
			if want := crashRecord(a.g, a.c, i); !bytes.Equal(r.Data, want) {
				t.Fatalf("acknowledged lsn %d: %q, want %q", r.LSN, r.Data, want)
			}
		}
	}
	t.Logf("%d acknowledged calls intact after SIGKILL; last lsn %d", len(acks), s.LastLSN())
}

func crashRecord(g, c uint64, i int) []byte {
	return fmt.Appendf(bytes.Repeat([]byte{'.'}, 200), "goroutine %d call %d record %d", g, c, i)
}

// crashChild appends until killed, printing one line per acknowledged call.
func crashChild(dir string) {
	s, err := spool.Open(dir, spool.Options{FileBytes: 256 << 10}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range uint64(16) {
		wg.Go(func() {
			for c := uint64(0); ; c++ {
				var recs [][]byte
				for i := range 1 + int(c%4) {
					recs = append(recs, crashRecord(g, c, i))
				}
				first, last, err := s.Append(context.Background(), recs)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d %d\n", first, last, g, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Hour)
}
