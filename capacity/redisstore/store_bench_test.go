package redisstore_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/capacity/redisstore"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// BenchmarkRequestState measures what the state store costs one request:
// the decision (Admit), one attempt's observation (a 200) through its
// reservation, and the settlement — memory and Redis (loopback) in the same
// run, with a PING round trip as the floor. It reports p50 and p99 of the
// whole (every call done), p50 of the decision, and p50 of the client's
// path: the decision and the observation as the request waits for them (a
// success's observation and the settlement are queued off the path).
func BenchmarkRequestState(b *testing.B) {
	r := e2etest.StartRedis(b)
	hdr := http.Header{"X-Ratelimit-Remaining-Tokens": {"900000"}, "X-Ratelimit-Remaining-Requests": {"5000"}}
	big := []capacity.BackendSpec{
		{Name: "ptu", Tier: capacity.TierPTU, CapacityTPM: 1 << 40},
		{Name: "tpm-a", Tier: capacity.TierTPM, TPM: 1 << 40, RPM: 1 << 30},
		{Name: "tpm-b", Tier: capacity.TierTPM, TPM: 1 << 40, RPM: 1 << 30},
	}
	// Baseline: one PING round trip on the same client library and server.
	b.Run("ping", func(b *testing.B) {
		c := client(b, r.Addr)
		ds := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := c.Do(b.Context(), c.B().Ping().Build()).Error(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		b.ReportMetric(pct(ds, 50), "p50-µs/ping")
	})
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			m := capacity.New(capacity.SystemClock{}, capacity.Options{})
			m.SetBackends(big)
			if store == "redis" {
				c := client(b, r.Addr)
				m.Share(capacity.Sharing{Store: redisstore.New(b.Context(), c, redisstore.Options{KeyPrefix: "bench:", Timeout: time.Second}), Replicas: 2})
			}
			whole := make([]time.Duration, 0, b.N)
			decide := make([]time.Duration, 0, b.N)
			path := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				p, err := m.Admit(b.Context(), capacity.Ask{Candidates: names, Cost: 1200})
				t1 := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				p.Reservation.Observe(200, hdr.Get, nil)
				t2 := time.Now()
				p.Reservation.Settle(1000)
				m.Sync()
				whole = append(whole, time.Since(t0))
				decide = append(decide, t1.Sub(t0))
				path = append(path, t2.Sub(t0))
			}
			b.StopTimer()
			if m.StoreStatus().Degraded {
				b.Fatalf("store degraded during the run: %+v", m.StoreStatus())
			}
			b.ReportMetric(pct(whole, 50), "p50-µs/req")
			b.ReportMetric(pct(whole, 99), "p99-µs/req")
			b.ReportMetric(pct(decide, 50), "p50-µs/decision")
			b.ReportMetric(pct(path, 50), "p50-µs/client-path")
		})
	}
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Nanoseconds()) / 1e3
}
