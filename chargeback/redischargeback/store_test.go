package redischargeback_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
	"github.com/spillway-gw/spillway/chargeback"
	"github.com/spillway-gw/spillway/chargeback/redischargeback"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// TestSameReportsAsMemory records the same usage through two replicas'
// ledgers on one Redis and through a memory ledger: the reports agree.
func TestSameReportsAsMemory(t *testing.T) {
	r := e2etest.StartRedis(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	conn := func() (rueidis.Client, error) { return c, nil }
	clk := capacitytest.NewFakeClock(time.Date(2026, 5, 1, 0, 10, 0, 0, time.UTC))
	mem := chargeback.New(chargeback.NewMemory(), clk, nil)
	replicas := []*chargeback.Ledger{
		chargeback.New(redischargeback.New(t.Context(), conn, "t:", time.Second), clk, nil),
		chargeback.New(redischargeback.New(t.Context(), conn, "t:", time.Second), clk, nil),
	}
	for i := range 200 {
		k := chargeback.Key{Consumer: fmt.Sprint("c", i%3), Model: "gpt-4o", Tier: []string{"ptu", "tpm"}[i%2], Backend: fmt.Sprint("b", i%2)}
		u := chargeback.Tokens{Input: int64(i * 7), Output: int64(i), Requests: 1}
		mem.Record(k, u)
		replicas[i%2].Record(k, u)
		clk.Advance(7 * time.Minute)
	}
	// Replica 0 flushes (as Run does every second); replica 1's report
	// flushes its own.
	if err := replicas[0].Flush(); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, to := range []time.Time{from.Add(3 * time.Hour), from.Add(48 * time.Hour)} {
		want, err := mem.Report(from, to)
		if err != nil {
			t.Fatal(err)
		}
		got, err := replicas[1].Report(from, to)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 6 {
			t.Fatalf("to %v: redis %v, memory %v", to, got, want)
		}
	}
}
