package extproc

import (
	"slices"
	"testing"

	"github.com/spillway-gw/spillway/config"
)

func TestConsumerPolicies(t *testing.T) {
	cfg := &config.Config{
		Consumers: []config.Consumer{
			{Name: "std"},
			{Name: "batch", Priority: config.PriorityBatch},
			{Name: "ptu-only", Spill: config.SpillNever},
			{Name: "eu", Regions: []string{"westeurope"}},
		},
		Models: []config.Model{{Name: "m", Encoding: "o200k_base", Backends: []config.Backend{
			{Name: "ptu-us", Kind: config.PTU, Region: "eastus", CapacityTPM: 1000},
			{Name: "tpm-eu", Kind: config.TPM, Region: "westeurope", TPM: 1000},
			{Name: "tpm-us", Kind: config.TPM, Region: "eastus", TPM: 1000},
		}}},
	}
	tbl, err := NewTable(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := tbl.models["m"]
	for _, tt := range []struct {
		consumer string
		headroom float64
		backends []string
	}{
		{"std", 0, []string{"ptu-us", "tpm-eu", "tpm-us"}},
		{"batch", config.DefaultBatchHeadroom, []string{"ptu-us", "tpm-eu", "tpm-us"}},
		{"ptu-only", 0, []string{"ptu-us"}},
		{"eu", 0, []string{"tpm-eu"}},
	} {
		t.Run(tt.consumer, func(t *testing.T) {
			p := tbl.policies[tt.consumer]
			var h float64
			if p != nil {
				h = p.headroom
			}
			view := p.modelFor(m)
			if h != tt.headroom || !slices.Equal(view.names, tt.backends) || len(view.Order) != len(tt.backends) {
				t.Fatalf("headroom %v, backends %v; want %v, %v", h, view.names, tt.headroom, tt.backends)
			}
		})
	}
	if len(m.names) != 3 {
		t.Fatalf("a consumer's view changed the model: %v", m.names)
	}
}
