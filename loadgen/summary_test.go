package loadgen

import (
	"maps"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}, {0.5, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile of one = %v, want 7", got)
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	results := []Result{
		{Status: 200, Backend: "ptu", Attempts: 1, Latency: 10 * ms, TTFB: 2 * ms, TotalTokens: 100},
		{Status: 200, Backend: "tpm", Attempts: 2, Latency: 30 * ms, TTFB: 4 * ms, TotalTokens: 50},
		{Status: 200, Backend: "tpm", Attempts: 2, Latency: 90 * ms, Err: "incomplete", TotalTokens: 7},
		{Status: 429, Backend: "tpm", Attempts: 3, Latency: 1 * ms},
		{Err: "timeout"},
		{Dropped: true},
	}
	s := Summarize(results, 2*time.Second)
	if s.Offered != 6 || s.Sent != 5 || s.Dropped != 1 || s.Attempts != 8 || s.TotalTokens != 150 || s.ElapsedS != 2 {
		t.Errorf("counts = %+v", s)
	}
	if want := map[string]int{"200": 2, "incomplete": 1, "429": 1, "error": 1}; !maps.Equal(s.ByStatus, want) {
		t.Errorf("by status = %v, want %v", s.ByStatus, want)
	}
	if want := map[string]int{"ptu": 1, "tpm": 3}; !maps.Equal(s.ByBackend, want) {
		t.Errorf("by backend = %v, want %v", s.ByBackend, want)
	}
	if want := (Quantiles{N: 2, P50: 10, P90: 30, P99: 30, Max: 30}); s.Latency != want {
		t.Errorf("latency = %+v, want %+v (complete 2xx only)", s.Latency, want)
	}
	if want := (Quantiles{N: 2, P50: 2, P90: 4, P99: 4, Max: 4}); s.TTFB != want {
		t.Errorf("ttfb = %+v, want %+v", s.TTFB, want)
	}
}
