package smtpd

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/journal"
)

// Replies that do not depend on the message.
var (
	errNotAllowed = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Client host not allowed to journal here"}
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	errFullReply = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 1},
		Message: "Archive is full, try again later"}
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Shutting down, try again later"}
	errTempReply = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Archive could not store the message, try again later"}
)

// session is one client's SMTP session (one per connection, renewed by
// STARTTLS).
type session struct {
	s       *Server
	conn    *conn
	log     *logrus.Entry
	allowed bool
	authed  bool
	from    string
	to      []string
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// newSession admits a client allowed by address, or one that can
// authenticate; anyone else is refused (550 5.7.1) at HELO.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	remote := remoteIP(c.Conn())
	log := s.log.WithField("remote", remote.String())
	allowed := s.isAllowed(remote)
	if !allowed && len(s.cfg.Users) == 0 {
		log.Warn("smtp client refused: not in the allow list")
		return nil, errNotAllowed
	}
	return &session{s: s, conn: trackedConn(c.Conn()), log: log, allowed: allowed}, nil
}

func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) isAllowed(ip netip.Addr) bool {
	for _, p := range s.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (ss *session) AuthMechanisms() []string {
	if len(ss.s.cfg.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || len(ss.s.cfg.Users) == 0 {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if (identity != "" && identity != user) || !ss.s.checkUser(user, password) {
			ss.log.WithField("user", user).Warn("smtp authentication failed")
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.log = ss.log.WithField("user", user)
		return nil
	}), nil
}

// checkUser compares the password's SHA-256 with the user's in constant
// time.
func (s *Server) checkUser(user, password string) bool {
	want, ok := s.cfg.Users[user]
	sum := sha256.Sum256([]byte(password))
	got := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(want))) == 1 && ok
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.allowed && !ss.authed {
		return errAuthRequired
	}
	if ss.s.draining.Load() {
		return errShuttingDown
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.allowed && !ss.authed {
		return errAuthRequired
	}
	ss.to = append(ss.to, to)
	return nil
}

// Data reads the message, parses it and hands it to the Acceptor: nil (a
// 250) only once the Acceptor has stored it.
func (ss *session) Data(r io.Reader) error {
	if ss.conn != nil {
		defer ss.conn.startMessage()()
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		ss.log.WithError(err).Warn("smtp message not received")
		return reply(err)
	}
	cfg := ss.s.cfg
	rec, err := journal.ParseEmail(raw, journal.EmailOptions{
		Tenant: cfg.Tenant, Limits: cfg.Limits, MaxBytes: cfg.MaxBytes, Now: cfg.Now(),
		EnvelopeFrom: ss.from, EnvelopeTo: ss.envelopeTo(), Domains: cfg.Domains,
	})
	if err != nil {
		ss.log.WithError(err).WithField("bytes", len(raw)).Warn("smtp message refused")
		return reply(err)
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, DefaultAcceptTimeout)
	defer cancel()
	if err := ss.s.acceptor.Accept(ctx, []journal.Record{rec}); err != nil {
		ss.log.WithError(err).WithField("bytes", len(raw)).Warn("smtp message not stored")
		return reply(err)
	}
	ss.log.WithField("bytes", len(raw)).WithField("recipients", len(rec.Message.To)).Debug("smtp message stored")
	return nil
}

// envelopeTo is the RCPT TO list without the journal's own mailboxes.
func (ss *session) envelopeTo() []string {
	out := make([]string, 0, len(ss.to))
	for _, a := range ss.to {
		if !ss.s.mailboxes[normalAddress(a)] {
			out = append(out, a)
		}
	}
	return out
}

func normalAddress(a string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// reply is the SMTP answer to a failed message.
func reply(err error) error {
	var se *smtp.SMTPError
	var je *journal.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrFull):
		return errFullReply
	case errors.As(err, &je) && je.Kind == journal.KindTooLarge:
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: printable(je.Error())}
	case errors.As(err, &je):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: printable(je.Error())}
	}
	return errTempReply
}

// printable keeps a reply text to one line of printable ASCII.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
