package capacity

import (
	"testing"
	"time"
)

func TestObserveCooldown(t *testing.T) {
	opts := Options{MaxCooldown: 60 * time.Second, DefaultCooldown: time.Second}
	for _, c := range []struct {
		name   string
		status int
		header func(string) string
		body   string
		want   time.Duration // cooldown from now; 0: none
	}{
		{"429 retry-after-ms", 429, headers("retry-after-ms", "35"), "", 35 * time.Millisecond},
		{"429 x-ms-retry-after-ms", 429, headers("x-ms-retry-after-ms", "250"), "", 250 * time.Millisecond},
		{"429 retry-after", 429, headers("retry-after", "6"), "", 6 * time.Second},
		{"429 reset tokens", 429, headers("x-ratelimit-reset-tokens", "4"), "", 4 * time.Second},
		{"429 misspelt reset", 429, headers("x-rate-limit-reset-tokens", "3"), "", 3 * time.Second},
		{"429 message only", 429, headers(), tokenBody, 6 * time.Second},
		{"429 nothing: default", 429, nil, `{"error":{"code":"429"}}`, time.Second},
		{"429 86400 clamped", 429, headers("retry-after", "86400"), "", 60 * time.Second},
		{"424 as 429", 424, headers("retry-after", "2"), "", 2 * time.Second},
		{"200 no cooldown", 200, headers("retry-after", "5"), "", 0},
		{"400 no cooldown", 400, headers("retry-after", "5"), tokenBody, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, clk := newTestModel(t, opts, tpm("a", 1000, 0))
			m.Observe("a", c.status, c.header, []byte(c.body))
			s := state(t, m, "a")
			want := time.Time{}
			if c.want > 0 {
				want = clk.Now().Add(c.want)
			}
			if !s.CooldownUntil.Equal(want) {
				t.Errorf("cooldown until %v, want %v", s.CooldownUntil.Sub(epoch), c.want)
			}
			if c.want > 0 {
				if _, ok := m.Choose([]string{"a"}, 1); ok {
					t.Error("chosen during cooldown")
				}
				clk.Advance(c.want)
			}
			if _, ok := m.Choose([]string{"a"}, 1); !ok {
				t.Error("not chosen after cooldown")
			}
		})
	}
	t.Run("a later deadline is never shortened", func(t *testing.T) {
		m, clk := newTestModel(t, opts, tpm("a", 1000, 0))
		m.Observe("a", 429, headers("retry-after", "10"), nil)
		clk.Advance(time.Second)
		m.Observe("a", 429, headers("retry-after-ms", "20"), nil)
		if got := state(t, m, "a").CooldownUntil.Sub(epoch); got != 10*time.Second {
			t.Errorf("cooldown until %v, want 10s", got)
		}
		m.Observe("a", 429, headers("retry-after", "15"), nil)
		if got := state(t, m, "a").CooldownUntil.Sub(epoch); got != 16*time.Second {
			t.Errorf("cooldown until %v, want 16s", got)
		}
		m.Observe("a", 200, nil, nil)
		if got := state(t, m, "a").CooldownUntil.Sub(epoch); got != 16*time.Second {
			t.Errorf("a success shortened the cooldown to %v", got)
		}
	})
	t.Run("unknown backend ignored", func(t *testing.T) {
		m, _ := newTestModel(t, opts, tpm("a", 1000, 0))
		m.Observe("x", 429, nil, nil)
		m.ObserveFailure("x")
	})
}

