package capacity

import (
	"slices"
	"testing"
	"time"
)

func TestChoose(t *testing.T) {
	all := []string{"p", "a", "b", "c"}
	for _, c := range []struct {
		name  string
		specs []BackendSpec
		setup func(m *Model)
		cands []string
		cost  int
		want  []string // nil: no room
	}{
		{
			name:  "ptu first while it can take the cost",
			specs: []BackendSpec{tpm("a", 1000, 0), ptu("p", 1000)},
			cands: []string{"a", "p"}, cost: 1000,
			want: []string{"p", "a"},
		},
		{
			name:  "ptu without room (less than 1 % left) is not listed",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)},
			setup: func(m *Model) { mustChoose(m, "p", 991) },
			cands: []string{"p", "a"}, cost: 101,
			want: []string{"a"},
		},
		{
			name:  "ptu below its limit takes a request of any size, as Azure",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)},
			setup: func(m *Model) { mustChoose(m, "p", 990) },
			cands: []string{"p", "a"}, cost: 500,
			want: []string{"p", "a"},
		},
		{
			name:  "ptu exactly full still takes what fits",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)},
			setup: func(m *Model) { mustChoose(m, "p", 900) },
			cands: []string{"p", "a"}, cost: 100,
			want: []string{"p", "a"},
		},
		{
			name:  "lower priority number first, whatever the headroom",
			specs: []BackendSpec{tpm("a", 100000, 1), tpm("b", 1000, 0)},
			cands: []string{"a", "b"}, cost: 500,
			want: []string{"b", "a"},
		},
		{
			name:  "most headroom first within a priority",
			specs: []BackendSpec{tpm("a", 1000, 0), tpm("b", 1000, 0), tpm("c", 1000, 0)},
			setup: func(m *Model) { mustChoose(m, "a", 300); mustChoose(m, "b", 100); mustChoose(m, "c", 600) },
			cands: []string{"a", "b", "c"}, cost: 100,
			want: []string{"b", "a", "c"},
		},
		{
			name:  "headroom is a share of the backend's limit",
			specs: []BackendSpec{tpm("a", 10000, 0), tpm("b", 1000, 0)},
			setup: func(m *Model) { mustChoose(m, "a", 6000) }, // a: 40 % left; b: 100 %
			cands: []string{"a", "b"}, cost: 10,
			want: []string{"b", "a"},
		},
		{
			name: "weights scale headroom",
			specs: []BackendSpec{
				{Name: "a", Tier: TierTPM, TPM: 1000, RPM: 6000, Weight: 3},
				{Name: "b", Tier: TierTPM, TPM: 1000, RPM: 6000, Weight: 1},
			},
			setup: func(m *Model) { mustChoose(m, "a", 600) }, // a: 3 × 0.4 > b: 1 × 1
			cands: []string{"b", "a"}, cost: 0,
			want: []string{"a", "b"},
		},
		{
			name:  "ties keep the candidates' order",
			specs: []BackendSpec{tpm("a", 1000, 0), tpm("b", 1000, 0)},
			cands: []string{"b", "a"}, cost: 10,
			want: []string{"b", "a"},
		},
		{
			name:  "request window counts too",
			specs: []BackendSpec{{Name: "a", Tier: TierTPM, TPM: 100000, RPM: 12}, tpm("b", 1000, 0)}, // a: 2 requests per 10 s
			setup: func(m *Model) { mustChoose(m, "a", 1); mustChoose(m, "a", 1) },
			cands: []string{"a", "b"}, cost: 1,
			want: []string{"b"},
		},
		{
			name:  "throttling cooldown excludes",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)},
			setup: func(m *Model) { m.Observe("p", 429, headers("retry-after-ms", "50"), nil) },
			cands: []string{"p", "a"}, cost: 1,
			want: []string{"a"},
		},
		{
			name:  "health cooldown excludes",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)},
			setup: func(m *Model) { m.ObserveFailure("p"); m.Observe("a", 503, nil, nil) },
			cands: []string{"p", "a"}, cost: 1,
		},
		{
			name:  "unknown and repeated names ignored",
			specs: []BackendSpec{tpm("a", 1000, 0)},
			cands: []string{"x", "a", "a", ""}, cost: 1,
			want: []string{"a"},
		},
		{
			name:  "only candidates are considered",
			specs: []BackendSpec{ptu("p", 1000), tpm("a", 1000, 0), tpm("b", 1000, 0)},
			cands: []string{"b"}, cost: 1,
			want: []string{"b"},
		},
		{
			name:  "no room anywhere",
			specs: []BackendSpec{ptu("p", 100), tpm("a", 100, 0)},
			cands: all, cost: 50,
			setup: func(m *Model) { mustChoose(m, "p", 100); mustChoose(m, "a", 100) },
		},
		{
			name:  "oversized request: charged in full where it is admitted",
			specs: []BackendSpec{ptu("p", 100), tpm("a", 100, 0)},
			setup: func(m *Model) { mustChoose(m, "p", 100) },
			cands: all, cost: 500,
			want: []string{"a"},
		},
		{
			name:  "negative cost is zero",
			specs: []BackendSpec{tpm("a", 100, 0)},
			cands: all, cost: -5,
			want: []string{"a"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, Options{}, c.specs...)
			if c.setup != nil {
				c.setup(m)
			}
			before := m.States()
			p, ok := m.Choose(c.cands, c.cost)
			if c.want == nil {
				if ok {
					t.Fatalf("Choose = %v, want no room", p.Order)
				}
				if after := m.States(); !slices.Equal(before, after) {
					t.Errorf("failed Choose changed state: %+v -> %+v", before, after)
				}
				return
			}
			if !ok || !slices.Equal(p.Order[:p.Fit], c.want) {
				t.Fatalf("Choose = %v (%d with room), %v; want %v with room", p.Order, p.Fit, ok, c.want)
			}
			if got := p.Reservation.Backend(); got != c.want[0] {
				t.Errorf("reserved on %q, want %q", got, c.want[0])
			}
			if s := state(t, m, c.want[0]); s.Reserved != max(0, c.cost)+reservedBy(before, c.want[0]) {
				t.Errorf("%s reserved %d after Choose", c.want[0], s.Reserved)
			}
		})
	}
}

