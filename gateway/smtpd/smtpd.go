package smtpd

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/journal"
)

// Defaults of the listener.
const (
	// DefaultMaxBytes bounds one message, as journal imports do.
	DefaultMaxBytes = journal.DefaultMaxEmailBytes
	// DefaultMaxRecipients bounds the RCPT TO of one message.
	DefaultMaxRecipients = 1000
	// DefaultReadTimeout is how long a client may stay silent (RFC 5321
	// section 4.5.3.2 asks for at least five minutes).
	DefaultReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout bounds one reply.
	DefaultWriteTimeout = time.Minute
	// DefaultAcceptTimeout bounds how long a message waits for the
	// Acceptor before the client is told to retry (451).
	DefaultAcceptTimeout = 2 * time.Minute
)

// Errors of the listener.
var (
	// ErrFull is what an Acceptor's error wraps when the archive cannot
	// take mail now (the spool is full): the client is answered 451 4.3.1
	// and retries later.
	ErrFull = errors.New("smtpd: archive cannot take mail now")
	// ErrConfig is wrapped by New's errors: a Config field is invalid.
	ErrConfig = errors.New("smtpd: invalid config")
)

// loopback is who may deliver when a Config allows nobody.
var loopback = []string{"127.0.0.0/8", "::1/128"}

// Acceptor makes journaled records durable: Accept returns nil only once
// they are (the client is then answered 250). An error wrapping ErrFull
// means "later"; a *journal.Error means the message itself is refused.
type Acceptor interface {
	Accept(ctx context.Context, recs []journal.Record) error
}

// Config is the listener's typed configuration.
type Config struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:2525".
	Listen string
	// MaxBytes bounds one message (0: DefaultMaxBytes).
	MaxBytes int64
	// Allow are the client addresses (IPs or CIDRs) that may deliver
	// without AUTH. When both Allow and Users are empty, only loopback
	// clients may deliver.
	Allow []string
	// Users may deliver from anywhere after AUTH PLAIN, which is only
	// offered over TLS (STARTTLS): user name to the hex SHA-256 of the
	// password, the way holdfast keeps HTTP tokens.
	Users map[string]string
	// TLSConfig, when set, offers STARTTLS; Users need it.
	TLSConfig *tls.Config
	// Tenant is the tenant journaled mail is archived under.
	Tenant string
	// RequireAuth refuses delivery without AUTH from every address:
	// without it, a Config with neither Allow nor Users lets loopback
	// clients deliver unauthenticated (the single-machine default). With
	// it Users must be set and Allow empty.
	RequireAuth bool
	// Hostname is the name the server greets with (empty: the host's).
	Hostname string
	// Limits bound each record's fields (journal.Limits).
	Limits journal.Limits
	// Domains are the organisation's mail domains: participants outside
	// them are marked external.
	Domains []string
	// Mailboxes are the journaling addresses this listener receives for
	// (journal@archive.example): a RCPT TO naming one of them is the
	// journal, not a recipient of the message.
	Mailboxes []string
	// Logger receives the listener's events; nil: logrus's standard
	// logger.
	Logger *logrus.Entry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is a running (or startable) SMTP journaling listener.
type Server struct {
	cfg       Config
	acceptor  Acceptor
	allow     []netip.Prefix
	mailboxes map[string]bool
	log       *logrus.Entry
	smtp      *smtp.Server

	// ctx is the context of every Accept; cancelled when Shutdown gives
	// up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	started   atomic.Bool
	ln        *listener
	serveDone chan struct{}
	stopOnce  sync.Once
	stopErr   error

	// draining is set by Shutdown: idle connections are closed, busy ones
	// finish their message first.
	draining atomic.Bool
	mu       sync.Mutex
	conns    map[*conn]struct{}
}

// New checks cfg and returns a Server that listens once started.
func New(cfg Config, acceptor Acceptor) (*Server, error) {
	if acceptor == nil {
		return nil, fmt.Errorf("%w: no acceptor", ErrConfig)
	}
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	allow := cfg.Allow
	switch {
	case cfg.RequireAuth && len(cfg.Users) == 0:
		return nil, fmt.Errorf("%w: require_auth without users: nobody could deliver", ErrConfig)
	case cfg.RequireAuth && len(allow) > 0:
		return nil, fmt.Errorf("%w: require_auth with an allow list: delivery without AUTH is refused", ErrConfig)
	case len(allow) == 0 && len(cfg.Users) == 0:
		allow = loopback
	}
	prefixes, err := parseAllow(allow)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, acceptor: acceptor, allow: prefixes, log: cfg.Logger,
		mailboxes: map[string]bool{}, conns: map[*conn]struct{}{}, serveDone: make(chan struct{})}
	for _, m := range cfg.Mailboxes {
		s.mailboxes[normalAddress(m)] = true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = DefaultMaxRecipients
	srv.ReadTimeout, srv.WriteTimeout = DefaultReadTimeout, DefaultWriteTimeout
	srv.TLSConfig = cfg.TLSConfig
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = cfg.Logger
	s.smtp = srv
	return s, nil
}

// normalize fills cfg's defaults and checks its fields.
func normalize(cfg *Config) error {
	if strings.TrimSpace(cfg.Listen) == "" {
		return fmt.Errorf("%w: listen address is empty", ErrConfig)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if len(cfg.Users) > 0 && cfg.TLSConfig == nil {
		return fmt.Errorf("%w: users need TLS (AUTH PLAIN would send their passwords in clear)", ErrConfig)
	}
	for name, sum := range cfg.Users {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: user %q: password must be given as its hex SHA-256", ErrConfig, name)
		}
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.NewEntry(logrus.StandardLogger())
	}
	cfg.Logger = cfg.Logger.WithField("component", "smtpd")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

func parseAllow(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, a := range list {
		a = strings.TrimSpace(a)
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("%w: allow entry %q is neither an IP address nor a CIDR", ErrConfig, a)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// Start listens on Config.Listen and serves in the background until
// Shutdown.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("smtpd: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		close(s.serveDone)
		return fmt.Errorf("smtpd: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = &listener{Listener: ln, s: s}
	go func() {
		defer close(s.serveDone)
		if err := s.smtp.Serve(s.ln); err != nil {
			s.log.WithError(err).Error("smtp listener stopped")
		}
	}()
	s.log.WithField("addr", ln.Addr().String()).Info("smtp listening")
	return nil
}

// Addr is the address the server listens on, nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops listening, closes idle connections and lets a message
// being received finish (its client gets its answer) until ctx ends; then
// it cuts the remaining connections (their clients retry: nothing was
// answered 250 that is not stored) and cancels pending Accepts. It returns
// once every goroutine of the server has ended: nil, or ctx's error when
// it had to cut. Calling it again returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	defer s.cancel()
	if s.started.CompareAndSwap(false, true) {
		// Never started, and now it never will be.
		close(s.serveDone)
		return nil
	}
	if s.ln == nil {
		return nil // Start failed to listen
	}
	s.draining.Store(true)
	s.wakeIdle()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Closes the listener and waits for every connection to end.
		if err := s.smtp.Shutdown(context.Background()); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.WithError(err).Warn("smtp shutdown")
		}
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		s.closeAll()
		<-done
	}
	<-s.serveDone
	s.log.Info("smtp stopped")
	return err
}
