//go:build vtprotobuf

package grpccodec

import "testing"

// make test builds with -tags vtprotobuf: the generated code must be there,
// or the codec silently falls back to reflection.
func TestGeneratedCodeCompiledIn(t *testing.T) {
	if !Generated() {
		t.Fatal("built with -tags vtprotobuf, but ext_proc replies have no generated marshalling code")
	}
}
