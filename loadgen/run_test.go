package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGateway answers chat completions the way spillway in front of Azure
// does: usage in the JSON body or in the stream's last event, and the
// x-spillway-* headers. wait, when set, is received from before answering.
type fakeGateway struct {
	wait     chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	mu       sync.Mutex
	bad      []string
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxSeen.Load(); n > m && !f.maxSeen.CompareAndSwap(m, n); m = f.maxSeen.Load() {
	}
	var body chatRequest
	err := json.NewDecoder(r.Body).Decode(&body)
	if err != nil || r.URL.Path != "/openai/deployments/gpt-4o/chat/completions" || r.URL.Query().Get("api-version") != "2024-10-21" ||
		r.Header.Get("api-key") != "k" || r.Header.Get("x-extra") != "yes" || len(body.Messages) != 2 {
		f.mu.Lock()
		f.bad = append(f.bad, fmt.Sprintf("%s %v %v", r.URL, r.Header, err))
		f.mu.Unlock()
		http.Error(w, "bad request", 400)
		return
	}
	if f.wait != nil {
		select {
		case <-f.wait:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("x-spillway-backend", "ptu-eastus")
	w.Header().Set("x-spillway-tier", "ptu")
	w.Header().Set("x-spillway-attempts", "1")
	prompt := len(strings.Fields(body.Messages[1].Content))
	if body.Stream {
		w.Header().Set("content-type", "text/event-stream")
		for range 3 {
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\n")
			w.(http.Flusher).Flush()
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":3,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", prompt, prompt+3)
		return
	}
	w.Header().Set("content-type", "application/json")
	fmt.Fprintf(w, `{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, body.MaxTokens, prompt+body.MaxTokens)
}

func (f *fakeGateway) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bad {
		t.Errorf("malformed request: %s", b)
	}
}

func testConfig(url string) Config {
	return Config{
		URL: url, Key: "k", Model: "gpt-4o", Rate: 200, Duration: 200 * time.Millisecond, Seed: 1, StreamShare: 0.5,
		Mix:    []Size{{Name: "s", Words: 5, MaxTokens: 10, Weight: 1}, {Name: "l", Words: 50, MaxTokens: 20, Weight: 1}},
		Header: http.Header{"X-Extra": {"yes"}},
	}
}

func TestRunRecordsEveryRequest(t *testing.T) {
	f := &fakeGateway{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t)
	plan := Plan(cfg.Seed, Poisson, cfg.Rate, cfg.Duration, cfg.Mix, cfg.StreamShare)
	if len(rep.Results) != len(plan) || len(plan) < 10 {
		t.Fatalf("%d results for %d planned arrivals", len(rep.Results), len(plan))
	}
	streams := 0
	for i, r := range rep.Results {
		a := plan[i]
		size := cfg.Mix[a.Size]
		want := Result{Seq: a.Seq, Size: size.Name, Stream: a.Stream, Scheduled: a.At, Status: 200, Backend: "ptu-eastus", Tier: "ptu", Attempts: 1,
			UsageKnown: true, PromptTokens: size.Words + 1, CompletionTokens: 3, TotalTokens: size.Words + 4}
		if !a.Stream {
			want.CompletionTokens, want.TotalTokens = size.MaxTokens, size.Words+1+size.MaxTokens
		} else {
			streams++
		}
		got := r
		got.Sent, got.TTFB, got.Latency, got.TTFT = 0, 0, 0, 0
		if got != want {
			t.Errorf("result %d = %+v, want %+v", i, got, want)
		}
		if a.Stream != (r.TTFT > 0) || r.TTFT > r.Latency {
			t.Errorf("result %d: stream %v, ttft %v, latency %v", i, a.Stream, r.TTFT, r.Latency)
		}
		if r.Sent < r.Scheduled || r.TTFB <= 0 || r.Latency < r.TTFB {
			t.Errorf("result %d: scheduled %v sent %v ttfb %v latency %v", i, r.Scheduled, r.Sent, r.TTFB, r.Latency)
		}
	}
	if streams == 0 || streams == len(plan) {
		t.Errorf("%d streams of %d requests, want a mix", streams, len(plan))
	}
}

func TestRunIsOpenLoop(t *testing.T) {
	// The server answers nothing until every planned request is in flight:
	// a closed-loop client would stall after the first request.
	f := &fakeGateway{wait: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Arrivals = Fixed
	cfg.Rate, cfg.Duration = 100, 300*time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(f.wait)
		deadline := time.After(10 * time.Second)
		for f.maxSeen.Load() < 30 {
			select {
			case <-deadline:
				return
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // polling, not synchronisation
			}
		}
	}()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t)
	if len(rep.Results) != 30 || f.maxSeen.Load() != 30 {
		t.Errorf("%d results, %d in flight at most; want all 30 in flight before any answer", len(rep.Results), f.maxSeen.Load())
	}
	for _, r := range rep.Results {
		if !r.OK() {
			t.Errorf("request %d: status %d err %q", r.Seq, r.Status, r.Err)
		}
	}
}

func TestRunCapsInFlight(t *testing.T) {
	// A server that never answers: the first 3 requests stay in flight for
	// the whole sending phase and every later arrival is dropped, not queued.
	f := &fakeGateway{wait: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer close(f.wait)
	cfg := testConfig(srv.URL)
	cfg.Arrivals, cfg.Rate, cfg.Duration, cfg.MaxInFlight, cfg.RequestTimeout = Fixed, 100, 200*time.Millisecond, 3, 2*time.Second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(rep.Results, rep.Elapsed)
	if s.Offered != 20 || s.Sent != 3 || s.Dropped != 17 || s.ByStatus["error"] != 3 || f.maxSeen.Load() > 3 {
		t.Errorf("summary %+v, %d in flight at most; want 3 sent, 17 dropped", s, f.maxSeen.Load())
	}
}

func TestRunStopsByItself(t *testing.T) {
	// A server that never answers: every request times out and Run returns
	// after the sending phase plus one request timeout.
	f := &fakeGateway{wait: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer close(f.wait)
	cfg := testConfig(srv.URL)
	cfg.RequestTimeout = 150 * time.Millisecond
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > cfg.Duration+cfg.RequestTimeout+time.Second {
		t.Errorf("Run took %v", took)
	}
	for _, r := range rep.Results {
		if r.Status != 0 || r.Err != "timeout" {
			t.Errorf("request %d: status %d err %q, want a timeout", r.Seq, r.Status, r.Err)
		}
	}

	t.Run("a cancelled context stops sending", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		cfg := testConfig(srv.URL)
		cfg.Duration = 10 * time.Second
		start := time.Now()
		rep, err := Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second || len(rep.Results) > 30 {
			t.Errorf("Run took %v and sent %d after its context ended", took, len(rep.Results))
		}
	})
}

func TestRunStatusesAndIncompleteStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Stream {
			w.Header().Set("content-type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[],\"usage\":null}\n\n") // no [DONE]
			return
		}
		w.Header().Set("content-type", "application/json")
		w.Header().Set("retry-after", "1")
		w.WriteHeader(429)
		fmt.Fprint(w, `{"error":{"code":"429","message":"Rate limit is exceeded."}}`)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(rep.Results, rep.Elapsed)
	if s.ByStatus["429"] == 0 || s.ByStatus["incomplete"] == 0 || s.ByStatus["429"]+s.ByStatus["incomplete"] != s.Sent || s.Latency.N != 0 {
		t.Errorf("summary = %+v", s)
	}
	for _, r := range rep.Results {
		if want := map[bool]string{true: "", false: "429: Rate limit is exceeded."}[r.Stream]; r.ErrorBody != want {
			t.Errorf("result %d: error body %q, want %q", r.Seq, r.ErrorBody, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1", Model: "m", Rate: 1, Duration: time.Second}
	for _, c := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"url", func(c *Config) { c.URL = "127.0.0.1:10000" }, "url:"},
		{"model", func(c *Config) { c.Model = "" }, "model:"},
		{"rate", func(c *Config) { c.Rate = 0 }, "rate:"},
		{"rate cap", func(c *Config) { c.Rate = MaxRate + 1 }, "rate:"},
		{"duration cap", func(c *Config) { c.Duration = MaxDuration + 1 }, "duration:"},
		{"stream share", func(c *Config) { c.StreamShare = 1.5 }, "stream share:"},
		{"arrivals", func(c *Config) { c.Arrivals = "bursty" }, "arrivals:"},
		{"mix", func(c *Config) { c.Mix = []Size{{Words: 0, MaxTokens: 1}} }, "mix[0]:"},
		{"every problem at once", func(c *Config) { c.Model, c.Rate = "", -1 }, "model:"},
		{"closed loop", func(c *Config) { c.Rate, c.Requests = 0, 3 }, ""},
		{"closed loop with a rate", func(c *Config) { c.Requests = 3 }, "rate:"},
		{"requests cap", func(c *Config) { c.Rate, c.Requests = 0, MaxRequests+1 }, "requests:"},
		{"concurrency", func(c *Config) { c.Rate, c.Requests, c.Concurrency = 0, 3, -1 }, "concurrency:"},
		{"classes", func(c *Config) { c.Classes = []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 0}} }, ""},
		{"class names", func(c *Config) { c.Classes = []Class{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}} }, "classes[1]:"},
		{"a class without a name", func(c *Config) { c.Classes = []Class{{Weight: 1}} }, "classes[0]:"},
		{"classes without weight", func(c *Config) { c.Classes = []Class{{Name: "a"}, {Name: "b", Weight: -1}} }, "classes:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.modify(&cfg)
			_, err := Run(context.Background(), cfg)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one naming %q", err, c.want)
			}
			if c.name == "every problem at once" && !strings.Contains(err.Error(), "rate:") {
				t.Errorf("error = %v, want every problem", err)
			}
		})
	}
}

// TestRunClasses: each request carries its class's api-key and name, in
// the classes' exact shares, open loop and closed.
func TestRunClasses(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]string{} // by prompt's "Request N."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		keys[strings.Fields(body.Messages[1].Content)[1]] = r.Header.Get("api-key")
		mu.Unlock()
		w.Header().Set("content-type", "application/json")
		fmt.Fprint(w, `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer srv.Close()
	classes := []Class{{Name: "interactive", Key: "ik", Weight: 0.3}, {Name: "batch", Key: "bk", Weight: 0.7}}
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("closed=%v", closed), func(t *testing.T) {
			mu.Lock()
			clear(keys)
			mu.Unlock()
			cfg := Config{URL: srv.URL, Key: "unused", Model: "gpt-4o", Rate: 1000, Duration: 200 * time.Millisecond,
				Arrivals: Fixed, Seed: 4, Classes: classes}
			if closed {
				cfg.Rate, cfg.Requests, cfg.Duration = 0, 200, 30*time.Second
			}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 200 {
				t.Fatalf("%d results, want 200", len(rep.Results))
			}
			n := map[string]int{}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rep.Results {
				if !r.OK() {
					t.Fatalf("request %d: %+v", r.Seq, r)
				}
				want := map[string]string{"interactive": "ik", "batch": "bk"}[r.Class]
				if got := keys[fmt.Sprintf("%d.", r.Seq)]; got != want || want == "" {
					t.Errorf("request %d of class %q sent api-key %q, want %q", r.Seq, r.Class, got, want)
				}
				n[r.Class]++
			}
			if n["interactive"] != 60 || n["batch"] != 140 {
				t.Errorf("classes %v, want interactive 60 and batch 140 of 200", n)
			}
		})
	}
}