func TestObserveHealth(t *testing.T) {
	opts := Options{HealthBase: 500 * time.Millisecond, HealthMax: 3 * time.Second}
	m, clk := newTestModel(t, opts, tpm("a", 1000, 0))
	fail := []func(){
		func() { m.Observe("a", 500, nil, nil) },
		func() { m.Observe("a", 503, nil, nil) },
		func() { m.Observe("a", 408, nil, nil) },
		func() { m.ObserveFailure("a") },
		func() { m.Observe("a", 504, nil, nil) },
		func() { m.ObserveFailure("a") },
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second} {
		start := clk.Now()
		fail[i]()
		s := state(t, m, "a")
		if got := s.HealthUntil.Sub(start); got != want || s.Healthy {
			t.Errorf("failure %d: health cooldown %v (healthy %v), want %v", i+1, got, s.Healthy, want)
		}
		if s.CooldownUntil.After(start) {
			t.Errorf("failure %d set the throttling cooldown", i+1)
		}
		clk.Advance(want)
		if !state(t, m, "a").Healthy {
			t.Errorf("failure %d: still unhealthy after %v", i+1, want)
		}
	}
	m.Observe("a", 200, nil, nil) // resets the exponent
	start := clk.Now()
	m.Observe("a", 502, nil, nil)
	if got := state(t, m, "a").HealthUntil.Sub(start); got != 500*time.Millisecond {
		t.Errorf("after a success: %v, want 500ms", got)
	}
	m.Observe("a", 429, nil, nil) // throttling leaves the exponent
	m.Observe("a", 400, nil, nil)
	m.Observe("a", 500, nil, nil)
	if got := state(t, m, "a").HealthUntil.Sub(start); got != time.Second {
		t.Errorf("second failure: %v, want 1s", got)
	}
}

func TestObserveCorrections(t *testing.T) {
	remaining := func(tokens, requests string) func(string) string {
		return headers("x-ratelimit-remaining-tokens", tokens, "x-ratelimit-remaining-requests", requests)
	}
	t.Run("model observe raises usage only", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		mustChoose(m, "a", 100)
		m.Observe("a", 200, remaining("600", "990"), nil) // someone else used 300 tokens and 9 requests
		s := state(t, m, "a")
		if s.RemainingTokens != 600 || s.RemainingRequests != 990 {
			t.Errorf("after raise: %d tokens, %d requests; want 600, 990", s.RemainingTokens, s.RemainingRequests)
		}
		m.Observe("a", 200, remaining("950", "999"), nil) // stale or ours: not lowered
		if s := state(t, m, "a"); s.RemainingTokens != 600 || s.RemainingRequests != 990 {
			t.Errorf("lowered by Model.Observe: %+v", s)
		}
	})
	t.Run("negative, missing and malformed are unknown", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0), ptu("p", 1000))
		mustChoose(m, "a", 100)
		for _, h := range []func(string) string{remaining("-1", "-1"), remaining("", ""), remaining("lots", "1e3"), nil} {
			m.Observe("a", 200, h, nil)
			m.Observe("p", 200, h, nil)
		}
		m.Observe("p", 200, headers("azure-openai-deployment-utilization", "high"), nil)
		m.Observe("p", 200, headers("azure-openai-deployment-utilization", "-3%"), nil)
		if s := state(t, m, "a"); s.RemainingTokens != 900 || s.RemainingRequests != 999 {
			t.Errorf("a: %+v", s)
		}
		if s := state(t, m, "p"); s.RemainingTokens != 1000 {
			t.Errorf("p: %+v", s)
		}
	})
	t.Run("ptu utilization", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		m.Observe("p", 200, headers("azure-openai-deployment-utilization", "37.5%"), nil)
		if s := state(t, m, "p"); s.Utilization != 0.375 || s.RemainingTokens != 625 {
			t.Errorf("p: %+v", s)
		}
		m.Observe("p", 200, headers("azure-openai-deployment-utilization", "10%"), nil)
		if s := state(t, m, "p"); s.Utilization != 0.375 {
			t.Errorf("lowered by Model.Observe: %+v", s)
		}
	})
	t.Run("reservation observe corrects both ways, once", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		r1, _ := m.Choose([]string{"a"}, 100) // model: 100 used
		r2, _ := m.Choose([]string{"a"}, 100) // model: 200 used
		r3, _ := m.Choose([]string{"a"}, 100) // model: 300 used
		// Azure saw 400 used when r1 arrived (300 more than the model), and
		// 500 when r2 arrived: the same error, to be corrected once.
		r1.Reservation.Observe(200, remaining("600", "990"), nil)
		if s := state(t, m, "a"); s.RemainingTokens != 400 {
			t.Errorf("after r1: %d remaining, want 400", s.RemainingTokens)
		}
		r2.Reservation.Observe(200, remaining("500", "989"), nil)
		if s := state(t, m, "a"); s.RemainingTokens != 400 {
			t.Errorf("after r2: %d remaining, want 400 (corrected once)", s.RemainingTokens)
		}
		// r3 shows Azure never counted the outside usage after all: lowered.
		r3.Reservation.Observe(200, remaining("700", "997"), nil)
		if s := state(t, m, "a"); s.RemainingTokens != 700 || s.RemainingRequests != 997 {
			t.Errorf("after r3: %+v, want 700 and 997", s)
		}
		r3.Reservation.Settle(100)
		r3.Reservation.Observe(200, remaining("700", "997"), nil) // after Settle: still fine, no change
		if s := state(t, m, "a"); s.RemainingTokens != 700 {
			t.Errorf("repeat: %d", s.RemainingTokens)
		}
	})
	t.Run("reservation observe on ptu", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		p, _ := m.Choose([]string{"p"}, 100)
		p.Reservation.Observe(200, headers("azure-openai-deployment-utilization", "5%"), nil)
		if s := state(t, m, "p"); s.RemainingTokens != 950 {
			t.Errorf("p: %d remaining, want 950", s.RemainingTokens)
		}
		p.Reservation.Observe(429, headers("retry-after-ms", "30"), nil)
		if s := state(t, m, "p"); s.CooldownUntil.Sub(epoch) != 30*time.Millisecond {
			t.Errorf("p cooldown: %v", s.CooldownUntil.Sub(epoch))
		}
	})
}

