package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestEnvoyBootstrapFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		exit     int      // 0: success
		contains []string // in stdout on success, stderr otherwise
	}{
		{"one replica", []string{"-control", "127.0.0.1:18000"}, 0,
			[]string{"port_value: 18000", "grpc_health_check", "outlier_detection"}},
		{"several replicas", []string{"-control", "10.0.0.1:18000, 10.0.0.2:18001"}, 0,
			[]string{"address: 10.0.0.1", "address: 10.0.0.2", "port_value: 18001"}},
		{"mutual tls", []string{"-control", "spillway:18000", "-control-ca", "/tls/ca.crt", "-control-cert", "/tls/e.crt", "-control-key", "/tls/e.key"}, 0,
			[]string{"envoy.transport_sockets.tls", "filename: /tls/ca.crt", "filename: /tls/e.crt", "sni: spillway"}},
		{"client certificate without a CA", []string{"-control-cert", "/tls/e.crt", "-control-key", "/tls/e.key"}, 2,
			[]string{"need -control-ca"}},
		{"certificate without its key", []string{"-control-ca", "/tls/ca.crt", "-control-cert", "/tls/e.crt"}, 1,
			[]string{"both its certificate and key"}},
		{"no address", []string{"-control", " , "}, 1, []string{"at least one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"envoy", "bootstrap"}, tt.args...), &stdout, &stderr)
			out := stdout.String()
			switch {
			case tt.exit == 0 && err != nil:
				t.Fatalf("error %v; stderr: %s", err, stderr.String())
			case tt.exit == 2:
				var code exitCode
				if !errors.As(err, &code) || int(code) != 2 {
					t.Fatalf("err = %v, want exit status 2", err)
				}
				out = stderr.String()
			case tt.exit == 1:
				if err == nil {
					t.Fatal("no error")
				}
				out = err.Error()
			}
			for _, c := range tt.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
}
