package capacity

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

type waitResult struct {
	plan Plan
	err  error
}

// waitHarness runs Wait calls in goroutines and returns once each is queued
// (or has returned), using the model's enqueue hook: no sleeps.
type waitHarness struct {
	t   *testing.T
	m   *Model
	enq chan struct{}
}

func newWaitHarness(t *testing.T, m *Model) *waitHarness {
	h := &waitHarness{t: t, m: m, enq: make(chan struct{}, 100)}
	m.mu.Lock()
	m.onEnqueue = func() { h.enq <- struct{}{} }
	m.mu.Unlock()
	return h
}

func (h *waitHarness) start(ctx context.Context, consumer string, cands []string, cost int) chan waitResult {
	res := make(chan waitResult, 1)
	go func() {
		p, err := h.m.Wait(ctx, consumer, cands, cost)
		res <- waitResult{p, err}
	}()
	select {
	case <-h.enq:
	case r := <-res:
		res <- r
	}
	return res
}

// result receives a Wait's outcome; the real-time bound only turns a hang into a failure.
func (h *waitHarness) result(name string, res chan waitResult) waitResult {
	h.t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		h.t.Fatalf("%s: Wait did not return", name)
		return waitResult{}
	}
}

func (h *waitHarness) waiting(want int) {
	h.t.Helper()
	if got := h.m.Waiting(); got != want {
		h.t.Fatalf("%d waiting, want %d", got, want)
	}
}