func TestReservationObserveAfterReload(t *testing.T) {
	m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
	p, _ := m.Choose([]string{"a"}, 100)
	m.SetBackends([]BackendSpec{tpm("a", 2000, 0)}) // reconfigured: fresh state
	p.Reservation.Observe(429, headers("retry-after", "4", "x-ratelimit-remaining-tokens", "1500"), nil)
	s := state(t, m, "a")
	if s.CooldownUntil.Sub(epoch) != 4*time.Second {
		t.Errorf("cooldown not applied to the reconfigured backend: %+v", s)
	}
	if s.RemainingTokens != 1500 {
		t.Errorf("remaining = %d, want 1500 (raised, as Model.Observe)", s.RemainingTokens)
	}
	m.SetBackends(nil)
	p.Reservation.Observe(429, nil, nil) // removed: ignored
}

// The two end-to-end rules, at the model's level.
func TestCooldownRules(t *testing.T) {
	cands := []string{"p", "a"}
	t.Run("after a PTU 429 requests go to the TPM until the cooldown ends, then back", func(t *testing.T) {
		m, clk := newTestModel(t, Options{}, ptu("p", 100000), tpm("a", 100000, 0))
		m.Observe("p", 429, headers("retry-after-ms", "80", "retry-after", "1"), nil)
		for i := range 8 {
			p, _ := m.Choose(cands, 100)
			if p.Order[0] != "a" || len(p.Order) != 1 {
				t.Fatalf("request %d during the cooldown: %v", i, p.Order)
			}
			p.Reservation.Settle(100)
			clk.Advance(10 * time.Millisecond)
		}
		// The PTU was at 100 % when its cooldown ended: room for 100
		// tokens comes back as they drain (60 ms at 100,000 per minute).
		if p, _ := m.Choose(cands, 100); p.Order[0] != "a" {
			t.Fatalf("at the cooldown's end: %v", p.Order)
		}
		clk.Advance(60 * time.Millisecond)
		if p, _ := m.Choose(cands, 100); p.Order[0] != "p" {
			t.Fatalf("after the cooldown: %v", p.Order)
		}
	})
	t.Run("86400 s retry-after does not take a backend out for a day", func(t *testing.T) {
		m, clk := newTestModel(t, Options{}, ptu("p", 100000), tpm("a", 100000, 0))
		m.Observe("p", 429, headers("retry-after", "86400"), []byte(`{"error":{"message":"Please retry after 86400 seconds."}}`))
		clk.Advance(DefaultMaxCooldown - time.Millisecond)
		if p, _ := m.Choose(cands, 100); p.Order[0] != "a" {
			t.Fatalf("before the clamp: %v", p.Order)
		}
		clk.Advance(61 * time.Millisecond) // 100 tokens drained since
		if p, _ := m.Choose(cands, 100); p.Order[0] != "p" {
			t.Fatalf("after %v: %v", DefaultMaxCooldown, p.Order)
		}
	})
}
