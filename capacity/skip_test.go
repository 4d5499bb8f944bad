package capacity

import (
	"net/http"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

func TestFirstSkipped(t *testing.T) {
	specs := []BackendSpec{
		{Name: "ptu", Tier: TierPTU, CapacityTPM: 1000},
		{Name: "tpm", Tier: TierTPM, TPM: 100_000},
	}
	names := []string{"ptu", "tpm"}
	tests := []struct {
		name   string
		before func(m *Model)
		cost   int
		want   Skip
	}{
		{"listed", func(*Model) {}, 100, ""},
		{"no room", func(*Model) {}, 900 + 200, SkipFull},
		{"unhealthy", func(m *Model) { m.ObserveFailure("ptu") }, 100, SkipUnhealthy},
		{"server error", func(m *Model) { m.Observe("ptu", 503, nil, nil) }, 100, SkipUnhealthy},
		{"throttled", func(m *Model) { m.Observe("ptu", 429, http.Header{"Retry-After": {"5"}}.Get, nil) }, 100, SkipThrottled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := capacitytest.NewFakeClock(time.Unix(1000, 0))
			m := New(clk, Options{})
			m.SetBackends(specs)
			p, _ := m.Choose(names, 900) // fill most of the PTU
			p.Reservation.Release()
			tc.before(m)
			if tc.cost > 1000 {
				p, _ := m.Choose(names, 995) // less than 1 % left
				defer p.Reservation.Release()
				tc.cost = 200
			}
			got, ok := m.Choose(names, tc.cost)
			if !ok {
				t.Fatal("nothing chosen: the tpm backend has room")
			}
			if got.FirstSkipped != tc.want {
				t.Errorf("FirstSkipped = %q, want %q (order %v)", got.FirstSkipped, tc.want, got.Order)
			}
		})
	}
}
