// Package smtpd is holdfast's SMTP journaling listener. Mail servers
// journal to it: Exchange sends envelope journal reports, other servers
// BCC (or envelope) journaling copies. Each message is parsed by
// journal.ParseEmail and handed to an Acceptor, the gateway, and the client
// is answered 250 only once the Acceptor has made it durable (the spool's
// fsync): like a mail server, holdfast takes responsibility for a message
// only when it cannot lose it.
//
// Replies: 250 stored; 451 4.3.1 the archive is full (the Acceptor's error
// wraps ErrFull) and 451 4.3.0 any other failure to store, both retried by
// the client; 552 5.3.4 larger than Config.MaxBytes; 554 5.6.0 a message
// whose MIME cannot be read, with the parser's reason; 550 5.7.1 a client
// neither allowed by address nor able to authenticate; 530 5.7.0 MAIL
// before AUTH from a client that must authenticate.
package smtpd
