package limits

import (
	"crypto/rand"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Clock is the limiter's time source.
type Clock interface{ Now() time.Time }

// Kind is what a rule counts.
type Kind string

// Rule kinds.
const (
	KindTPM   Kind = "tpm"   // tokens per window
	KindRPM   Kind = "rpm"   // requests per window
	KindQuota Kind = "quota" // tokens per period
)

// Rules are one consumer's limits.
type Rules struct {
	// Window is the length of the tpm and rpm windows (a minute; tests
	// shorten it).
	Window time.Duration
	// Every request of the consumer is checked against All, and a
	// request for a model of Models against that model's too.
	All    Scope
	Models map[string]Scope
}

// Scope is the limits of one scope: a consumer, or a consumer × model.
// Zero values mean no limit.
type Scope struct {
	TPM, RPM int64
	Quota    *Quota
}

// Quota is a token budget per period.
type Quota struct {
	Tokens int64
	Period Period
}

// Limiter charges requests against their consumer's rules.
type Limiter struct {
	store    Store
	fallback *Memory
	clock    Clock
	log      *slog.Logger
	degraded atomic.Bool
}

// New returns a limiter keeping its counters in store. When the
// store fails, the limiter counts in this process's memory until it
// answers again (each replica then enforces the limits on its own).
func New(store Store, clock Clock, log *slog.Logger) *Limiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{store: store, fallback: NewMemory(), clock: clock, log: log}
}

// rule is one check with what it is.
type rule struct {
	Kind  Kind
	Model string // "" for the consumer-wide scope
	Limit int64
	// Period and Start: a quota's period and the start of the one in force.
	Period Period
	Start  time.Time
}

// checks lists the checks of a request for model by key (quotas first, so a
// request over both its quota and its rate is told of the quota), with cost.
func (l *Limiter) checks(now time.Time, r *Rules, key, model string, cost int64) ([]Check, []rule) {
	var checks []Check
	var rules []rule
	scopes := []struct {
		model string
		s     Scope
	}{{"", r.All}}
	if s, ok := r.Models[model]; ok {
		scopes = append(scopes, struct {
			model string
			s     Scope
		}{model, s})
	}
	for _, sc := range scopes {
		if q := sc.s.Quota; q != nil {
			start, end := q.Period.Bounds(now)
			checks = append(checks, Check{Key: counterKey(key, sc.model, "quota:"+q.Period.String()+":"+strconv.FormatInt(start.Unix(), 10)), Limit: q.Tokens, Cost: cost, Until: end})
			rules = append(rules, rule{Kind: KindQuota, Model: sc.model, Limit: q.Tokens, Period: q.Period, Start: start})
		}
	}
	for _, sc := range scopes {
		if sc.s.TPM > 0 {
			checks = append(checks, Check{Key: counterKey(key, sc.model, "tpm"), Limit: sc.s.TPM, Cost: cost, Window: r.Window})
			rules = append(rules, rule{Kind: KindTPM, Model: sc.model, Limit: sc.s.TPM})
		}
		if sc.s.RPM > 0 {
			checks = append(checks, Check{Key: counterKey(key, sc.model, "rpm"), Limit: sc.s.RPM, Cost: 1, Window: r.Window})
			rules = append(rules, rule{Kind: KindRPM, Model: sc.model, Limit: sc.s.RPM})
		}
	}
	return checks, rules
}

// counterKey names a counter: the limit key, the model for a per-model
// rule, and the rule.
func counterKey(key, model, what string) string {
	if model != "" {
		return key + "|m=" + model + "|" + what
	}
	return key + "|" + what
}

// Charge checks a request for model, costing cost tokens, against r under
// the limit key key (the consumer, or the consumer and a header or claim
// value). It charges every rule or none: Charge.OK says which.
func (l *Limiter) Charge(r *Rules, key, model string, cost int64) *Charge {
	now := l.clock.Now()
	checks, rules := l.checks(now, r, key, model, cost)
	c := &Charge{l: l, id: rand.Text(), checks: checks, rules: rules, store: l.store}
	if len(checks) == 0 {
		c.Verdict = Verdict{OK: true, Refused: -1}
		return c
	}
	v, err := l.store.Charge(now, c.id, checks)
	if err != nil {
		l.storeFailed(err)
		c.store = l.fallback
		v, _ = l.fallback.Charge(now, c.id, checks)
	} else {
		l.storeAnswered()
	}
	c.Verdict = v
	return c
}

func (l *Limiter) storeFailed(err error) {
	if !l.degraded.Swap(true) {
		l.log.Error("limits store unreachable: counting consumers' limits in this replica until it answers", slog.String("error", err.Error()))
	}
}

