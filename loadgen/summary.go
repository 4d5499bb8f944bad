package loadgen

import (
	"math"
	"slices"
	"strconv"
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
	// Attempts is the sum of x-spillway-attempts.
	Attempts int `json:"attempts"`
	// TotalTokens is the usage of the successful responses.
	TotalTokens int       `json:"total_tokens"`
	Latency     Quantiles `json:"latency_ms"`
	TTFB        Quantiles `json:"ttfb_ms"`
	ElapsedS    float64   `json:"elapsed_s"`
}

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
	s := Summary{Offered: len(results), ByStatus: map[string]int{}, ByBackend: map[string]int{}, ElapsedS: elapsed.Seconds()}
	var lat, ttfb []time.Duration
	for _, r := range results {
		if r.Dropped {
			s.Dropped++
			continue
		}
		s.Sent++
		switch {
		case r.Status == 0:
			s.ByStatus["error"]++
			continue
		case r.Status/100 == 2 && r.Err != "":
			s.ByStatus["incomplete"]++
		default:
			s.ByStatus[strconv.Itoa(r.Status)]++
		}
		s.ByBackend[r.Backend]++
		s.Attempts += r.Attempts
		if r.OK() {
			s.TotalTokens += r.TotalTokens
			lat = append(lat, r.Latency)
			ttfb = append(ttfb, r.TTFB)
		}
	}
	s.Latency, s.TTFB = QuantilesOf(lat), QuantilesOf(ttfb)
	return s
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
