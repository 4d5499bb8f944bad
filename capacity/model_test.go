package capacity

import (
	"sync"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

// The fake clock must drive Wait's timers, not fall back to real ones.
var _ TimerClock = (*capacitytest.FakeClock)(nil)

var epoch = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

func newTestModel(t testing.TB, opts Options, specs ...BackendSpec) (*Model, *capacitytest.FakeClock) {
	t.Helper()
	clk := capacitytest.NewFakeClock(epoch)
	m := New(clk, opts)
	m.SetBackends(specs)
	return m, clk
}

func ptu(name string, capacity int) BackendSpec {
	return BackendSpec{Name: name, Tier: TierPTU, CapacityTPM: capacity}
}

func tpm(name string, tpmLimit, priority int) BackendSpec {
	return BackendSpec{Name: name, Tier: TierTPM, TPM: tpmLimit, RPM: 6000, Priority: priority}
}

func state(t *testing.T, m *Model, name string) BackendState {
	t.Helper()
	for _, s := range m.States() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no backend %q", name)
	return BackendState{}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := Options{MaxCooldown: 60 * time.Second, DefaultCooldown: time.Second,
		HealthBase: 500 * time.Millisecond, HealthMax: 30 * time.Second, MaxWait: time.Second}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	kept := Options{MaxCooldown: time.Second, DefaultCooldown: 2, HealthBase: 3, HealthMax: 4, MaxWait: 5}
	if got := kept.withDefaults(); got != kept {
		t.Errorf("set options changed: %+v", got)
	}
}

func TestSetBackends(t *testing.T) {
	m, clk := newTestModel(t, Options{}, tpm("a", 1000, 0), tpm("b", 1000, 0), ptu("p", 1000))
	for _, name := range []string{"a", "b", "p"} {
		p, ok := m.Choose([]string{name}, 400)
		if !ok {
			t.Fatalf("choose %s: no room", name)
		}
		p.Reservation.Settle(400)
	}
	m.Observe("a", 429, nil, nil)
	clk.Advance(time.Millisecond) // the PTU drains a little

	changed := tpm("b", 2000, 0)
	m.SetBackends([]BackendSpec{tpm("a", 1000, 0), changed, ptu("p", 1000), tpm("c", 1000, 0), {Name: "bad", Tier: "x"}, tpm("a", 5, 0)})

	t.Run("unchanged keeps state", func(t *testing.T) {
		s := state(t, m, "a")
		if s.RemainingTokens != 600 || s.CooldownUntil.IsZero() {
			t.Errorf("a = %+v, want 600 remaining and a cooldown", s)
		}
		if s := state(t, m, "p"); s.RemainingTokens < 600 || s.RemainingTokens > 601 {
			t.Errorf("p remaining = %d, want about 600", s.RemainingTokens)
		}
	})
	t.Run("changed starts afresh", func(t *testing.T) {
		if s := state(t, m, "b"); s.RemainingTokens != 2000 {
			t.Errorf("b remaining = %d, want 2000", s.RemainingTokens)
		}
	})
	t.Run("added, invalid and duplicate", func(t *testing.T) {
		var names []string
		for _, s := range m.States() {
			names = append(names, s.Name)
		}
		if len(names) != 4 || names[0] != "a" || names[1] != "b" || names[2] != "c" || names[3] != "p" {
			t.Errorf("backends = %v, want [a b c p]", names)
		}
	})
	t.Run("removed dropped, reservation on it harmless", func(t *testing.T) {
		p, _ := m.Choose([]string{"c"}, 10)
		m.SetBackends([]BackendSpec{tpm("a", 1000, 0)})
		p.Reservation.Settle(10)
		p.Reservation.Move("c")
		if _, ok := m.Choose([]string{"c"}, 1); ok {
			t.Error("removed backend chosen")
		}
		if got := len(m.States()); got != 1 {
			t.Errorf("%d backends, want 1", got)
		}
	})
}

// TestConcurrentUse runs every entry point at once; it finds races under -race.
func TestConcurrentUse(t *testing.T) {
	m, clk := newTestModel(t, Options{}, ptu("p", 100000), tpm("a", 100000, 0), tpm("b", 100000, 1))
	names := []string{"p", "a", "b"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				switch (g + i) % 6 {
				case 0, 1:
					if p, ok := m.Choose(names, 50); ok {
						p.Reservation.Observe(200, func(string) string { return "" }, nil)
						p.Reservation.Settle(40)
					}
				case 2:
					if p, ok := m.Choose(names, 50); ok {
						p.Reservation.Move("b")
						p.Reservation.Release()
					}
				case 3:
					m.Observe(names[i%3], 500+i%2, nil, nil)
				case 4:
					_ = m.States()
					_ = m.Recovery(names, 10)
				case 5:
					m.SetBackends([]BackendSpec{ptu("p", 100000), tpm("a", 100000, 0), tpm("b", 100000, 1+i%2)})
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			clk.Advance(10 * time.Millisecond)
		}
	})
	wg.Wait()
}
