package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"ms first", http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{"seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"none", http.Header{}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.h); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRetryAfter429: each 429 with a retry time is retried once, no sooner
// than that; a 429 without one is not retried.
func TestRetryAfter429(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]time.Time{} // by prompt: when each attempt arrived
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		_ = json.NewDecoder(r.Body).Decode(&body)
		p := body.Messages[1].Content
		mu.Lock()
		seen[p] = append(seen[p], time.Now())
		n := len(seen[p])
		mu.Unlock()
		seq := strings.Fields(p)[1] // "Request N."
		switch {
		case n == 1 && seq == "0.":
			w.Header().Set("retry-after-ms", "60")
			w.WriteHeader(429)
		case n == 1 && seq == "1.":
			w.WriteHeader(429) // no retry time
		case n == 1 && seq == "2.":
			w.Header().Set("retry-after", "0.05")
			w.WriteHeader(429)
		case n == 2 && seq == "2.":
			w.WriteHeader(429) // the retry fails too: not retried again
		default:
			w.Header().Set("content-type", "application/json")
			_, _ = w.Write([]byte(`{"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}`))
			return
		}
		_, _ = w.Write([]byte(`{"error":{"code":"429","message":"x"}}`))
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Config{URL: srv.URL, Model: "m", Requests: 4, Concurrency: 4, Duration: 5 * time.Second,
		Mix: []Size{{Name: "s", Words: 3, MaxTokens: 5, Weight: 1}}, RetryAfter429: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]Result{}
	for _, r := range rep.Results {
		got[r.Seq] = r
	}
	if r := got[0]; r.Status != 429 || r.RetryAfter != 60*time.Millisecond || !r.Retry.OK() || r.Retry.TotalTokens != 10 {
		t.Errorf("seq 0: %+v %+v, want a 429 retried successfully after 60ms", r, r.Retry)
	}
	if r := got[1]; r.Status != 429 || r.RetryAfter != 0 || r.Retry != nil {
		t.Errorf("seq 1: %+v, want a 429 without retry time, not retried", r)
	}
	if r := got[2]; r.Retry == nil || r.Retry.Status != 429 || r.Retry.OK() {
		t.Errorf("seq 2: %+v, want a retry that got 429", r.Retry)
	}
	if r := got[3]; r.Status != 200 || r.Retry != nil {
		t.Errorf("seq 3: %+v, want a 200 without retry", r)
	}
	mu.Lock()
	defer mu.Unlock()
	for p, at := range seen {
		if strings.HasPrefix(p, "Request 0.") && (len(at) != 2 || at[1].Sub(at[0]) < 60*time.Millisecond) {
			t.Errorf("seq 0 attempts at %v: want the retry at least 60ms after the 429", at)
		}
		if strings.HasPrefix(p, "Request 2.") && len(at) != 2 {
			t.Errorf("seq 2: %d attempts, want 2", len(at))
		}
	}
}
