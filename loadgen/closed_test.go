package loadgen

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRunClosedLoop(t *testing.T) {
	for _, c := range []struct {
		name                  string
		requests, concurrency int
	}{
		{"one worker", 7, 1},
		{"more workers than requests", 3, 8},
		{"many", 60, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeGateway{}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.Rate, cfg.Duration, cfg.Requests, cfg.Concurrency = 0, 0, c.requests, c.concurrency
			cfg.Progress = &Progress{}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.check(t)
			if len(rep.Results) != c.requests {
				t.Fatalf("%d results, want %d", len(rep.Results), c.requests)
			}
			plan := ClosedPlan(cfg.Seed, c.requests, cfg.Mix, cfg.StreamShare)
			for i, r := range rep.Results {
				if r.Seq != i || !r.OK() || r.Size != cfg.Mix[plan[i].Size].Name || r.Stream != plan[i].Stream {
					t.Errorf("result %d = %+v, plan %+v", i, r, plan[i])
				}
			}
			if got := int(f.maxSeen.Load()); got > c.concurrency {
				t.Errorf("%d requests in flight at once, want at most %d", got, c.concurrency)
			}
			want := ProgressSnapshot{Sent: int64(c.requests), Done: int64(c.requests), OK: int64(c.requests), PTU: int64(c.requests)}
			if got := cfg.Progress.Snapshot(); got != want {
				t.Errorf("progress = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRunClosedLoopStopsAtDuration(t *testing.T) {
	f := &fakeGateway{wait: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	go func() {
		// Each request waits 20ms: two workers send about 10 in 100ms, far from 1000.
		for {
			select {
			case f.wait <- struct{}{}:
			case <-t.Context().Done():
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	cfg := testConfig(srv.URL)
	cfg.Rate, cfg.Duration, cfg.Requests, cfg.Concurrency = 0, 100*time.Millisecond, 1000, 2
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Results); n == 0 || n >= 100 {
		t.Errorf("%d requests sent in a 100ms closed loop of 20ms requests", n)
	}
	for i, r := range rep.Results {
		if r.Seq != i || r.Status == 0 {
			t.Errorf("result %d = %+v", i, r)
		}
	}
}

func TestClosedPlan(t *testing.T) {
	mix := []Size{{Name: "a", Words: 1, MaxTokens: 1, Weight: 3}, {Name: "b", Words: 1, MaxTokens: 1, Weight: 1}}
	p := ClosedPlan(5, 200, mix, 0.25)
	if len(p) != 200 {
		t.Fatalf("%d arrivals", len(p))
	}
	var a, streams int
	for i, x := range p {
		if x.Seq != i || x.At != 0 {
			t.Errorf("arrival %d = %+v", i, x)
		}
		if x.Size == 0 {
			a++
		}
		if x.Stream {
			streams++
		}
	}
	// The deck deals exact proportions per 100 cards.
	if a != 150 {
		t.Errorf("%d of 200 are size a, want 150", a)
	}
	if streams < 25 || streams > 75 {
		t.Errorf("%d of 200 stream at share 0.25", streams)
	}
	if q := ClosedPlan(5, 200, mix, 0.25); q[17] != p[17] || q[199] != p[199] {
		t.Error("same seed, different plan")
	}
}
