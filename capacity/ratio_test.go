package capacity

import (
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

func TestOutputRatio(t *testing.T) {
	ptu := BackendSpec{Name: "ptu", Tier: TierPTU, CapacityTPM: 10_000, OutputRatio: 4}.WithDefaults()
	tpm := BackendSpec{Name: "tpm", Tier: TierTPM, TPM: 10_000, OutputRatio: 4}.WithDefaults()
	tests := []struct {
		name         string
		spec         BackendSpec
		cost, output int64
		u            Usage
		wantCost     int64
		wantActual   int64
	}{
		// The reference's example: 500 prompt + 200 output on a gpt-4o PTU is 1,300.
		{"ptu weighs output", ptu, 700, 200, Usage{Prompt: 500, Output: 200}, 1300, 1300},
		{"ptu deducts cached prompt", ptu, 700, 200, Usage{Prompt: 500, Cached: 300, Output: 200}, 1300, 1000},
		{"ptu, no output share", ptu, 700, 0, Usage{Prompt: 700}, 700, 700},
		{"tpm counts tokens as they are", tpm, 700, 200, Usage{Prompt: 500, Cached: 300, Output: 200}, 700, 700},
		{"ratio 0 is 1", BackendSpec{Tier: TierPTU, CapacityTPM: 1}.WithDefaults(), 700, 200, Usage{Prompt: 500, Output: 200}, 700, 700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.spec.Cost(tc.cost, tc.output); got != tc.wantCost {
				t.Errorf("Cost = %d, want %d", got, tc.wantCost)
			}
			if got := tc.spec.Normalized(tc.u); got != tc.wantActual {
				t.Errorf("Normalized = %d, want %d", got, tc.wantActual)
			}
		})
	}
}

// TestPTUChargesNormalizedTokens: a PTU of 10,000 takes a request of 2,000
// prompt + 2,000 output (10,000 normalized at ratio 4), not a second one;
// settling it with its real usage leaves the bucket at its normalized cost.
func TestPTUChargesNormalizedTokens(t *testing.T) {
	clk := capacitytest.NewFakeClock(time.Unix(1000, 0))
	m := New(clk, Options{})
	m.SetBackends([]BackendSpec{
		{Name: "ptu", Tier: TierPTU, CapacityTPM: 10_000, OutputRatio: 4},
		{Name: "tpm", Tier: TierTPM, TPM: 100_000},
	})
	names := []string{"ptu", "tpm"}
	p, ok := m.ChooseFor(Ask{Candidates: names, Cost: 4000, Output: 2000})
	if !ok || p.Order[0] != "ptu" {
		t.Fatalf("first: %v", p.Order)
	}
	if q, _ := m.ChooseFor(Ask{Candidates: names, Cost: 400, Output: 200}); q.Order[0] != "tpm" {
		t.Fatalf("second went to %v: the PTU holds 10,000 normalized tokens already", q.Order)
	}
	p.Reservation.SettleUsage(Usage{Prompt: 2000, Cached: 1000, Output: 500})
	if st := m.States()[0]; st.Utilization != 0.3 {
		t.Fatalf("after settling: utilization %v, want 0.3 ((2,000 - 1,000) + 4 × 500 of 10,000)", st.Utilization)
	}
}
