package extproc

import (
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/xds"
)

func TestBackendFromAttributes(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]*structpb.Struct
		want  string
	}{
		// The form Envoy 1.40 sends for an internal address.
		{"internal address", attrsWith("envoy://spillway_backend_ptu-eastus/"), "ptu-eastus"},
		{"as InternalAddress writes it", attrsWith(xds.InternalAddress("tpm-westus")), "tpm-westus"},
		{"no attribute", nil, ""},
		{"another listener", attrsWith("envoy://other/"), ""},
		{"a socket address", attrsWith("10.0.0.1:443"), ""},
		{"no name", attrsWith("envoy://spillway_backend_/"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backendFromAttributes(tt.attrs); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func attrsWith(addr string) map[string]*structpb.Struct {
	return map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
		xds.UpstreamAddressAttribute: structpb.NewStringValue(addr),
	}}}
}
