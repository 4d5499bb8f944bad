package loadgen

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// reportResults is a run with every kind of answer.
func reportResults() []Result {
	ms := time.Millisecond
	u := func(r Result, p, c int) Result {
		r.UsageKnown, r.PromptTokens, r.CompletionTokens, r.TotalTokens = true, p, c, p+c
		return r
	}
	return []Result{
		u(Result{Status: 200, Backend: "ptu-a", Tier: "ptu", Attempts: 1, Latency: 10 * ms, TTFB: 2 * ms}, 100, 10),
		u(Result{Status: 200, Backend: "ptu-a", Tier: "ptu", Attempts: 1, Stream: true, Latency: 20 * ms, TTFB: 2 * ms, TTFT: 5 * ms}, 50, 5),
		u(Result{Status: 200, Backend: "tpm-b", Tier: "tpm", Attempts: 2, Latency: 40 * ms, TTFB: 3 * ms}, 200, 20),
		{Status: 429, Backend: "tpm-b", Tier: "tpm", Attempts: 3, ErrorBody: "429: Rate limit is exceeded."},
		{Status: 429, ErrorBody: "429: no capacity"},
		{Status: 429, ErrorBody: "429: no capacity"},
		{Status: 503, Backend: "tpm-b", Tier: "tpm", Attempts: 1, ErrorBody: "upstream"},
		{Err: "timeout"},
		{Dropped: true},
	}
}

func TestSummarizeUpstreamTokensErrors(t *testing.T) {
	s := Summarize(reportResults(), time.Second)
	got := [...]int{s.Sent, s.Attempts, s.Retried, s.FailedAttempts, s.Upstream429, s.Local429}
	// attempts 1+1+2+3+1; retried: the 2 and the 3; failed: 1 + 3 + 1 (the 503).
	if want := [...]int{8, 8, 2, 5, 1, 2}; got != want {
		t.Errorf("sent, attempts, retried, failed, upstream 429, local 429 = %v, want %v", got, want)
	}
	if want := map[string]int{"ptu": 2, "tpm": 3, "": 2}; !maps.Equal(s.ByTier, want) {
		t.Errorf("by tier = %v, want %v", s.ByTier, want)
	}
	if want := map[string]Tokens{"ptu": {2, 150, 15, 165}, "tpm": {1, 200, 20, 220}}; !maps.Equal(s.TokensByTier, want) {
		t.Errorf("tokens by tier = %v, want %v", s.TokensByTier, want)
	}
	if want := map[string]Tokens{"ptu-a": {2, 150, 15, 165}, "tpm-b": {1, 200, 20, 220}}; !maps.Equal(s.TokensByBackend, want) {
		t.Errorf("tokens by backend = %v, want %v", s.TokensByBackend, want)
	}
	if want := (Quantiles{N: 1, P50: 5, P90: 5, P99: 5, Max: 5}); s.TTFT != want {
		t.Errorf("ttft = %+v, want %+v (streams only)", s.TTFT, want)
	}
	want := []ErrorCount{{"429", "429: no capacity", 2}, {"429", "429: Rate limit is exceeded.", 1}, {"503", "upstream", 1}, {"error", "timeout", 1}}
	if !slices.Equal(s.TopErrors, want) {
		t.Errorf("top errors = %v, want %v", s.TopErrors, want)
	}
}

func TestTopErrorsAreCapped(t *testing.T) {
	var rs []Result
	for i := range 9 {
		for range i + 1 {
			rs = append(rs, Result{Status: 500 + i, ErrorBody: "e"})
		}
	}
	s := Summarize(rs, time.Second)
	if len(s.TopErrors) != topErrors || s.TopErrors[0] != (ErrorCount{"508", "e", 9}) || s.TopErrors[4].Count != 5 {
		t.Errorf("top errors = %v", s.TopErrors)
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := WriteText(&b, Summarize(reportResults(), 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"9 offered, 8 sent, 1 dropped (in-flight cap) in 2.0s (4.0 sent/s)",
		"  200    3   37.5%  " + strings.Repeat("█", 40) + "\n",
		"  429    3   37.5%  " + strings.Repeat("█", 40) + "\n",
		"  503    1   12.5%  " + strings.Repeat("█", 13) + "\n",
		"  error  1   12.5%  " + strings.Repeat("█", 13) + "\n",
		"  first token (streams)  1  5.0ms",
		"  total                  3  20.0ms  40.0ms  40.0ms  40.0ms",
		"  tpm           1         200     20          220",
		"  ptu-a            2         150     15          165",
		"  attempts           8 for 7 answers (1.14 each)",
		"  failed attempts    5 (429 or 5xx from a backend)",
		"  429 to the client  1 from a backend, 2 from spillway without an upstream attempt",
		"  2×  429    429: no capacity",
		"  1×  error  timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("report has escape codes:\n%q", out)
	}
	if strings.Contains(out, "not spillway") {
		t.Errorf("answers with x-spillway headers reported as not spillway's:\n%s", out)
	}
}

func TestErrorsDifferingInNumbersAreOne(t *testing.T) {
	s := Summarize([]Result{
		{Status: 429, ErrorBody: "429: Please retry after 21 seconds."},
		{Status: 429, ErrorBody: "429: Please retry after 3 seconds."},
		{Status: 429, ErrorBody: "429: Please retry later."},
		{Status: 503, ErrorBody: "429: Please retry after 3 seconds."},
	}, time.Second)
	want := []ErrorCount{{"429", "429: Please retry after 21 seconds.", 2}, {"429", "429: Please retry later.", 1}, {"503", "429: Please retry after 3 seconds.", 1}}
	if !slices.Equal(s.TopErrors, want) {
		t.Errorf("top errors = %v, want %v", s.TopErrors, want)
	}
}
