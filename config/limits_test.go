package config

import (
	"testing"
	"time"
)

const limitsYAML = `
limits:
  window: 10s
  headers: {consumed_tokens: x-tokens-used}
consumers:
  - name: demo
    api_key: {env: SPILLWAY_TEST_CLIENT_KEY}
    limits:
      key: {header: x-team}
      tpm: 10000
      rpm: 60
      quota: {tokens: 1000000, period: monthly, time_zone: Europe/Paris}
      models:
        - {model: gpt-4o, tpm: 4000}
`

func TestLimitsParse(t *testing.T) {
	c, err := Parse([]byte(limitsYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.Window.D() != 10*time.Second || c.Limits.Headers.RemainingTokens != DefaultRemainingTokensHeader || c.Limits.Headers.ConsumedTokens != "x-tokens-used" {
		t.Fatalf("limits %+v", c.Limits)
	}
	l := c.Consumers[0].Limits
	r := l.Rules(c.Limits.Window.D())
	if l.Key.Header != "x-team" || r.Window != 10*time.Second || r.All.TPM != 10000 || r.All.RPM != 60 || r.All.Quota.Tokens != 1000000 ||
		r.All.Quota.Period.Kind != "monthly" || r.All.Quota.Period.Loc.String() != "Europe/Paris" || r.Models["gpt-4o"].TPM != 4000 {
		t.Fatalf("rules %+v", r)
	}
}

func TestValidateLimits(t *testing.T) {
	limited := func(c *Config) *ConsumerLimits {
		c.Consumers[0].Limits = &ConsumerLimits{LimitScope: LimitScope{TPM: 1000}}
		return c.Consumers[0].Limits
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want
	}{
		{"a consumer's rates, quota and model limits are fine", func(c *Config) {
			l := limited(c)
			l.Quota = &QuotaLimit{Tokens: 5, Period: "weekly", TimeZone: "America/New_York"}
			l.Models = []ModelLimits{{Model: "gpt-4o", LimitScope: LimitScope{RPM: 3}}}
			l.Key.Header = "x-team"
		}, nil},
		{"a fixed quota period is fine", func(c *Config) { limited(c).Quota = &QuotaLimit{Tokens: 5, Period: "30s"} }, nil},
		{"window too short", func(c *Config) { c.Limits.Window = Duration(time.Millisecond) },
			[]want{{"limits.window", "at least 1s"}}},
		{"header name", func(c *Config) { c.Limits.Headers.RemainingTokens = "X Tokens" },
			[]want{{"limits.headers.remaining_tokens", "not a lower-case HTTP header name"}}},
		{"negative rates", func(c *Config) { l := limited(c); l.TPM, l.RPM = -1, -2 },
			[]want{{"consumers[0].limits.tpm", ">= 0"}, {"consumers[0].limits.rpm", ">= 0"}}},
		{"quota without tokens", func(c *Config) { limited(c).Quota = &QuotaLimit{Period: "daily"} },
			[]want{{"consumers[0].limits.quota.tokens", "must be > 0"}}},
		{"quota period", func(c *Config) { limited(c).Quota = &QuotaLimit{Tokens: 1, Period: "fortnightly"} },
			[]want{{"consumers[0].limits.quota", "not hourly, daily, weekly, monthly, yearly or a duration"}}},
		{"quota time zone", func(c *Config) { limited(c).Quota = &QuotaLimit{Tokens: 1, Period: "daily", TimeZone: "Paris"} },
			[]want{{"consumers[0].limits.quota", "not an IANA zone name"}}},
		{"key both ways", func(c *Config) { l := limited(c); l.Key = LimitKey{Header: "x-a", Claim: "oid"} },
			[]want{{"consumers[0].limits.key", "header or claim, not both"}}},
		{"key claim unknown", func(c *Config) { limited(c).Key.Claim = "email" },
			[]want{{"consumers[0].limits.key.claim", "not one of appid, oid, tid, sub"}}},
		{"key claim without entra", func(c *Config) { limited(c).Key.Claim = "oid" },
			[]want{{"consumers[0].limits.key.claim", "no entra mapping"}}},
		{"model unknown and twice", func(c *Config) {
			limited(c).Models = []ModelLimits{{Model: "gpt-5"}, {Model: "gpt-4o"}, {Model: "gpt-4o"}, {}}
		}, []want{
			{"consumers[0].limits.models[0].model", `"gpt-5" is not a model of this gateway`},
			{"consumers[0].limits.models[2].model", `"gpt-4o" has limits twice`},
			{"consumers[0].limits.models[3].model", "is required"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dir := validConfig(t)
			tt.mutate(c)
			checkProblems(t, c.Validate(dir), tt.want)
		})
	}
}

func TestValidatePriorities(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want
	}{
		{"priorities, spill and regions are fine", func(c *Config) {
			c.Consumers[0].Priority, c.Consumers[0].Spill, c.Consumers[0].Regions = "batch", "never", []string{"eastus"}
			c.Priorities.Headroom = PriorityHeadroom{Standard: f(0.1), Batch: f(0.3)}
		}, nil},
		{"unknown priority and spill", func(c *Config) { c.Consumers[0].Priority, c.Consumers[0].Spill = "urgent", "sometimes" },
			[]want{{"consumers[0].priority", `"urgent" is not interactive, standard or batch`}, {"consumers[0].spill", `"sometimes" is not allow or never`}}},
		{"a region no backend is in", func(c *Config) { c.Consumers[1].Regions = []string{"eastus", "mars"} },
			[]want{{"consumers[1].regions[1]", `"mars" is the region of no backend`}}},
		{"headroom out of range", func(c *Config) { c.Priorities.Headroom = PriorityHeadroom{Standard: f(-0.1), Batch: f(1)} },
			[]want{{"priorities.headroom.standard", "[0, 1)"}, {"priorities.headroom.batch", "[0, 1)"}}},
		{"batch leaves less than standard", func(c *Config) { c.Priorities.Headroom.Standard = f(0.5) },
			[]want{{"priorities.headroom.batch", "0.2 is less than standard's 0.5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dir := validConfig(t)
			tt.mutate(c)
			checkProblems(t, c.Validate(dir), tt.want)
		})
	}
	if h := (Priorities{}); h.HeadroomOf("interactive") != 0 || h.HeadroomOf("") != DefaultStandardHeadroom || h.HeadroomOf("batch") != DefaultBatchHeadroom {
		t.Errorf("default headrooms: %v %v %v", h.HeadroomOf("interactive"), h.HeadroomOf(""), h.HeadroomOf("batch"))
	}
}
