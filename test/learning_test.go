package test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/telemetry/metricstest"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// sharedPTUSim is simConfig with a PTU a quarter the size the gateway is told
// (as when other clients use three quarters of it) that sends no utilization
// header: its 429s are the only evidence.
var sharedPTUSim = strings.Replace(simConfig, `    capacity_tpm: 1000000
    context_window: 8192
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: both`, `    capacity_tpm: 6000
    context_window: 8192
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: both
    no_utilization_header: true`, 1)

var sharedPTUGateway = gatewayHead + capacityGPT4o + backendYAML(backendPTU, "ptu", deploymentPTU, "eastus", 24000, 0) + backendEast2YAML + backendWest3YAML

// TestEffectiveCapacityLearned: a PTU that throttles requests the model had
// room for, without saying how full it is, gets a lower effective capacity,
// shown in /capacity and as a metric, while every client request is served
// (by the PTU or, after its 429s, by pay-as-you-go).
func TestEffectiveCapacityLearned(t *testing.T) {
	if sharedPTUSim == simConfig {
		t.Fatal("sharedPTUSim did not change the PTU: simConfig changed")
	}
	s := startStack(t, stackOptions{simYAML: sharedPTUSim, gatewayYAML: sharedPTUGateway})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// About 700 tokens each: the simulator's PTU is full after eight.
	body := `{"messages":[{"role":"user","content":"` + strings.Repeat("word ", 700) + `"}],"max_tokens":20}`
	for range 40 {
		expectStatus(t, s.chat(ctx, body, nil), 200)
	}
	led := s.ledger().Deployments[deploymentPTU]
	if led.Responses["429"] == 0 {
		t.Fatalf("the PTU never throttled (%+v): the test does not exercise learning", led)
	}
	// After a 429 the model holds the PTU full until it has drained: it
	// does not keep sending into 429s.
	if led.Responses["429"] > 3 {
		t.Errorf("the PTU answered %d 429s to 40 requests: the model kept sending into them", led.Responses["429"])
	}
	var st struct {
		Backends []struct {
			Name      string  `json:"name"`
			Effective float64 `json:"effective"`
		} `json:"backends"`
	}
	var eff float64 = -1
	waitFor(t, "/capacity to show the PTU's effective capacity", 5*time.Second, func() bool {
		b, ok := e2etest.Get(s.e.SpillAdmin + "/capacity")
		if !ok || json.Unmarshal([]byte(b), &st) != nil {
			return false
		}
		for _, be := range st.Backends {
			if be.Name == backendPTU {
				eff = be.Effective
			}
		}
		return eff >= 0
	})
	if eff <= 0 || eff >= 1 {
		t.Fatalf("PTU effective capacity %v after %d throttles it did not expect, want in (0, 1)", eff, led.Responses["429"])
	}
	m := metricstest.ScrapeURL(t, s.e.SpillAdmin+"/metrics")
	if got := m.Value("spillway_backend_effective_capacity_ratio", map[string]string{"spillway_backend": backendPTU}); got != eff {
		t.Errorf("spillway_backend_effective_capacity_ratio{spillway_backend=%q} = %v, /capacity says %v", backendPTU, got, eff)
	}
	if got := m.Value("spillway_backend_effective_capacity_ratio", map[string]string{"spillway_backend": backendEast2}); got != 1 {
		t.Errorf("a TPM that never throttled has effective capacity %v, want 1", got)
	}
	t.Logf("PTU: %d served, %d throttled; effective capacity %.3f", led.Responses["200"], led.Responses["429"], eff)
}
