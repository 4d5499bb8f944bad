package capacity

import (
	"testing"
	"time"
)

func TestReservation(t *testing.T) {
	t.Run("tpm settle keeps the arrival estimate", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		p, _ := m.Choose([]string{"a"}, 300)
		if s := state(t, m, "a"); s.RemainingTokens != 700 || s.Reserved != 300 || s.InFlight != 1 {
			t.Fatalf("after Choose: %+v", s)
		}
		p.Reservation.Settle(50)
		if s := state(t, m, "a"); s.RemainingTokens != 700 || s.Reserved != 0 || s.InFlight != 0 {
			t.Errorf("after Settle: %+v, want 700 remaining, nothing reserved", s)
		}
	})
	t.Run("ptu settle corrects the bucket to actual", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		p, _ := m.Choose([]string{"p"}, 300)
		p.Reservation.Settle(120)
		if s := state(t, m, "p"); s.RemainingTokens != 880 || s.Reserved != 0 {
			t.Errorf("after Settle: %+v, want 880 remaining", s)
		}
		p2, _ := m.Choose([]string{"p"}, 100)
		p2.Reservation.Settle(400)
		if s := state(t, m, "p"); s.RemainingTokens != 480 {
			t.Errorf("after settling above the estimate: %d remaining, want 480", s.RemainingTokens)
		}
	})
	t.Run("release takes the charge back", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0), ptu("p", 1000))
		for _, name := range []string{"a", "p"} {
			p, _ := m.Choose([]string{name}, 300)
			p.Reservation.Release()
			s := state(t, m, name)
			if s.RemainingTokens != 1000 || s.Reserved != 0 || s.InFlight != 0 {
				t.Errorf("%s after Release: %+v", name, s)
			}
			if name == "a" && s.RemainingRequests != 1000 {
				t.Errorf("request not given back: %d", s.RemainingRequests)
			}
		}
	})
	t.Run("release after the window slid is harmless", func(t *testing.T) {
		m, clk := newTestModel(t, Options{}, tpm("a", 1000, 0))
		p, _ := m.Choose([]string{"a"}, 300)
		clk.Advance(90 * time.Second)
		mustChoose(m, "a", 200)
		p.Reservation.Release()
		if s := state(t, m, "a"); s.RemainingTokens != 800 {
			t.Errorf("remaining = %d, want 800", s.RemainingTokens)
		}
	})
	t.Run("move charges the next backend", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 1000, 0), tpm("b", 1000, 0))
		p, _ := m.Choose([]string{"p", "a", "b"}, 300)
		if p.Reservation.Backend() != "p" {
			t.Fatalf("reserved on %s", p.Reservation.Backend())
		}
		p.Reservation.Move("a")
		p.Reservation.Move("a") // same backend: no-op
		if got := p.Reservation.Backend(); got != "a" {
			t.Errorf("Backend() = %q, want a", got)
		}
		if s := state(t, m, "p"); s.RemainingTokens != 1000 || s.InFlight != 0 {
			t.Errorf("p after Move: %+v", s)
		}
		if s := state(t, m, "a"); s.RemainingTokens != 700 || s.InFlight != 1 {
			t.Errorf("a after Move: %+v", s)
		}
		p.Reservation.Move("unknown")
		if s := state(t, m, "a"); s.RemainingTokens != 1000 || s.InFlight != 0 {
			t.Errorf("a after Move away: %+v", s)
		}
		p.Reservation.Move("b")
		p.Reservation.Settle(10)
		if s := state(t, m, "b"); s.RemainingTokens != 700 || s.InFlight != 0 {
			t.Errorf("b after Move and Settle: %+v", s)
		}
	})
	t.Run("move charges even without room", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 100, 0))
		p, _ := m.Choose([]string{"p"}, 300)
		p.Reservation.Move("a")
		if s := state(t, m, "a"); s.RemainingTokens != 0 || s.Reserved != 300 {
			t.Errorf("a: %+v", s)
		}
	})
	t.Run("only the first of settle and release counts", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		p, _ := m.Choose([]string{"p"}, 300)
		p.Reservation.Settle(300)
		p.Reservation.Settle(900)
		p.Reservation.Release()
		p.Reservation.Move("p")
		if s := state(t, m, "p"); s.RemainingTokens != 700 || s.InFlight != 0 || s.Reserved != 0 {
			t.Errorf("p: %+v", s)
		}
	})
}
