package capacity

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// Past capacity (issue 13): spares, overflow, pacing after a 429, effective
// capacity and the cooldown of a 429 that does not say when to come back.

func TestChooseListsSparesLast(t *testing.T) {
	m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 1000, 0), tpm("b", 1000, 0))
	mustChoose(m, "p", 1000) // p full
	m.Observe("b", 429, headers("retry-after", "5"), nil)
	p, ok := m.Choose([]string{"p", "a", "b"}, 100)
	if !ok || !slices.Equal(p.Order, []string{"a", "p"}) || p.Fit != 1 {
		t.Fatalf("Choose = %v (%d with room), %v; want a with room, p spare, b (cooling) left out", p.Order, p.Fit, ok)
	}
	if got := p.Reservation.Backend(); got != "a" {
		t.Errorf("charged %q, want a", got)
	}
}

func TestAdmitOverflowsWhenWaitingIsLonger(t *testing.T) {
	ctx := context.Background()
	t.Run("no room within MaxWait: sent to the spare at once", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: 500 * time.Millisecond}, ptu("p", 1000), tpm("a", 1000, 0))
		mustChoose(m, "a", 1000)
		full, _ := m.Choose([]string{"p"}, 1000)
		full.Reservation.Settle(1000) // nothing in flight: nothing to free room early
		// p has room once 1 % (10 tokens) has drained: in 600 ms.
		p, err := m.Admit(ctx, Ask{Candidates: []string{"p", "a"}, Cost: 200})
		if err != nil || p.Fit != 0 || !slices.Equal(p.Order, []string{"p", "a"}) {
			t.Fatalf("Admit = %+v, %v; want an overflow to p then a", p, err)
		}
		if s := state(t, m, "p"); s.InFlight != 1 || s.Reserved != 200 {
			t.Errorf("the overflow is not charged to p: %+v", s)
		}
	})
	t.Run("held behind the queue only while the whole queue is served in time", func(t *testing.T) {
		m, clk := newTestModel(t, Options{MaxWait: 2 * time.Second}, ptu("p", 600)) // 10 tokens/s
		h := newWaitHarness(t, m)
		mustChoose(m, "p", 600)
		first := h.start(ctx, "c", []string{"p"}, 20) // room once 6 tokens drained, in 0.6 s: held
		h.waiting(1)
		// Behind the first's 20, the second has room once 26 have drained:
		// 2.6 s > 2 s, so it is not held.
		p, err := m.Admit(ctx, Ask{Consumer: "c", Candidates: []string{"p"}, Cost: 20})
		if err != nil || p.Fit != 0 || p.Order[0] != "p" {
			t.Fatalf("second = %+v, %v; want an overflow", p, err)
		}
		h.waiting(1)
		p.Reservation.Release() // the deployment refused it after all
		clk.Advance(600 * time.Millisecond)
		if r := h.result("first", first); r.err != nil {
			t.Fatal(r.err)
		}
	})
	t.Run("every candidate cooling down: 429 at once with the earliest recovery", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: 3 * time.Second}, ptu("p", 1000), tpm("a", 1000, 0))
		m.Observe("p", 429, headers("retry-after", "8"), nil)
		m.Observe("a", 429, headers("retry-after", "5"), nil)
		_, err := m.Admit(ctx, Ask{Candidates: []string{"p", "a"}, Cost: 100})
		var nce *NoCapacityError
		if !errors.As(err, &nce) || nce.RetryAt.Sub(epoch) != 5*time.Second {
			t.Fatalf("err = %v, want no capacity until +5s", err)
		}
	})
}

// After a PTU's 429 the held requests leave at the pace the bucket drains,
// not in one burst when the cooldown ends.
func TestReleasePacedAfterThrottle(t *testing.T) {
	ctx := context.Background()
	m, clk := newTestModel(t, Options{MaxWait: time.Minute}, ptu("p", 6000)) // 100 tokens/s
	h := newWaitHarness(t, m)
	m.Observe("p", 429, headers("retry-after-ms", "1000"), nil)
	var res []chan waitResult
	for range 5 {
		res = append(res, h.start(ctx, "c", []string{"p"}, 100))
	}
	h.waiting(5)
	clk.Advance(time.Second) // the cooldown ends: the deployment is at 100 %
	h.waiting(5)
	for i := range 5 {
		clk.Advance(time.Second) // 100 more tokens drained: exactly one more fits
		h.waiting(4 - i)
		if r := h.result("waiter", res[i]); r.err != nil {
			t.Fatalf("waiter %d: %v", i, r.err)
		}
	}
}

