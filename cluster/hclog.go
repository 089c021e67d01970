package cluster

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

// raftLogger is an hclog.Logger that writes into a logrus entry with
// component=raft, so raft's logs come out in the daemon's format and level.
// logrus owns the level: SetLevel is ignored.
type raftLogger struct {
	entry   *logrus.Entry
	name    string
	implied []any
}

var _ hclog.Logger = (*raftLogger)(nil)

// newRaftLogger bridges raft's hclog into log.
func newRaftLogger(log *logrus.Entry) hclog.Logger {
	return &raftLogger{entry: log.WithField("component", "raft")}
}

// logrusLevel maps an hclog level; ok is false for Off.
func logrusLevel(l hclog.Level) (logrus.Level, bool) {
	switch l {
	case hclog.Trace:
		return logrus.TraceLevel, true
	case hclog.Debug:
		return logrus.DebugLevel, true
	case hclog.Warn:
		return logrus.WarnLevel, true
	case hclog.Error:
		return logrus.ErrorLevel, true
	case hclog.Off:
		return 0, false
	default: // NoLevel, Info
		return logrus.InfoLevel, true
	}
}

// Log logs msg with args as key/value fields.
func (l *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	lv, ok := logrusLevel(level)
	if !ok || !l.entry.Logger.IsLevelEnabled(lv) {
		return
	}
	e := l.entry
	if len(l.implied)+len(args) > 0 || l.name != "" {
		e = e.WithFields(fields(l.name, l.implied, args))
	}
	e.Log(lv, msg)
}

// fields turns hclog's alternating keys and values into logrus fields.
func fields(name string, implied, args []any) logrus.Fields {
	f := make(logrus.Fields, (len(implied)+len(args))/2+1)
	if name != "" {
		f["logger"] = name
	}
	for _, kv := range [][]any{implied, args} {
		for i := 0; i < len(kv); i += 2 {
			if i+1 == len(kv) {
				f["EXTRA_VALUE_AT_END"] = kv[i]
				break
			}
			key, ok := kv[i].(string)
			if !ok {
				key = fmt.Sprint(kv[i])
			}
			v := kv[i+1]
			if fm, ok := v.(hclog.Format); ok && len(fm) > 0 {
				v = fmt.Sprintf(fmt.Sprint(fm[0]), fm[1:]...)
			}
			f[key] = v
		}
	}
	return f
}

// Trace logs at trace level.
func (l *raftLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }

// Debug logs at debug level.
func (l *raftLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }

// Info logs at info level.
func (l *raftLogger) Info(msg string, args ...any) { l.Log(hclog.Info, msg, args...) }

// Warn logs at warn level.
func (l *raftLogger) Warn(msg string, args ...any) { l.Log(hclog.Warn, msg, args...) }

// Error logs at error level.
func (l *raftLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *raftLogger) enabled(lv logrus.Level) bool { return l.entry.Logger.IsLevelEnabled(lv) }

// IsTrace reports whether trace logs are written.
func (l *raftLogger) IsTrace() bool { return l.enabled(logrus.TraceLevel) }

// IsDebug reports whether debug logs are written.
func (l *raftLogger) IsDebug() bool { return l.enabled(logrus.DebugLevel) }

// IsInfo reports whether info logs are written.
func (l *raftLogger) IsInfo() bool { return l.enabled(logrus.InfoLevel) }

// IsWarn reports whether warnings are written.
func (l *raftLogger) IsWarn() bool { return l.enabled(logrus.WarnLevel) }

// IsError reports whether errors are written.
func (l *raftLogger) IsError() bool { return l.enabled(logrus.ErrorLevel) }

// ImpliedArgs returns the fields added by With.
func (l *raftLogger) ImpliedArgs() []any { return l.implied }

// With returns a logger that adds args to every line.
func (l *raftLogger) With(args ...any) hclog.Logger {
	c := *l
	c.implied = append(append([]any(nil), l.implied...), args...)
	return &c
}

// Name returns the logger's name.
func (l *raftLogger) Name() string { return l.name }

// Named returns a logger whose name has name appended.
func (l *raftLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.ResetNamed(name)
}

// ResetNamed returns a logger named name.
func (l *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

// SetLevel is ignored: the logrus logger's level applies.
func (l *raftLogger) SetLevel(hclog.Level) {}

// GetLevel returns the logrus logger's level in hclog's terms.
func (l *raftLogger) GetLevel() hclog.Level {
	switch l.entry.Logger.GetLevel() {
	case logrus.TraceLevel:
		return hclog.Trace
	case logrus.DebugLevel:
		return hclog.Debug
	case logrus.InfoLevel:
		return hclog.Info
	case logrus.WarnLevel:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

// StandardLogger returns a standard library logger writing into l.
func (l *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each line written to it.
func (l *raftLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{l: l, opts: *opts}
}

// stdWriter logs lines written by a standard library logger, taking the
// level from a "[WARN]" style prefix when asked to.
type stdWriter struct {
	l    *raftLogger
	opts hclog.StandardLoggerOptions
}

func (w *stdWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		msg := strings.TrimSpace(string(line))
		if msg == "" {
			continue
		}
		level := w.opts.ForceLevel
		if w.opts.InferLevels || w.opts.InferLevelsWithTimestamp {
			level, msg = inferLevel(msg, level)
		}
		w.l.Log(level, msg)
	}
	return len(p), nil
}

// inferLevel strips a level prefix such as "[ERR]" or "[WARN]" from msg.
func inferLevel(msg string, def hclog.Level) (hclog.Level, string) {
	for _, p := range levelPrefixes {
		if i := strings.Index(msg, p.prefix); i >= 0 {
			return p.level, strings.TrimSpace(msg[i+len(p.prefix):])
		}
	}
	return def, msg
}

var levelPrefixes = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
}