func TestWait(t *testing.T) {
	ctx := context.Background()
	cands := []string{"p"}
	t.Run("returns at once when there is room", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		p, err := m.Wait(ctx, "c", cands, 100)
		if err != nil || p.Order[0] != "p" || p.Reservation == nil {
			t.Fatalf("Wait = %+v, %v", p, err)
		}
	})
	t.Run("woken by a release", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		h := newWaitHarness(t, m)
		held, _ := m.Choose(cands, 1000)
		res := h.start(ctx, "c", cands, 100)
		h.waiting(1)
		held.Reservation.Release()
		h.waiting(0)
		r := h.result("waiter", res)
		if r.err != nil || r.plan.Reservation.Backend() != "p" {
			t.Fatalf("Wait = %+v, %v", r.plan, r.err)
		}
	})
	t.Run("woken by a ptu settle below the estimate", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		h := newWaitHarness(t, m)
		held, _ := m.Choose(cands, 1000)
		res := h.start(ctx, "c", cands, 100)
		held.Reservation.Settle(850)
		if r := h.result("waiter", res); r.err != nil {
			t.Fatal(r.err)
		}
	})
	t.Run("woken when the bucket has drained", func(t *testing.T) {
		m, clk := newTestModel(t, Options{MaxWait: 20 * time.Second}, ptu("p", 600))
		h := newWaitHarness(t, m)
		mustChoose(m, "p", 600)
		res := h.start(ctx, "c", cands, 100) // room once 1 % (6 tokens) has drained: 600 ms
		clk.Advance(590 * time.Millisecond)
		h.waiting(1)
		clk.Advance(10 * time.Millisecond)
		h.waiting(0)
		if r := h.result("waiter", res); r.err != nil {
			t.Fatal(r.err)
		}
	})
	t.Run("woken when a cooldown ends", func(t *testing.T) {
		m, clk := newTestModel(t, Options{MaxWait: 3 * time.Second}, ptu("p", 1000), tpm("a", 1000, 0))
		h := newWaitHarness(t, m)
		m.Observe("p", 429, headers("retry-after-ms", "500"), nil)
		m.Observe("a", 429, headers("retry-after", "2"), nil)
		// p is at 100 % when its cooldown ends and has room 1 % of its
		// capacity later (600 ms); a's cooldown ends at 2 s.
		res := h.start(ctx, "c", []string{"p", "a"}, 100)
		clk.Advance(1098 * time.Millisecond)
		h.waiting(1)
		clk.Advance(3 * time.Millisecond)
		r := h.result("waiter", res)
		if r.err != nil || !slices.Equal(r.plan.Order, []string{"p"}) || r.plan.Fit != 1 {
			t.Fatalf("Wait = %+v, %v", r.plan, r.err)
		}
	})
	t.Run("fails at MaxWait with the recovery time", func(t *testing.T) {
		m, clk := newTestModel(t, Options{MaxWait: 3 * time.Second}, tpm("a", 1000, 0))
		h := newWaitHarness(t, m)
		held, _ := m.Choose([]string{"a"}, 1000) // in flight: might be released
		res := h.start(ctx, "c", []string{"a"}, 100)
		clk.Advance(2999 * time.Millisecond)
		h.waiting(1)
		clk.Advance(time.Millisecond)
		r := h.result("waiter", res)
		var nce *NoCapacityError
		if !errors.As(r.err, &nce) || !errors.Is(r.err, ErrNoCapacity) {
			t.Fatalf("err = %v, want a NoCapacityError", r.err)
		}
		if got := nce.RetryAt.Sub(epoch); got != time.Minute {
			t.Errorf("RetryAt = +%v, want +1m", got)
		}
		h.waiting(0)
		held.Reservation.Settle(1000)
	})
	t.Run("fails at once when recovery is beyond MaxWait and nothing is in flight", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: 3 * time.Second}, ptu("p", 1000), tpm("a", 1000, 0))
		m.Observe("p", 429, headers("retry-after", "86400"), nil)
		m.Observe("a", 429, headers("retry-after", "5"), nil)
		_, err := m.Wait(ctx, "c", []string{"p", "a"}, 100)
		var nce *NoCapacityError
		if !errors.As(err, &nce) || nce.RetryAt.Sub(epoch) != 5*time.Second {
			t.Fatalf("err = %v, want no capacity until +5s", err)
		}
	})
	t.Run("fails at once for unknown backends", func(t *testing.T) {
		m, _ := newTestModel(t, Options{})
		_, err := m.Wait(ctx, "c", []string{"x"}, 1)
		var nce *NoCapacityError
		if !errors.As(err, &nce) || !nce.RetryAt.IsZero() {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, ptu("p", 1000))
		h := newWaitHarness(t, m)
		held, _ := m.Choose(cands, 1000)
		cctx, cancel := context.WithCancel(ctx)
		res := h.start(cctx, "c", cands, 100)
		cancel()
		r := h.result("waiter", res)
		if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, ErrNoCapacity) {
			t.Fatalf("err = %v, want context.Canceled", r.err)
		}
		h.waiting(0)
		held.Reservation.Release()
		if s := state(t, m, "p"); s.InFlight != 0 {
			t.Errorf("a cancelled waiter holds a reservation: %+v", s)
		}
		if _, err := m.Wait(cctx, "c", cands, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait on a done context = %v", err)
		}
	})
	t.Run("newcomers queue behind waiters", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: time.Hour}, ptu("p", 1000))
		h := newWaitHarness(t, m)
		held, _ := m.Choose(cands, 995)
		first := h.start(ctx, "c", cands, 100) // needs 1 % (10) free
		second := h.start(ctx, "c", cands, 3)  // fits, but c's earlier request waits
		h.waiting(2)
		held.Reservation.Release()
		for name, res := range map[string]chan waitResult{"first": first, "second": second} {
			if r := h.result(name, res); r.err != nil {
				t.Fatal(r.err)
			}
		}
	})
}

