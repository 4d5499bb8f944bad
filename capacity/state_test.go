package capacity

import (
	"testing"
	"time"
)

func TestStates(t *testing.T) {
	m, clk := newTestModel(t, Options{}, tpm("b", 1000, 0), ptu("a", 1000))
	pa, _ := m.Choose([]string{"a"}, 250)
	pb, _ := m.Choose([]string{"b"}, 100)
	m.Observe("b", 429, headers("retry-after", "3"), nil)
	m.ObserveFailure("a")
	got := m.States()
	want := []BackendState{
		{Name: "a", Tier: TierPTU, Utilization: 0.25, RemainingTokens: 750, RemainingRequests: -1,
			HealthUntil: epoch.Add(500 * time.Millisecond), Reserved: 250, InFlight: 1, Effective: 1},
		{Name: "b", Tier: TierTPM, Utilization: 0.1, RemainingTokens: 900, RemainingRequests: 999,
			CooldownUntil: epoch.Add(3 * time.Second), Healthy: true, Reserved: 100, InFlight: 1, Effective: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("States = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("States[%d] = %+v\nwant %+v", i, got[i], want[i])
		}
	}
	pa.Reservation.Settle(250)
	pb.Reservation.Settle(100)
	clk.Advance(time.Minute)
	for _, s := range m.States() {
		if s.Utilization != 0 || s.RemainingTokens != 1000 || !s.Healthy || s.Reserved != 0 {
			t.Errorf("a minute later: %+v", s)
		}
	}
}
