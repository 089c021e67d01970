package main

import (
	"crypto/tls"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/holdfast/holdfast/config"
	"github.com/holdfast/holdfast/gateway"
	"github.com/holdfast/holdfast/gateway/smtpd"
	"github.com/holdfast/holdfast/journal"
)

// startSMTP starts the SMTP journaling listener when smtp.listen is set;
// nil otherwise.
func startSMTP(cfg config.Config, gw *gateway.Gateway, log *logrus.Entry) (*smtpd.Server, error) {
	c := cfg.SMTP
	if c.Listen == "" {
		return nil, nil
	}
	users := map[string]string{}
	for _, u := range c.Users {
		users[u.Name] = u.PasswordSHA256
	}
	sc := smtpd.Config{
		Listen: c.Listen, MaxBytes: int64(c.MaxBytes), Allow: c.Allow, Users: users, Tenant: c.Tenant, RequireAuth: c.RequireAuth,
		Limits: journal.Limits{MaxFieldBytes: int64(cfg.HTTP.MaxFieldBytes)}, Logger: log,
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("smtp.tls_cert: %w", err)
		}
		sc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := smtpd.New(sc, gw)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	log.WithField("addr", srv.Addr().String()).Info("SMTP journaling listener started")
	return srv, nil
}