func reservedBy(states []BackendState, name string) int {
	for _, s := range states {
		if s.Name == name {
			return s.Reserved
		}
	}
	return 0
}

// mustChoose reserves cost on exactly backend and settles it at the estimate.
func mustChoose(m *Model, backend string, cost int) {
	p, ok := m.Choose([]string{backend}, cost)
	if !ok {
		panic("no room on " + backend)
	}
	p.Reservation.Settle(cost)
}

func TestChooseSpillsAndReturns(t *testing.T) {
	// A PTU of 600 tokens/min (10 per second) and a TPM: requests of 100.
	m, clk := newTestModel(t, Options{}, ptu("p", 600), tpm("a", 100000, 0))
	cands := []string{"p", "a"}
	var got []string
	for range 8 {
		p, ok := m.Choose(cands, 100)
		if !ok {
			t.Fatal("no room")
		}
		got = append(got, p.Order[0])
		p.Reservation.Settle(100)
	}
	if want := []string{"p", "p", "p", "p", "p", "p", "a", "a"}; !slices.Equal(got, want) {
		t.Errorf("first 8 went to %v, want %v", got, want)
	}
	// The PTU is at 600: a request has room again once 1 % (6 tokens) has
	// drained, whatever its size.
	clk.Advance(599 * time.Millisecond)
	if p, _ := m.Choose(cands, 100); p.Order[0] != "a" {
		t.Errorf("after 0.599 s chose %s, want a", p.Order[0])
	} else {
		p.Reservation.Release()
	}
	clk.Advance(time.Millisecond)
	if p, _ := m.Choose(cands, 100); p.Order[0] != "p" {
		t.Errorf("after 0.6 s chose %s, want p", p.Order[0])
	}
}

func TestRecovery(t *testing.T) {
	m, clk := newTestModel(t, Options{}, ptu("p", 600), tpm("a", 1000, 0), tpm("b", 1000, 0))
	now := clk.Now()
	t.Run("now when one has room", func(t *testing.T) {
		if got := m.Recovery([]string{"p", "a"}, 10); !got.Equal(now) {
			t.Errorf("Recovery = %v, want now", got)
		}
	})
	t.Run("zero when none is known", func(t *testing.T) {
		if got := m.Recovery([]string{"x"}, 10); !got.IsZero() {
			t.Errorf("Recovery = %v, want zero", got)
		}
	})
	mustChoose(m, "p", 600)
	mustChoose(m, "a", 1000)
	m.Observe("b", 429, headers("retry-after", "7"), nil)
	t.Run("bucket drain", func(t *testing.T) {
		if got := m.Recovery([]string{"p"}, 100).Sub(now).Round(time.Millisecond); got != 600*time.Millisecond {
			t.Errorf("p recovers after %v, want 600ms (1 %% drained)", got)
		}
	})
	t.Run("window slide", func(t *testing.T) {
		if got := m.Recovery([]string{"a"}, 100).Sub(now); got != time.Minute {
			t.Errorf("a recovers after %v, want 1m", got)
		}
	})
	t.Run("cooldown", func(t *testing.T) {
		if got := m.Recovery([]string{"b"}, 100).Sub(now); got != 7*time.Second {
			t.Errorf("b recovers after %v, want 7s", got)
		}
	})
	t.Run("cooldown and room: the later", func(t *testing.T) {
		// A 429 says the PTU is at 100 % until its retry time: the bucket
		// is filled to 600 + 2 s of drain (20), and has room 0.6 s later.
		m.Observe("p", 429, headers("retry-after-ms", "2000"), nil)
		if got := m.Recovery([]string{"p"}, 100).Sub(now).Round(time.Millisecond); got != 2600*time.Millisecond {
			t.Errorf("p recovers after %v, want 2.6s", got)
		}
		m.Observe("p", 429, headers("retry-after", "12"), nil)
		if got := m.Recovery([]string{"p"}, 100).Sub(now).Round(time.Millisecond); got != 12600*time.Millisecond {
			t.Errorf("p recovers after %v, want 12.6s", got)
		}
	})
	t.Run("earliest of candidates", func(t *testing.T) {
		if got := m.Recovery([]string{"a", "b", "p", "x"}, 100).Sub(now); got != 7*time.Second {
			t.Errorf("recovers after %v, want 7s", got)
		}
	})
}

func TestRequestWindow(t *testing.T) {
	// 60 RPM: 10 requests per 10 s; small requests run out of requests, not tokens.
	m, clk := newTestModel(t, Options{}, BackendSpec{Name: "a", Tier: TierTPM, TPM: 100000, RPM: 60})
	for i := range 10 {
		clk.Advance(500 * time.Millisecond)
		if _, ok := m.Choose([]string{"a"}, 1); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if _, ok := m.Choose([]string{"a"}, 1); ok {
		t.Fatal("11th request in 10 s admitted")
	}
	// The first went in at 0.5 s (bin 0): it leaves at 10 s.
	if got := m.Recovery([]string{"a"}, 1).Sub(epoch); got != 10*time.Second {
		t.Errorf("recovery at +%v, want +10s", got)
	}
	if s := state(t, m, "a"); s.RemainingRequests != 0 || s.RemainingTokens != 99990 {
		t.Errorf("state %+v", s)
	}
}
