//go:build scenario

package scenario

import (
	"strings"
	"testing"

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