func TestWaitFairness(t *testing.T) {
	// One slot: each release lets exactly one waiter through.
	m, _ := newTestModel(t, Options{MaxWait: time.Hour}, ptu("p", 100))
	h := newWaitHarness(t, m)
	cands := []string{"p"}
	held, _ := m.Choose(cands, 100)
	ctx := context.Background()
	type w struct {
		name string
		res  chan waitResult
	}
	var ws []w
	for _, c := range []struct{ consumer, name string }{{"A", "a1"}, {"A", "a2"}, {"A", "a3"}, {"B", "b1"}, {"C", "c1"}, {"B", "b2"}} {
		ws = append(ws, w{c.name, h.start(ctx, c.consumer, cands, 100)})
	}
	h.waiting(6)
	byName := map[string]chan waitResult{}
	for _, x := range ws {
		byName[x.name] = x.res
	}
	// Round-robin by consumer, FIFO within one.
	for i, name := range []string{"a1", "b1", "c1", "a2", "b2", "a3"} {
		held.Reservation.Release()
		h.waiting(5 - i)
		r := h.result(name, byName[name])
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		held = r.plan
	}
}

func TestWaitHeadOfLine(t *testing.T) {
	// A consumer's request that does not fit yet holds back its own later
	// one, not other consumers'. A request has room while 1 % is left
	// whatever its size, so the one that does not fit is a batch request
	// leaving half of the PTU free.
	m, _ := newTestModel(t, Options{MaxWait: time.Hour}, ptu("p", 100))
	h := newWaitHarness(t, m)
	cands := []string{"p"}
	held, _ := m.Choose(cands, 50)
	held2, _ := m.Choose(cands, 50)
	ctx := context.Background()
	admit := func(consumer string, cost int, headroom float64) chan waitResult {
		res := make(chan waitResult, 1)
		go func() {
			p, err := m.Admit(ctx, Ask{Consumer: consumer, Candidates: cands, Cost: cost, Headroom: headroom})
			res <- waitResult{p, err}
		}()
		<-h.enq
		return res
	}
	big := admit("A", 100, 0.5)
	small := admit("A", 10, 0)
	other := admit("B", 10, 0)
	held.Reservation.Release() // 50 used: B's fits, A's head (needs 51 free) does not
	ro := h.result("other", other)
	if ro.err != nil {
		t.Fatal(ro.err)
	}
	h.waiting(2)
	held2.Reservation.Release() // 10 used: A's head, then nothing (110 used)
	rb := h.result("big", big)
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	h.waiting(1)
	rb.plan.Reservation.Release()
	if r := h.result("small", small); r.err != nil {
		t.Fatal(r.err)
	}
	ro.plan.Reservation.Release()
}

func TestWaitConcurrentRealClock(t *testing.T) {
	// Many waiters and releasers on the wall clock: no deadlock, no race, every
	// Wait ends with a plan or ErrNoCapacity.
	m := New(SystemClock{}, Options{MaxWait: 200 * time.Millisecond})
	m.SetBackends([]BackendSpec{ptu("p", 1000), tpm("a", 1000, 0)})
	cands := []string{"p", "a"}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				p, err := m.Wait(context.Background(), string(rune('A'+g%4)), cands, 100+i)
				switch {
				case err == nil:
					p.Reservation.Release()
				case !errors.Is(err, ErrNoCapacity):
					t.Errorf("Wait: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := m.Waiting(); n != 0 {
		t.Errorf("%d still waiting", n)
	}
}

func TestWaitWokenByReloadAndCorrection(t *testing.T) {
	ctx := context.Background()
	t.Run("reload adds room", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		h := newWaitHarness(t, m)
		held, _ := m.Choose([]string{"a"}, 1000)
		res := h.start(ctx, "c", []string{"a", "b"}, 100)
		h.waiting(1)
		m.SetBackends([]BackendSpec{tpm("a", 1000, 0), tpm("b", 1000, 0)})
		r := h.result("waiter", res)
		if r.err != nil || r.plan.Order[0] != "b" {
			t.Fatalf("Wait = %+v, %v", r.plan, r.err)
		}
		held.Reservation.Settle(1000)
	})
	t.Run("a correction frees room", func(t *testing.T) {
		m, _ := newTestModel(t, Options{}, tpm("a", 1000, 0))
		h := newWaitHarness(t, m)
		held, _ := m.Choose([]string{"a"}, 1000)
		res := h.start(ctx, "c", []string{"a"}, 100)
		h.waiting(1)
		// Azure charged 500 for it, not 1000 (another estimate rule).
		held.Reservation.Observe(200, headers("x-ratelimit-remaining-tokens", "500"), nil)
		if r := h.result("waiter", res); r.err != nil {
			t.Fatal(r.err)
		}
	})
}

