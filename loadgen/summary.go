package loadgen

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is a run's figures, as `spillway load` prints them.
type Summary struct {
	Offered int `json:"offered"`
	Sent    int `json:"sent"`
	Dropped int `json:"dropped"`
	// ByStatus counts responses by HTTP status; "error" counts requests
	// with no response, "incomplete" 2xx streams or bodies cut short.
	ByStatus map[string]int `json:"by_status"`
	// ByBackend counts responses by x-spillway-backend ("" when absent).
	ByBackend map[string]int `json:"by_backend"`
	// ByTier counts responses by x-spillway-tier ("" when absent).
	ByTier map[string]int `json:"by_tier"`
	// Attempts is the sum of x-spillway-attempts.
	Attempts int `json:"attempts"`
	// Retried counts responses that took more than one upstream attempt.
	Retried int `json:"retried"`
	// FailedAttempts counts upstream attempts that failed, as the headers
	// tell: every attempt before the last (spillway retries only on the
	// retry status codes: 429 and 5xx by default), and the last one of a
	// 429 or 5xx answer that carries x-spillway-attempts.
	FailedAttempts int `json:"failed_attempts"`
	// Upstream429 counts 429 answers that came from a backend (with
	// x-spillway-attempts), Local429 those spillway gave without trying one.
	Upstream429 int `json:"upstream_429"`
	Local429    int `json:"local_429"`
	// TotalTokens is the usage of the successful responses.
	TotalTokens int `json:"total_tokens"`
	// TokensByBackend and TokensByTier add up the usage of every response
	// that reported one, by x-spillway-backend and x-spillway-tier.
	TokensByBackend map[string]Tokens `json:"tokens_by_backend"`
	TokensByTier    map[string]Tokens `json:"tokens_by_tier"`
	Latency         Quantiles         `json:"latency_ms"`
	TTFB            Quantiles         `json:"ttfb_ms"`
	// TTFT is the time to first token of complete 2xx streams.
	TTFT     Quantiles `json:"ttft_ms"`
	ElapsedS float64   `json:"elapsed_s"`
	// TopErrors are the most frequent error answers, most frequent first.
	TopErrors []ErrorCount `json:"top_errors,omitempty"`
}

// Tokens is the usage of a group of responses.
type Tokens struct {
	Requests   int `json:"requests"`
	Prompt     int `json:"prompt"`
	Completion int `json:"completion"`
	Total      int `json:"total"`
}

// ErrorCount is how often one error answer came back.
type ErrorCount struct {
	// Status is the HTTP status, or "error" for a request with no answer.
	Status string `json:"status"`
	// Body is the error: "code: message" of an Azure-shaped body, the
	// body's start otherwise, or the transport error. Bodies that differ
	// only in their numbers count as one; Body is the first one seen.
	Body  string `json:"body"`
	Count int    `json:"count"`
}

// topErrors is how many distinct errors a Summary keeps.
const topErrors = 5

// Quantiles of a duration, in milliseconds, over complete 2xx responses.
type Quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize counts and ranks results.
func Summarize(results []Result, elapsed time.Duration) Summary {
	s := Summary{Offered: len(results), ByStatus: map[string]int{}, ByBackend: map[string]int{}, ByTier: map[string]int{},
		TokensByBackend: map[string]Tokens{}, TokensByTier: map[string]Tokens{}, ElapsedS: elapsed.Seconds()}
	var lat, ttfb, ttft []time.Duration
	errs := errorCounter{}
	for _, r := range results {
		if r.Dropped {
			s.Dropped++
			continue
		}
		s.Sent++
		switch {
		case r.Status == 0:
			s.ByStatus["error"]++
			errs.add("error", r.Err)
			continue
		case r.Status/100 == 2 && r.Err != "":
			s.ByStatus["incomplete"]++
			errs.add(strconv.Itoa(r.Status), r.Err)
		default:
			s.ByStatus[strconv.Itoa(r.Status)]++
			if r.Status/100 != 2 {
				errs.add(strconv.Itoa(r.Status), r.ErrorBody)
			}
		}
		s.ByBackend[r.Backend]++
		s.ByTier[r.Tier]++
		s.Attempts += r.Attempts
		if r.Attempts > 1 {
			s.Retried++
		}
		if r.Attempts > 0 {
			s.FailedAttempts += r.Attempts - 1
			if r.Status == 429 || r.Status/100 == 5 {
				s.FailedAttempts++
			}
		}
		if r.Status == 429 {
			if r.Attempts > 0 {
				s.Upstream429++
			} else {
				s.Local429++
			}
		}
		if r.UsageKnown {
			addTokens(s.TokensByBackend, r.Backend, r)
			addTokens(s.TokensByTier, r.Tier, r)
		}
		if r.OK() {
			s.TotalTokens += r.TotalTokens
			lat = append(lat, r.Latency)
			ttfb = append(ttfb, r.TTFB)
			if r.Stream && r.TTFT > 0 {
				ttft = append(ttft, r.TTFT)
			}
		}
	}
	s.Latency, s.TTFB, s.TTFT = QuantilesOf(lat), QuantilesOf(ttfb), QuantilesOf(ttft)
	for _, e := range errs {
		s.TopErrors = append(s.TopErrors, *e)
	}
	slices.SortFunc(s.TopErrors, func(a, b ErrorCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Status+a.Body, b.Status+b.Body)
	})
	s.TopErrors = s.TopErrors[:min(len(s.TopErrors), topErrors)]
	return s
}

// errorCounter groups error answers by status and body, numbers aside:
// "retry after 21 seconds" and "retry after 3 seconds" are one error. Each
// group keeps the first body seen as its example.
type errorCounter map[string]*ErrorCount

var digits = regexp.MustCompile(`[0-9]+`)

func (c errorCounter) add(status, body string) {
	key := status + " " + digits.ReplaceAllString(body, "#")
	e, ok := c[key]
	if !ok {
		e = &ErrorCount{Status: status, Body: body}
		c[key] = e
	}
	e.Count++
}

// addTokens adds r's usage to m[key].
func addTokens(m map[string]Tokens, key string, r Result) {
	t := m[key]
	t.Requests++
	t.Prompt += r.PromptTokens
	t.Completion += r.CompletionTokens
	t.Total += r.TotalTokens
	m[key] = t
}

// QuantilesOf ranks ds (nearest rank); ds is sorted in place.
func QuantilesOf(ds []time.Duration) Quantiles {
	slices.Sort(ds)
	return Quantiles{N: len(ds), P50: ms(Percentile(ds, 50)), P90: ms(Percentile(ds, 90)), P99: ms(Percentile(ds, 99)), Max: ms(Percentile(ds, 100))}
}

// Percentile is the nearest-rank p-th percentile of sorted; 0 when empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
