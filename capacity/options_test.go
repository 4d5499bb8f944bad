package capacity

import (
	"testing"
	"time"
)

func TestSetOptions(t *testing.T) {
	m, clk := newTestModel(t, Options{MaxCooldown: 10 * time.Second}, tpm("a", 1000, 0))
	m.Observe("a", 429, headers("retry-after", "86400"), nil)
	if got := state(t, m, "a").CooldownUntil.Sub(epoch); got != 10*time.Second {
		t.Errorf("cooldown %v, want 10s", got)
	}
	m.SetOptions(Options{MaxCooldown: 2 * time.Second})
	if got := state(t, m, "a").CooldownUntil.Sub(epoch); got != 10*time.Second {
		t.Errorf("running cooldown changed to %v", got)
	}
	clk.Advance(10 * time.Second)
	m.Observe("a", 429, headers("retry-after", "86400"), nil)
	if got := state(t, m, "a").CooldownUntil.Sub(clk.Now()); got != 2*time.Second {
		t.Errorf("cooldown %v, want 2s", got)
	}
	m.SetOptions(Options{})
	m.Observe("a", 429, nil, nil)
	if got := state(t, m, "a").CooldownUntil.Sub(clk.Now()); got != 2*time.Second {
		t.Errorf("default cooldown shortened a running one: %v", got)
	}
	clk.Advance(2 * time.Second)
	m.Observe("a", 200, nil, nil) // a success ends the run of 429s without a retry time
	m.Observe("a", 429, nil, nil)
	if got := state(t, m, "a").CooldownUntil.Sub(clk.Now()); got != time.Second {
		t.Errorf("cooldown %v, want the 1s default", got)
	}
	m.Sync()
}
