package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	stateFile    = "state.json"
	stateVersion = 1
)

// state is the content of state.json.
type state struct {
	Version   int     `json:"version"`
	Watermark uint64  `json:"watermark"`
	Intent    *Intent `json:"intent,omitempty"`
}

// readState reads dir/state.json; a spool that never committed has none.
func readState(dir string) (state, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{Version: stateVersion, Watermark: 1}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("spool: read %s: %w", path, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("%s: %w: %w", path, ErrCorrupt, err)
	}
	switch {
	case st.Version != stateVersion:
		return state{}, fmt.Errorf("spool: %s: unsupported version %d", path, st.Version)
	case st.Watermark == 0:
		return state{}, fmt.Errorf("%s: watermark 0: %w", path, ErrCorrupt)
	case st.Intent != nil && (st.Intent.From >= st.Intent.To || st.Intent.From < st.Watermark):
		return state{}, fmt.Errorf("%s: intent [%d, %d) with watermark %d: %w",
			path, st.Intent.From, st.Intent.To, st.Watermark, ErrCorrupt)
	}
	return st, nil
}

// writeState replaces dir/state.json atomically and durably: temp file,
// fsync, rename, fsync of the directory.
func writeState(dir string, st state) error {
	st.Version = stateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("spool: encode state: %w", err)
	}
	path := filepath.Join(dir, stateFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: write %s: %w", tmp, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	return syncDir(dir)
}

// Commit durably records that every LSN below next is done, then deletes the
// files whose records all lie below it. Moving the watermark also clears the
// pending intent (which starts at the old watermark) in the same atomic
// write. The watermark never moves backwards, nor past LastLSN()+1;
// Commit(Watermark()) is a no-op.
func (s *Spool) Commit(next uint64) error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.mu.Lock()
	closed, wm, last := s.closed, s.watermark, s.lastLSN
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case next < wm:
		return fmt.Errorf("spool: commit %d: below watermark %d, which never moves backwards", next, wm)
	case next > last+1:
		return fmt.Errorf("spool: commit %d: beyond the last durable lsn %d", next, last)
	case next == wm:
		return nil
	}
	wmFile, wmOff, err := s.locate(next)
	if err != nil {
		return fmt.Errorf("spool: commit %d: %w", next, err)
	}
	// An intent starts at the watermark, so moving the watermark ends it.
	if err := writeState(s.dir, state{Watermark: next}); err != nil {
		return err
	}

	s.mu.Lock()
	s.watermark, s.intent = next, nil
	s.wmFile, s.wmOff = wmFile, wmOff
	var dead []*walFile
	for len(s.files) > 1 && s.files[0].first < wmFile {
		dead = append(dead, s.files[0])
		s.files = s.files[1:]
	}
	s.computeLive()
	s.mu.Unlock()

	// The watermark is durable; a file that fails to go now is deleted by
	// the next Open.
	s.retire(dead)
	return nil
}

// SetIntent durably records the range the uploader is about to upload.
// in.From must equal Watermark() and in.To must not pass LastLSN()+1.
func (s *Spool) SetIntent(in Intent) error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.mu.Lock()
	closed, wm, last := s.closed, s.watermark, s.lastLSN
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case in.From != wm:
		return fmt.Errorf("spool: intent [%d, %d): must start at the watermark %d", in.From, in.To, wm)
	case in.To <= in.From || in.To > last+1:
		return fmt.Errorf("spool: intent [%d, %d): must end after its start and at most at lsn %d", in.From, in.To, last+1)
	}
	if err := writeState(s.dir, state{Watermark: wm, Intent: &in}); err != nil {
		return err
	}
	s.mu.Lock()
	s.intent = &in
	s.mu.Unlock()
	return nil
}

// ClearIntent durably removes the pending intent, if any.
func (s *Spool) ClearIntent() error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.mu.Lock()
	closed, wm, intent := s.closed, s.watermark, s.intent
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if intent == nil {
		return nil
	}
	if err := writeState(s.dir, state{Watermark: wm}); err != nil {
		return err
	}
	s.mu.Lock()
	s.intent = nil
	s.mu.Unlock()
	return nil
}
