package tlsreload_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/tlsreload"
	"github.com/spillway-gw/spillway/tlsreload/tlsreloadtest"
)

// write replaces a file the way rotation tools do: a new file renamed over
// the old one. The modification time is set apart from the previous
// version's, as it would be on a real rotation.
func write(t *testing.T, path string, data []byte, mod time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serve accepts TLS connections on loopback and completes each handshake.
func serve(t *testing.T, c *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if err := conn.(*tls.Conn).Handshake(); err != nil {
					return
				}
				_, _ = io.WriteString(conn, "ok")
			}()
		}
	}()
	return ln.Addr().String()
}

// dial completes a handshake and a read, and returns the serial of the
// server's certificate.
func dial(addr string, c *tls.Config) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// TLS 1.3 reports a refused client certificate on the first read.
	if _, err := io.ReadAll(conn); err != nil {
		return "", err
	}
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestServerMutualTLSAndRotation(t *testing.T) {
	dir := t.TempDir()
	ca := tlsreloadtest.NewCA(t, "spillway test CA")
	files := tlsreload.Files{
		CertFile:     filepath.Join(dir, "tls.crt"),
		KeyFile:      filepath.Join(dir, "tls.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt"),
	}
	t0 := time.Now().Add(-time.Hour)
	first := ca.Server(t, "127.0.0.1", "spillway")
	write(t, files.CertFile, first.CertPEM, t0)
	write(t, files.KeyFile, first.KeyPEM, t0)
	write(t, files.ClientCAFile, ca.PEM, t0)

	srv, err := tlsreload.New(files, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv.Config())
	client := ca.Client(t, "envoy")
	pair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: ca.Pool(), ServerName: "spillway", Certificates: []tls.Certificate{pair}}
	noCert := &tls.Config{RootCAs: ca.Pool(), ServerName: "spillway"}
	otherCA := tlsreloadtest.NewCA(t, "someone else")
	stranger := otherCA.Client(t, "envoy")
	strangerPair, err := tls.X509KeyPair(stranger.CertPEM, stranger.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withStranger := &tls.Config{RootCAs: ca.Pool(), ServerName: "spillway", Certificates: []tls.Certificate{strangerPair}}

	t.Run("client with a certificate from the CA", func(t *testing.T) {
		got, err := dial(addr, withCert)
		if err != nil {
			t.Fatal(err)
		}
		if got != first.Serial.String() {
			t.Errorf("served serial %s, want %s", got, first.Serial)
		}
	})
	t.Run("client without a certificate is refused", func(t *testing.T) {
		if _, err := dial(addr, noCert); err == nil {
			t.Error("handshake without a client certificate succeeded")
		}
	})
	t.Run("client with a certificate from another CA is refused", func(t *testing.T) {
		if _, err := dial(addr, withStranger); err == nil {
			t.Error("handshake with a foreign client certificate succeeded")
		}
	})
	t.Run("rotated certificate is served", func(t *testing.T) {
		second := ca.Server(t, "127.0.0.1", "spillway")
		t1 := t0.Add(time.Minute)
		write(t, files.CertFile, second.CertPEM, t1)
		// Certificate without its key yet: the old pair keeps serving.
		got, err := dial(addr, withCert)
		if err != nil {
			t.Fatal(err)
		}
		if got != first.Serial.String() {
			t.Errorf("half-rotated files: served serial %s, want the previous %s", got, first.Serial)
		}
		write(t, files.KeyFile, second.KeyPEM, t1)
		got, err = dial(addr, withCert)
		if err != nil {
			t.Fatal(err)
		}
		if got != second.Serial.String() {
			t.Errorf("after rotation: served serial %s, want %s", got, second.Serial)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlsreloadtest.NewCA(t, "ca")
	a, b := ca.Server(t, "a"), ca.Server(t, "b")
	put := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aCert, aKey, bKey := put("a.crt", a.CertPEM), put("a.key", a.KeyPEM), put("b.key", b.KeyPEM)
	notPEM := put("junk", []byte("not a certificate"))
	tests := []struct {
		name  string
		files tlsreload.Files
	}{
		{"missing certificate", tlsreload.Files{CertFile: filepath.Join(dir, "nope"), KeyFile: aKey}},
		{"key of another certificate", tlsreload.Files{CertFile: aCert, KeyFile: bKey}},
		{"client CA not PEM", tlsreload.Files{CertFile: aCert, KeyFile: aKey, ClientCAFile: notPEM}},
		{"client CA missing", tlsreload.Files{CertFile: aCert, KeyFile: aKey, ClientCAFile: filepath.Join(dir, "nope")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tlsreload.Load(tt.files); err == nil {
				t.Error("Load accepted bad files")
			}
		})
	}
	if _, err := tlsreload.Load(tlsreload.Files{CertFile: aCert, KeyFile: aKey}); err != nil {
		t.Errorf("good files: %v", err)
	}
}
