// Package tlsreload serves a TLS server's credentials from PEM files and
// picks up new ones when the files change, without a restart: certificates
// rotate (cert-manager, a CA's short-lived certificates) while connections
// keep flowing.
package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files are the PEM files of a TLS server. ClientCAFile is optional: when
// set, every client must present a certificate signed by one of its CAs.
type Files struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// Load reads and checks the files once: the certificate and key must
// match, and the client CA file (if any) must hold certificates.
func Load(f Files) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate and key: %w", err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA: %s holds no PEM certificate", f.ClientCAFile)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Server hands out the current TLS config for each new connection,
// reloading it first when one of the files changed since the last load.
// A change that does not load (a key written after its certificate, a
// half-written file) keeps the last good config and is retried on the next
// connection.
type Server struct {
	files Files
	log   *slog.Logger

	mu      sync.Mutex
	current *tls.Config
	stamps  []stamp
	failed  []stamp // the stamps of the last change that did not load, logged once
}

// stamp identifies one version of a file.
type stamp struct {
	mod  time.Time
	size int64
}

// New loads the files; it fails if they do not load now.
func New(f Files, log *slog.Logger) (*Server, error) {
	c, err := Load(f)
	if err != nil {
		return nil, err
	}
	return &Server{files: f, log: log, current: c, stamps: statAll(f)}, nil
}

// Config is the tls.Config to serve with: every handshake asks the Server
// for the current certificates.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.get(), nil },
	}
}

func (s *Server) get() *tls.Config {
	st := statAll(s.files)
	s.mu.Lock()
	defer s.mu.Unlock()
	if equal(st, s.stamps) || equal(st, s.failed) {
		return s.current
	}
	c, err := Load(s.files)
	if err != nil {
		s.failed = st
		s.log.Error("TLS files changed but do not load; serving the previous certificate",
			slog.String("cert_file", s.files.CertFile), slog.String("error", err.Error()))
		return s.current
	}
	s.current, s.stamps, s.failed = c, st, nil
	s.log.Info("TLS certificate reloaded", slog.String("cert_file", s.files.CertFile), slog.Time("not_after", c.Certificates[0].Leaf.NotAfter))
	return c
}

func statAll(f Files) []stamp {
	var out []stamp
	for _, p := range []string{f.CertFile, f.KeyFile, f.ClientCAFile} {
		if p == "" {
			continue
		}
		var st stamp
		if fi, err := os.Stat(p); err == nil {
			st = stamp{mod: fi.ModTime(), size: fi.Size()}
		} else if !errors.Is(err, os.ErrNotExist) {
			st.size = -1
		}
		out = append(out, st)
	}
	return out
}

func equal(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].mod.Equal(b[i].mod) || a[i].size != b[i].size {
			return false
		}
	}
	return true
}
