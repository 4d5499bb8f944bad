package config

import (
	"path/filepath"

	"github.com/spillway-gw/spillway/tlsreload"
)

// ControlTLS is TLS on spillway's gRPC port (xDS and ext_proc), for an Envoy
// that reaches spillway over a network: prompts and routing decisions cross
// it. The files are PEM; they are read again when they change (rotation
// needs no restart). Their paths are read once, at start.
type ControlTLS struct {
	// CertFile and KeyFile are spillway's certificate (with its chain) and key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, turns on mutual TLS: Envoy must present a
	// certificate signed by one of these CAs (spillway envoy bootstrap
	// -control-cert/-control-key).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Files resolves the paths against dir, the config file's directory.
func (t *ControlTLS) Files(dir string) tlsreload.Files {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	return tlsreload.Files{CertFile: abs(t.CertFile), KeyFile: abs(t.KeyFile), ClientCAFile: abs(t.ClientCAFile)}
}

func (t *ControlTLS) validate(v *validator, dir string) {
	if t == nil {
		return
	}
	ok := true
	if t.CertFile == "" {
		v.add("control.tls.cert_file", "is required: the PEM certificate spillway serves on control.grpc_listen")
		ok = false
	}
	if t.KeyFile == "" {
		v.add("control.tls.key_file", "is required: the PEM private key of cert_file")
		ok = false
	}
	if !ok {
		return
	}
	if _, err := tlsreload.Load(t.Files(dir)); err != nil {
		v.add("control.tls", "%v", err)
	}
}
