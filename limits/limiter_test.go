package limits

import (
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newLimiter(start time.Time) (*Limiter, *capacitytest.FakeClock) {
	clk := capacitytest.NewFakeClock(start)
	return New(NewMemory(), clk, nil), clk
}

// step is one request at an offset from the start: its cost, whether it
// must be admitted, and when refused, the exact retry time's offset.
type step struct {
	at      time.Duration
	cost    int64
	ok      bool
	retryAt time.Duration
}

func run(t *testing.T, l *Limiter, clk *capacitytest.FakeClock, r *Rules, model string, steps []step) {
	t.Helper()
	start := clk.Now()
	for i, s := range steps {
		clk.Set(start.Add(s.at))
		c := l.Charge(r, "c", model, s.cost)
		if c.OK != s.ok {
			t.Fatalf("step %d (at %v, cost %d): admitted %v, want %v (used %v)", i, s.at, s.cost, c.OK, s.ok, c.Used)
		}
		if !s.ok {
			ref, _ := c.Refusal()
			if want := start.Add(s.retryAt); !ref.RetryAt.Equal(want) {
				t.Fatalf("step %d: retry at %v, want %v", i, ref.RetryAt.Sub(start), s.retryAt)
			}
		}
	}
}

func TestWindow(t *testing.T) {
	tpm := &Rules{Window: time.Minute, All: Scope{TPM: 1000}}
	for _, tc := range []struct {
		name  string
		rules *Rules
		steps []step
	}{
		{"charges leave exactly one window after they were made", tpm, []step{
			{0, 600, true, 0},
			{10 * time.Second, 400, true, 0},
			{20 * time.Second, 1, false, 60 * time.Second},
			{60*time.Second - time.Microsecond, 1, false, 60 * time.Second},
			{60 * time.Second, 1, true, 0},
		}},
		{"retry-after waits for as many charges as the cost needs", tpm, []step{
			{0, 300, true, 0},
			{10 * time.Second, 300, true, 0},
			{20 * time.Second, 400, true, 0},
			{30 * time.Second, 500, false, 70 * time.Second},
			{70 * time.Second, 500, true, 0},
		}},
		{"a request costing more than the limit runs alone", tpm, []step{
			{0, 5000, true, 0},
			{1 * time.Second, 5000, false, 60 * time.Second},
			{5 * time.Second, 10, false, 60 * time.Second},
			{60 * time.Second, 5000, true, 0},
		}},
		{"rpm counts requests whatever their cost", &Rules{Window: time.Minute, All: Scope{RPM: 2}}, []step{
			{0, 5000, true, 0},
			{time.Second, 5000, true, 0},
			{2 * time.Second, 1, false, 60 * time.Second},
			{60 * time.Second, 1, true, 0},
		}},
		{"a refused request charges no rule", &Rules{Window: time.Minute, All: Scope{TPM: 1000, RPM: 2}}, []step{
			{0, 900, true, 0},
			{time.Second, 200, false, 60 * time.Second}, // tpm refuses: rpm not charged either
			{2 * time.Second, 100, true, 0},             // so this is the second request
			{3 * time.Second, 1, false, 60 * time.Second},
		}},
		{"a model's rules add to the consumer's", &Rules{Window: time.Minute, All: Scope{TPM: 1000}, Models: map[string]Scope{"m": {TPM: 500}}}, []step{
			{0, 400, true, 0},
			{time.Second, 200, false, 60 * time.Second}, // the model's 500
			{2 * time.Second, 100, true, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newLimiter(t0)
			run(t, l, clk, tc.rules, "m", tc.steps)
		})
	}
}

func TestCorrection(t *testing.T) {
	rules := &Rules{Window: time.Minute, All: Scope{TPM: 1000, RPM: 10, Quota: &Quota{Tokens: 5000, Period: Period{Kind: "daily", Loc: time.UTC}}}}
	for _, tc := range []struct {
		name string
		end  func(*Charge)
		// after the end, a request of cost must be admitted or not
		cost int64
		ok   bool
		want Remaining // after that request's charge, if admitted
	}{
		{"settled below the arrival cost frees the rest", func(c *Charge) { c.Settle(200) }, 800, true, Remaining{Tokens: 0, Requests: 8, QuotaTokens: 4000}},
		{"settled at the arrival cost frees nothing", func(c *Charge) { c.Settle(1000) }, 1, false, Remaining{}},
		{"released: no tokens, no request", func(c *Charge) { c.Release() }, 1000, true, Remaining{Tokens: 0, Requests: 9, QuotaTokens: 4000}},
		{"settled above the arrival cost is charged", func(c *Charge) { c.Settle(1200); c.Settle(0) }, 1, false, Remaining{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newLimiter(t0)
			first := l.Charge(rules, "c", "m", 1000)
			if !first.OK {
				t.Fatal("first request refused")
			}
			clk.Advance(5 * time.Second)
			tc.end(first)
			c := l.Charge(rules, "c", "m", tc.cost)
			if c.OK != tc.ok {
				t.Fatalf("admitted %v, want %v (used %v)", c.OK, tc.ok, c.Used)
			}
			if tc.ok {
				if got := c.Remaining(); got != tc.want {
					t.Fatalf("remaining %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestQuotaRenewsInItsTimeZone(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	// Clocks in Paris go forward on 29 March 2026 at 02:00: that day is
	// 23 hours long.
	period, err := ParsePeriod("daily", "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	rules := &Rules{Window: time.Minute, All: Scope{Quota: &Quota{Tokens: 1000, Period: period}}}
	l, clk := newLimiter(time.Date(2026, 3, 28, 23, 30, 0, 0, paris))
	if c := l.Charge(rules, "c", "m", 1000); !c.OK {
		t.Fatal("first request refused")
	}
	clk.Advance(20 * time.Minute) // 23:50
	c := l.Charge(rules, "c", "m", 10)
	ref, refused := c.Refusal()
	if !refused || ref.Kind != KindQuota {
		t.Fatalf("over quota: refused %v by %q", refused, ref.Kind)
	}
	renew := time.Date(2026, 3, 29, 0, 0, 0, 0, paris)
	if !ref.RetryAt.Equal(renew) {
		t.Fatalf("renews at %v, want %v", ref.RetryAt, renew)
	}
	clk.Set(renew.Add(-time.Microsecond))
	if c := l.Charge(rules, "c", "m", 10); c.OK {
		t.Fatal("admitted before the renewal")
	}
	clk.Set(renew)
	c = l.Charge(rules, "c", "m", 1000)
	if !c.OK {
		t.Fatal("refused after the renewal")
	}
	// The short day: the next renewal is 23 hours later.
	clk.Advance(time.Hour)
	ref, _ = l.Charge(rules, "c", "m", 10).Refusal()
	if got := ref.RetryAt.Sub(renew); got != 23*time.Hour {
		t.Fatalf("29 March lasts %v in Paris, want 23h", got)
	}
	// A charge made before the renewal and corrected after it corrects its
	// own period, never the new one.
	clk.Set(time.Date(2026, 3, 29, 23, 59, 0, 0, paris))
	c.Settle(100) // c was charged on the 29th
	old := l.Charge(rules, "c", "m", 900)
	if !old.OK {
		t.Fatal("the 29th's correction did not free its quota")
	}
	clk.Set(time.Date(2026, 3, 30, 0, 1, 0, 0, paris))
	if fresh := l.Charge(rules, "c", "m", 1000); !fresh.OK {
		t.Fatal("the 30th's quota is not fresh")
	}
	old.Release() // corrects the 29th, not the 30th
	if c := l.Charge(rules, "c", "m", 1); c.OK {
		t.Fatalf("a release of the 29th's charge freed the 30th's quota (used %v)", c.Used)
	}
}

func TestStates(t *testing.T) {
	period, _ := ParsePeriod("monthly", "UTC")
	rules := &Rules{Window: time.Minute, All: Scope{TPM: 1000, Quota: &Quota{Tokens: 9000, Period: period}}, Models: map[string]Scope{"m": {RPM: 5}}}
	l, _ := newLimiter(t0)
	l.Charge(rules, "c", "m", 300)
	got := l.States(rules, "c")
	if len(got) != 3 {
		t.Fatalf("states %+v, want 3", got)
	}
	want := []struct {
		kind  Kind
		model string
		used  int64
	}{{KindQuota, "", 300}, {KindTPM, "", 300}, {KindRPM, "m", 1}}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Model != w.model || got[i].Used != w.used {
			t.Errorf("state %d: %+v, want %+v", i, got[i], w)
		}
	}
	if renew := got[0].RenewsAt; renew == nil || !renew.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("quota renews at %v, want 1 April", renew)
	}
}
