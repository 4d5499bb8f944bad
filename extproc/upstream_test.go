package extproc

import (
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/xds"
)

func TestBackendFromAttributes(t *testing.T) {
	// The exact form Envoy 1.40 sends: the Metadata proto in text format.
	envoy140 := `filter_metadata { key: "spillway" value { fields { key: "backend" value { string_value: "ptu-eastus" } } } } `
	tests := []struct {
		name  string
		attrs map[string]*structpb.Struct
		want  string
	}{
		{"envoy 1.40 text proto", attrsWith(envoy140), "ptu-eastus"},
		{"no attribute", nil, ""},
		{"other namespace only", attrsWith(`filter_metadata { key: "envoy.lb" value { fields { key: "backend" value { string_value: "x" } } } }`), ""},
		{"garbage", attrsWith(`{{{`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c hostMetadataCache
			if got := c.backendFromAttributes(tt.attrs); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := c.backendFromAttributes(tt.attrs); got != tt.want { // cached
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func attrsWith(text string) map[string]*structpb.Struct {
	return map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {Fields: map[string]*structpb.Value{
		xds.UpstreamHostMetadataAttribute: structpb.NewStringValue(text),
	}}}
}