func (l *Limiter) storeAnswered() {
	if l.degraded.Swap(false) {
		l.log.Info("limits store reachable again: consumers' limits are shared again")
	}
}

// Charge is one request's charge (or refusal).
type Charge struct {
	Verdict
	l      *Limiter
	store  Store
	id     string
	checks []Check
	rules  []rule
	ended  bool
}

// Refusal says which rule refused a request and until when.
type Refusal struct {
	Kind  Kind
	Model string // "" for a consumer-wide rule
	Limit int64
	Used  int64
	Cost  int64
	// RetryAt is when the rule has room for the request: the exact moment
	// for a window, the renewal for a quota.
	RetryAt time.Time
	// Period is a quota's.
	Period Period
}

// Refusal is why the request was refused; ok is false when it was not.
func (c *Charge) Refusal() (Refusal, bool) {
	if c.OK {
		return Refusal{}, false
	}
	i := c.Refused
	r := c.rules[i]
	return Refusal{Kind: r.Kind, Model: r.Model, Limit: r.Limit, Used: c.Used[i], Cost: c.checks[i].Cost, RetryAt: c.RetryAt, Period: r.Period}, true
}

// Remaining is what a consumer has left after a request's charge: the
// least over its rules of each kind, -1 for a kind with no rule.
type Remaining struct {
	Tokens, Requests, QuotaTokens int64
}

// Remaining reports what the rules have left.
func (c *Charge) Remaining() Remaining {
	out := Remaining{-1, -1, -1}
	for i, r := range c.rules {
		left := max(r.Limit-c.Used[i], 0)
		p := &out.Tokens
		switch r.Kind {
		case KindRPM:
			p = &out.Requests
		case KindQuota:
			p = &out.QuotaTokens
		}
		if *p < 0 || left < *p {
			*p = left
		}
	}
	return out
}

// Settle corrects an admitted charge to the tokens the request really used.
func (c *Charge) Settle(tokens int64) { c.end(tokens, false) }

// Release removes an admitted charge: the request failed or was cancelled,
// and is counted neither in tokens nor in requests.
func (c *Charge) Release() { c.end(0, true) }

func (c *Charge) end(tokens int64, release bool) {
	if c == nil || !c.OK || c.ended || len(c.checks) == 0 {
		return
	}
	c.ended = true
	amounts := make([]int64, len(c.checks))
	changed := false
	for i, r := range c.rules {
		switch {
		case release:
			amounts[i] = 0
		case r.Kind == KindRPM:
			amounts[i] = c.checks[i].Cost
		default:
			amounts[i] = tokens
		}
		changed = changed || amounts[i] != c.checks[i].Cost
	}
	if !changed {
		return
	}
	if err := c.store.Correct(c.l.clock.Now(), c.id, c.checks, amounts); err != nil {
		c.l.log.Error("consumer limit charge not corrected", slog.String("error", err.Error()))
	}
}

// State is one rule's use now.
type State struct {
	Kind   Kind   `json:"kind"`
	Model  string `json:"model,omitempty"`
	Limit  int64  `json:"limit"`
	Used   int64  `json:"used"`
	Window string `json:"window,omitempty"`
	// Period, PeriodStart and RenewsAt describe a quota.
	Period      string     `json:"period,omitempty"`
	PeriodStart *time.Time `json:"period_start,omitempty"`
	RenewsAt    *time.Time `json:"renews_at,omitempty"`
}

// States reports the use of every rule of r under key.
func (l *Limiter) States(r *Rules, key string) []State {
	now := l.clock.Now()
	var out []State
	// Every model's rules, each model once: the consumer-wide ones
	// come with the first.
	models := []string{""}
	for m := range r.Models {
		models = append(models, m)
	}
	slices.Sort(models)
	{
		seen := map[string]bool{}
		for _, m := range models {
			checks, rules := l.checks(now, r, key, m, 0)
			used, err := l.store.Use(now, checks)
			if err != nil {
				used, _ = l.fallback.Use(now, checks)
			}
			for i, ru := range rules {
				if seen[checks[i].Key] {
					continue
				}
				seen[checks[i].Key] = true
				s := State{Kind: ru.Kind, Model: ru.Model, Limit: ru.Limit, Used: used[i]}
				if ru.Kind == KindQuota {
					start, end := ru.Start, checks[i].Until
					s.Period, s.PeriodStart, s.RenewsAt = ru.Period.String(), &start, &end
				} else {
					s.Window = r.Window.String()
				}
				out = append(out, s)
			}
		}
	}
	return out
}