func TestWaitPriorities(t *testing.T) {
	ctx := context.Background()
	cands := []string{"p"}
	start := func(h *waitHarness, consumer string, priority int) chan waitResult {
		res := make(chan waitResult, 1)
		go func() {
			p, err := h.m.Admit(ctx, Ask{Consumer: consumer, Candidates: cands, Cost: 100, Priority: priority})
			res <- waitResult{p, err}
		}()
		<-h.enq
		return res
	}
	t.Run("a higher priority is served first", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: time.Hour}, ptu("p", 100)) // one slot
		h := newWaitHarness(t, m)
		held, _ := m.Choose(cands, 100)
		batch := start(h, "batch", 2)
		standard := start(h, "standard", 1)
		interactive := start(h, "interactive", 0)
		h.waiting(3)
		for _, name := range []string{"interactive", "standard", "batch"} {
			held.Reservation.Release()
			r := h.result(name, map[string]chan waitResult{"interactive": interactive, "standard": standard, "batch": batch}[name])
			if r.err != nil {
				t.Fatalf("%s: %v", name, r.err)
			}
			held = r.plan
		}
	})
	t.Run("a lower priority waits behind higher ones no longer than half of MaxWait", func(t *testing.T) {
		m, clk := newTestModel(t, Options{MaxWait: 12 * time.Second}, ptu("p", 600)) // 10 tokens/s
		h := newWaitHarness(t, m)
		// At 100 % until 10 s, then room for one request 1 % (600 ms) later.
		m.Observe("p", 429, headers("retry-after", "10"), nil)
		batch := start(h, "batch", 2)
		clk.Advance(6 * time.Second)
		interactive := start(h, "interactive", 0)
		h.waiting(2)
		clk.Advance(4700 * time.Millisecond) // batch has waited 10.7 s ≥ 6 s, interactive 4.7 s
		if r := h.result("batch", batch); r.err != nil {
			t.Fatalf("batch, waiting past half of MaxWait, was not served first: %v", r.err)
		}
		h.waiting(1)
		clk.Advance(7300 * time.Millisecond) // the interactive one's MaxWait: the batch took the room
		if r := h.result("interactive", interactive); !errors.Is(r.err, ErrNoCapacity) {
			t.Fatalf("interactive: %+v, %v; want no capacity at its MaxWait", r.plan, r.err)
		}
	})
	t.Run("a newcomer is held behind its own priority and the higher ones only", func(t *testing.T) {
		m, _ := newTestModel(t, Options{MaxWait: 3 * time.Second}, ptu("p", 600)) // 10 tokens/s
		h := newWaitHarness(t, m)
		full, _ := m.Choose(cands, 600)
		full.Reservation.Settle(600) // nothing in flight
		ask := func(consumer string, priority int) Ask {
			return Ask{Consumer: consumer, Candidates: cands, Cost: 20, Priority: priority}
		}
		res := make(chan waitResult, 2)
		for _, a := range []Ask{ask("batch", 2), ask("interactive", 0)} {
			go func() {
				p, err := m.Admit(ctx, a)
				res <- waitResult{p, err}
			}()
			<-h.enq // room for 20 in 2 s: held (the interactive one is not behind the batch one)
		}
		h.waiting(2)
		// Another batch request would be served after both: 60 tokens, 6 s.
		p, err := m.Admit(ctx, ask("batch", 2))
		if err != nil || p.Fit != 0 {
			t.Fatalf("third = %+v, %v; want an overflow, not a hold", p, err)
		}
		h.waiting(2)
	})
}