func TestEffectiveCapacity(t *testing.T) {
	cands := []string{"p"}
	t.Run("a 429 without a load header on an attempt that had room lowers it once per episode", func(t *testing.T) {
		m, clk := newTestModel(t, Options{}, ptu("p", 1000))
		var rs []*Reservation
		for range 3 {
			p, _ := m.Choose(cands, 100)
			rs = append(rs, p.Reservation)
		}
		for _, r := range rs { // a burst of 429s: the first starts the episode
			r.Observe(429, headers("retry-after-ms", "100"), nil)
		}
		if got := state(t, m, "p").Effective; math.Abs(got-effectiveCut) > 1e-12 {
			t.Fatalf("effective %v after one episode, want %v", got, effectiveCut)
		}
		clk.Advance(time.Second) // the cooldown over and 10 tokens drained from 100 %
		p, _ := m.Choose(cands, 10)
		p.Reservation.Observe(429, headers("retry-after-ms", "100"), nil)
		if got := state(t, m, "p").Effective; math.Abs(got-effectiveCut*effectiveCut) > 1e-12 {
			t.Fatalf("effective %v after two episodes, want %v", got, effectiveCut*effectiveCut)
		}
		for _, r := range append(rs, p.Reservation) {
			r.Release()
		}
	})
	t.Run("a 429 that carries the utilization does not lower it: the header corrects", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		p, _ := m.Choose(cands, 100)
		p.Reservation.Observe(429, headers("retry-after-ms", "100", "azure-openai-deployment-utilization", "104%"), nil)
		if got := state(t, m, "p").Effective; got != 1 {
			t.Fatalf("effective %v, want 1", got)
		}
	})
	t.Run("a 429 on a spare (the model knew it was full) does not lower it", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 1000, 0))
		mustChoose(m, "p", 1000)
		p, _ := m.Choose([]string{"a", "p"}, 100)
		p.Reservation.Move("p")
		p.Reservation.Observe(429, headers("retry-after-ms", "100"), nil)
		if got := state(t, m, "p").Effective; got != 1 {
			t.Fatalf("effective %v, want 1", got)
		}
	})
	t.Run("a lowered capacity admits less and recovers as requests settle", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		p, _ := m.Choose([]string{"a"}, 100)
		p.Reservation.Observe(429, headers("retry-after-ms", "0"), nil)
		if s := state(t, m, "a"); s.Effective != effectiveCut || s.RemainingTokens != 850-100 {
			t.Fatalf("after the cut: %+v, want 850 effective tokens less the 100 charged", s)
		}
		more, _ := m.Choose([]string{"a"}, 745) // 845 of the effective 850: less than 1 % (8) left
		if _, ok := m.Choose([]string{"a"}, 10); ok {
			t.Fatal("a request fit in a window whose effective limit is 850 with 845 used")
		}
		more.Reservation.Release()
		p.Reservation.Settle(500) // 500 of 1000 accepted: +5 %
		m.Sync()
		if got := state(t, m, "a").Effective; math.Abs(got-(effectiveCut+effectiveGain*0.5)) > 1e-12 {
			t.Fatalf("effective %v after a settle, want %v", got, effectiveCut+effectiveGain*0.5)
		}
	})
	t.Run("never below the floor", func(t *testing.T) {
		m, clk := newTestModel(t, Options{}, ptu("p", 1000))
		for range 30 {
			p, _ := m.Choose(cands, 1)
			p.Reservation.Observe(429, headers("retry-after-ms", "10"), nil)
			p.Reservation.Release()
			clk.Advance(time.Minute)
		}
		if got := state(t, m, "p").Effective; got != effectiveFloor {
			t.Fatalf("effective %v, want the floor %v", got, effectiveFloor)
		}
	})
}

func TestCooldownWithoutRetryTime(t *testing.T) {
	m, clk := newTestModel(t, Options{DefaultCooldown: time.Second, MaxCooldown: 5 * time.Second}, tpm("a", 1000, 0))
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second} {
		m.Observe("a", 429, nil, nil)
		if got := state(t, m, "a").CooldownUntil.Sub(clk.Now()); got != want {
			t.Fatalf("cooldown %v, want %v", got, want)
		}
		clk.Advance(want)
	}
	m.Observe("a", 429, headers("retry-after", "1"), nil) // one that says: the run ends
	clk.Advance(time.Second)
	m.Observe("a", 429, nil, nil)
	if got := state(t, m, "a").CooldownUntil.Sub(clk.Now()); got != time.Second {
		t.Fatalf("cooldown %v after a 429 with a retry time, want the 1s default again", got)
	}
}

func TestRetryAt(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestModel(t, Options{MaxWait: 10 * time.Second}, ptu("p", 600)) // 10 tokens/s
	h := newWaitHarness(t, m)
	full, _ := m.Choose([]string{"p"}, 600)
	full.Reservation.Settle(600)
	ask := func(priority int) Ask {
		return Ask{Consumer: "c", Candidates: []string{"p"}, Cost: 20, Priority: priority}
	}
	if got := m.RetryAt(ask(2)).Sub(epoch); got != 600*time.Millisecond {
		t.Fatalf("RetryAt = +%v with nothing held, want +600ms (1 %% drained)", got)
	}
	go func() { _, _ = m.Admit(ctx, Ask{Consumer: "b", Candidates: []string{"p"}, Cost: 30, Priority: 1}) }()
	<-h.enq // held: room in 0.6 s
	if got := m.RetryAt(ask(2)).Sub(epoch); got != 3600*time.Millisecond {
		t.Errorf("a batch request's RetryAt = +%v behind a held standard one of 30, want +3.6s (30 + 6 drained)", got)
	}
	if got := m.RetryAt(ask(0)).Sub(epoch); got != 600*time.Millisecond {
		t.Errorf("an interactive request's RetryAt = +%v, want +600ms: it goes before the standard one", got)
	}
}
