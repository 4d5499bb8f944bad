package config

import (
	"fmt"
	"regexp"
	"time"

	"github.com/spillway-gw/spillway/limits"
)

// Limits are settings shared by every consumer's limits (Consumer.Limits).
type Limits struct {
	// Window is the length of the tpm and rpm sliding windows (1m); tests
	// and time-scaled simulations shorten it.
	Window Duration `yaml:"window"`
	// Headers name the response headers that tell a limited consumer what
	// it has left and what the request consumed.
	Headers LimitHeaders `yaml:"headers"`
}

// LimitHeaders are the names of the headers every response to a limited
// consumer carries. The first two are the names clients already read from
// Azure OpenAI.
type LimitHeaders struct {
	RemainingTokens      string `yaml:"remaining_tokens"`
	RemainingRequests    string `yaml:"remaining_requests"`
	RemainingQuotaTokens string `yaml:"remaining_quota_tokens"`
	ConsumedTokens       string `yaml:"consumed_tokens"`
}

// Defaults of Limits.
const (
	DefaultLimitWindow                = Duration(time.Minute)
	DefaultRemainingTokensHeader      = "x-ratelimit-remaining-tokens"
	DefaultRemainingRequestsHeader    = "x-ratelimit-remaining-requests"
	DefaultRemainingQuotaTokensHeader = "x-spillway-remaining-quota-tokens"
	DefaultConsumedTokensHeader       = "x-spillway-consumed-tokens"
)

// ConsumerLimits are one consumer's limits: rates and a quota for all its
// requests, and optionally per model.
type ConsumerLimits struct {
	// Key is what the counters are kept by: the consumer (the default), or
	// the value of a request header or of a claim of the client's Entra ID
	// token, each value with the consumer's limits of its own.
	Key        LimitKey `yaml:"key"`
	LimitScope `yaml:",inline"`
	// Models add limits on the requests for one model.
	Models []ModelLimits `yaml:"models"`
}

// LimitKey is a counter key other than the consumer: one of the two.
type LimitKey struct {
	Header string `yaml:"header"`
	// Claim is appid, oid, tid or sub.
	Claim string `yaml:"claim"`
}

// LimitScope is the limits of one scope; 0 or absent: no limit.
type LimitScope struct {
	// TPM is tokens per window (limits.window, a minute by default),
	// counted as spillway's prompt count + max tokens on arrival and
	// corrected to the real usage when the response ends.
	TPM int64 `yaml:"tpm"`
	// RPM is requests per window.
	RPM   int64       `yaml:"rpm"`
	Quota *QuotaLimit `yaml:"quota"`
}

// ModelLimits are a consumer's limits on one model.
type ModelLimits struct {
	Model      string `yaml:"model"`
	LimitScope `yaml:",inline"`
}

// QuotaLimit is a token budget that renews every period.
type QuotaLimit struct {
	Tokens int64 `yaml:"tokens"`
	// Period is hourly, daily, weekly (from Monday), monthly or yearly, in
	// TimeZone; or a duration ("30s", "12h"): fixed periods counted from
	// the Unix epoch.
	Period string `yaml:"period"`
	// TimeZone is an IANA name (Europe/Paris); UTC when empty.
	TimeZone string `yaml:"time_zone"`
}

// Claims a limit key may name.
var limitClaims = []string{"appid", "oid", "tid", "sub"}

var headerName = regexp.MustCompile(`^[a-z0-9!#$%&'*+.^_|~-]+$`)

func (c *Config) limitsDefaults() {
	if c.Limits.Window == 0 {
		c.Limits.Window = DefaultLimitWindow
	}
	h := &c.Limits.Headers
	for _, d := range []struct {
		p *string
		v string
	}{{&h.RemainingTokens, DefaultRemainingTokensHeader}, {&h.RemainingRequests, DefaultRemainingRequestsHeader},
		{&h.RemainingQuotaTokens, DefaultRemainingQuotaTokensHeader}, {&h.ConsumedTokens, DefaultConsumedTokensHeader}} {
		if *d.p == "" {
			*d.p = d.v
		}
	}
}

func (c *Config) validateLimits(v *validator) {
	if c.Limits.Window.D() < time.Second {
		v.add("limits.window", "must be at least 1s")
	}
	h := c.Limits.Headers
	for _, f := range []struct{ path, name string }{
		{"remaining_tokens", h.RemainingTokens}, {"remaining_requests", h.RemainingRequests},
		{"remaining_quota_tokens", h.RemainingQuotaTokens}, {"consumed_tokens", h.ConsumedTokens},
	} {
		if !headerName.MatchString(f.name) {
			v.add("limits.headers."+f.path, "%q is not a lower-case HTTP header name", f.name)
		}
	}
	for i, cons := range c.Consumers {
		if cons.Limits == nil {
			continue
		}
		p := fmt.Sprintf("consumers[%d].limits", i)
		l := cons.Limits
		switch k := l.Key; {
		case k.Header != "" && k.Claim != "":
			v.add(p+".key", "set header or claim, not both")
		case k.Header != "" && !headerName.MatchString(k.Header):
			v.add(p+".key.header", "%q is not a lower-case HTTP header name", k.Header)
		case k.Claim != "" && !contains(limitClaims, k.Claim):
			v.add(p+".key.claim", "%q is not one of appid, oid, tid, sub", k.Claim)
		case k.Claim != "" && cons.Entra.IsZero():
			v.add(p+".key.claim", "the consumer has no entra mapping: its requests carry no validated token to read %s from", k.Claim)
		}
		validateScope(v, p, l.LimitScope)
		seen := map[string]bool{}
		for j, m := range l.Models {
			mp := fmt.Sprintf("%s.models[%d]", p, j)
			switch {
			case m.Model == "":
				v.add(mp+".model", "is required")
			case c.Model(m.Model) == nil:
				v.add(mp+".model", "%q is not a model of this gateway (models[].name)", m.Model)
			case seen[m.Model]:
				v.add(mp+".model", "%q has limits twice", m.Model)
			}
			seen[m.Model] = true
			validateScope(v, mp, m.LimitScope)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func validateScope(v *validator, p string, s LimitScope) {
	if s.TPM < 0 {
		v.add(p+".tpm", "must be >= 0 (0: no limit)")
	}
	if s.RPM < 0 {
		v.add(p+".rpm", "must be >= 0 (0: no limit)")
	}
	if q := s.Quota; q != nil {
		if q.Tokens <= 0 {
			v.add(p+".quota.tokens", "must be > 0")
		}
		if _, err := limits.ParsePeriod(q.Period, q.TimeZone); err != nil {
			v.add(p+".quota", "%v", err)
		}
	}
}

// Rules are the consumer's limits as the limiter applies them, with window
// the length of the tpm and rpm windows. Call on a validated config.
func (l *ConsumerLimits) Rules(window time.Duration) *limits.Rules {
	r := &limits.Rules{Window: window, All: l.LimitScope.scope()}
	for _, m := range l.Models {
		if r.Models == nil {
			r.Models = map[string]limits.Scope{}
		}
		r.Models[m.Model] = m.LimitScope.scope()
	}
	return r
}

func (s LimitScope) scope() limits.Scope {
	out := limits.Scope{TPM: s.TPM, RPM: s.RPM}
	if q := s.Quota; q != nil {
		p, _ := limits.ParsePeriod(q.Period, q.TimeZone)
		out.Quota = &limits.Quota{Tokens: q.Tokens, Period: p}
	}
	return out
}
