package limits

import (
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

// BenchmarkChargeSettle is one limited request's work on the memory store:
// its charge against a tpm, an rpm and a quota, and its correction, with
// the window holding a minute of 50 requests a second.
func BenchmarkChargeSettle(b *testing.B) {
	clk := capacitytest.NewFakeClock(time.Unix(1_800_000_000, 0))
	l := New(NewMemory(), clk, nil)
	r := &Rules{Window: time.Minute, All: Scope{TPM: 1 << 40, RPM: 1 << 40, Quota: &Quota{Tokens: 1 << 50, Period: Period{Kind: "monthly", Loc: time.UTC}}}}
	for b.Loop() {
		clk.Advance(20 * time.Millisecond)
		c := l.Charge(r, "c", "m", 1000)
		c.Settle(600)
	}
}
