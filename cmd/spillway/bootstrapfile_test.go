package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestEnvoyBootstrapToFile: -o writes the same bootstrap as stdout gets
// (the Helm chart's init container has no shell to redirect with).
func TestEnvoyBootstrapToFile(t *testing.T) {
	args := []string{"envoy", "bootstrap", "-control", "127.0.0.1:18000", "-admin", "127.0.0.1:9901", "-node", "n1"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	var none bytes.Buffer
	if err := run(context.Background(), append(args, "-o", path), &none, &stderr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, stdout.Bytes()) || none.Len() != 0 || !bytes.Contains(b, []byte("n1")) {
		t.Errorf("file %q (err %v), stdout %q; want the bootstrap in the file only", b, err, none.String())
	}
}
