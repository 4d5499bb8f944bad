//go:build scenario

package scenario

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/sim"
)

// TestProfileSetups: every profile's simulator config is valid and says
// what the profile is about; an unknown profile is refused.
func TestProfileSetups(t *testing.T) {
	tests := []struct {
		profile string
		sim     []string // in the simulator's YAML
		gateway []string // in the gateway's YAML
	}{
		{profileIdeal, []string{"output_ratio: 1", "capacity_tpm: 36000"}, []string{"- name: gpt-4o", "output_ratio: 1"}},
		{profileNeighbour, []string{"capacity_tpm: 36000"}, []string{"output_ratio: 1"}},
		{profileSparse, []string{"no_utilization_header: true", "no_rate_limit_headers: true", "throttle_headers_missing: 0.5"}, nil},
		{profileGPT5, []string{"model: gpt-5", "output_ratio: 8", "capacity_tpm: 240000", "tpm: 33000"}, []string{"- name: gpt-5", "output_ratio: 8"}},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			su, ok := profileSetup(tt.profile, 0.05)
			if !ok {
				t.Fatal("unknown profile")
			}
			y := su.simYAML()
			cfg, err := sim.Parse([]byte(y))
			if err != nil {
				t.Fatalf("simulator config: %v\n%s", err, y)
			}
			if d := cfg.Deployments[3]; d.Name != deploymentDirect || d.NoRateLimitHeaders || d.ThrottleHeadersMissing != 0 {
				t.Errorf("the direct baseline must stay plain: %+v", d)
			}
			for _, w := range tt.sim {
				if !strings.Contains(y, w) {
					t.Errorf("simulator config lacks %q", w)
				}
			}
			g := su.gatewayYAML("capacity")
			for _, w := range tt.gateway {
				if !strings.Contains(g, w) {
					t.Errorf("gateway config lacks %q", w)
				}
			}
		})
	}
	if _, ok := profileSetup("nope", 0.05); ok {
		t.Error("an unknown profile was accepted")
	}
}

func TestGoals(t *testing.T) {
	pct := func(v float64) *float64 { return &v }
	good := Result{CapacitySuffices: true, PTUUtilizationLeft: 0.97, Upstream429Pct: 1, SpillRatio: 1.01}
	tests := []struct {
		name     string
		capacity Result
		reactive Result
		want     bool
	}{
		{"all met", good, Result{Client429: 0, PTUUtilizationLeft: 0.96, Upstream429Pct: 30, SpillRatio: 1.02}, true},
		{"a client 429 while capacity suffices", func() Result { r := good; r.Client429 = 1; return r }(), good, false},
		{"client 429s past total capacity do not count", func() Result { r := good; r.Client429, r.CapacitySuffices = 5, false; return r }(),
			func() Result { r := good; r.Client429 = 9; return r }(), true},
		{"PTU under 0.95 of what is left", func() Result { r := good; r.PTUUtilizationLeft = 0.9; return r }(), Result{PTUUtilizationLeft: 0.8}, false},
		{"upstream 429 over 3 %", func() Result { r := good; r.Upstream429Pct = 4; return r }(), Result{Upstream429Pct: 40}, false},
		{"worse than reactive on the PTU", good, Result{PTUUtilizationLeft: 0.99, Upstream429Pct: 30}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := goals("ideal", map[string]map[float64]Result{"capacity": {1.5: tt.capacity}, "reactive": {1.5: tt.reactive}})
			if len(g) != 1 || g[0]["met"] != tt.want {
				t.Errorf("goals %v, want met=%v", g, tt.want)
			}
		})
	}
	t.Run("degradation at 2x", func(t *testing.T) {
		c := Result{GoodputTokens: 100, Client429: 5, P99AddedMs: 30, RetryAfterSuccessPct: pct(95)}
		r := Result{GoodputTokens: 90, Client429: 6, P99AddedMs: 15}
		g := goals("ideal", map[string]map[float64]Result{"capacity": {2: c}, "reactive": {2: r}})
		if len(g) != 1 || g[0]["met"] != true {
			t.Errorf("goals %v, want met", g)
		}
		c.RetryAfterSuccessPct = pct(80)
		g = goals("ideal", map[string]map[float64]Result{"capacity": {2: c}, "reactive": {2: r}})
		if g[0]["met"] != false {
			t.Errorf("retries at 80 %% met the goal: %v", g)
		}
	})
}

// TestClassesConfig: with the class mix the gateway has one consumer per
// class, with its priority and its own key file, and the load sends each
// class with its key; without it, the single consumer bench.
func TestClassesConfig(t *testing.T) {
	// The harness's {{PLACEHOLDERS}} are addresses.
	parse := func(su setup) (*config.Config, error) {
		y := regexp.MustCompile(`\{\{[A-Z_]+\}\}`).ReplaceAllString(su.gatewayYAML("capacity"), "127.0.0.1:1")
		return config.Parse([]byte(y))
	}
	su, _ := profileSetup(profileIdeal, 0.05)
	cfg, err := parse(su)
	if err != nil || len(cfg.Consumers) != 1 || cfg.Consumers[0].Name != "bench" || len(su.loadClasses(clientClass.key)) != 0 {
		t.Fatalf("without classes: %v %+v", err, cfg)
	}
	su.classes = classMix
	cfg, err = parse(su)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"interactive": "interactive", "batch": "batch"}
	got := map[string]string{}
	for _, c := range cfg.Consumers {
		got[c.Name] = c.Priority
		if c.APIKey.File != "secrets/"+c.Name+"-key" || su.secrets()[c.APIKey.File] != c.Name+"-key-1\n" {
			t.Errorf("consumer %s: key file %q, secrets %v", c.Name, c.APIKey.File, su.secrets())
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("consumers %v, want %v", got, want)
	}
	if h := cfg.Priorities.HeadroomOf("batch"); h != 0.2 {
		t.Errorf("batch headroom %v, want spillway's default 0.2", h)
	}
	var share float64
	for _, c := range su.loadClasses(clientClass.key) {
		if c.Key != c.Name+"-key-1" {
			t.Errorf("class %s sends key %q", c.Name, c.Key)
		}
		share += c.Weight
	}
	if share != 1 {
		t.Errorf("class shares sum to %v", share)
	}
}

func TestClassGoals(t *testing.T) {
	step := Result{CapacitySuffices: true, PTUUtilization: 0.97}
	good := []ClassResult{{Priority: "interactive", PTUServedPct: 98}, {Priority: "batch"}}
	with := func(f func(i, b *ClassResult)) []ClassResult {
		cs := slices.Clone(good)
		f(&cs[0], &cs[1])
		return cs
	}
	tests := []struct {
		name    string
		step    Result
		classes []ClassResult
		want    bool
	}{
		{"all met", step, good, true},
		{"an interactive 429", step, with(func(i, _ *ClassResult) { i.Client429 = 1 }), false},
		{"interactive under 95 % on the PTU", step, with(func(i, _ *ClassResult) { i.PTUServedPct = 94.9 }), false},
		{"a batch 429 while TPM has room", step, with(func(_, b *ClassResult) { b.Client429 = 1 }), false},
		{"batch 429s past total capacity do not count", Result{PTUUtilization: 0.97}, with(func(_, b *ClassResult) { b.Client429 = 9 }), true},
		{"the PTU under 0.95", Result{CapacitySuffices: true, PTUUtilization: 0.94}, good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := classGoals("ideal", map[string]map[float64]Result{"capacity": {1.5: tt.step}},
				map[string]map[float64][]ClassResult{"capacity": {1.5: tt.classes}})
			if g == nil || g["met"] != tt.want || g["mode"] != "capacity" {
				t.Errorf("goals %v, want met=%v", g, tt.want)
			}
		})
	}
	t.Run("reactive beside, not judged", func(t *testing.T) {
		g := classGoals("ideal", map[string]map[float64]Result{"capacity": {1.5: step}, "reactive": {1.5: {PTUUtilization: 0.5}}},
			map[string]map[float64][]ClassResult{"capacity": {1.5: good}, "reactive": {1.5: with(func(i, _ *ClassResult) { i.Client429 = 7 })}})
		r, _ := g["reactive"].(map[string]any)
		if g["met"] != true || r["interactive_client_429"] != 7 || r["ptu_utilization"] != 0.5 {
			t.Errorf("goals %v", g)
		}
	})
	if g := classGoals("ideal", map[string]map[float64]Result{"capacity": {1.5: step}}, nil); g != nil {
		t.Errorf("a goal line without classes: %v", g)
	}
}
