//go:build scenario

package scenario

import (
	"fmt"
	"strings"
)

// Deployment names in the simulator and backend names in the gateway.
const (
	deploymentPTU    = "gpt-4o-ptu"
	deploymentEast2  = "gpt-4o-eastus2"
	deploymentWest3  = "gpt-4o-westus3"
	deploymentDirect = "gpt-4o-direct"
)

// setup is the scenario's capacity, in scaled units: capacities per scaled
// minute, as Azure states them per minute.
type setup struct {
	timeScale float64
	ptuTPM    int
	tpmTPM    int // each of the two TPM deployments
	// completionMin and completionMax bound the simulator's completion
	// lengths (uniform), cut to each request's max_tokens.
	completionMin, completionMax int
	firstTokenMs                 int
	tokensPerSecond              int
}

// minute is one scaled minute of wall-clock time.
func (s setup) minute() float64 { return 60 * s.timeScale }

// simYAML is the simulator: the PTU, two standard deployments in other
// regions that charge prompt + max_tokens on arrival as Azure does, and an
// unthrottled deployment with the same latency for the direct baseline.
func (s setup) simYAML() string {
	common := fmt.Sprintf(`
    model: gpt-4o
    latency: {first_token_ms: %d, tokens_per_second: %d}
    completion: {mode: random, min: %d, max: %d}
    throttle_headers: both`, s.firstTokenMs, s.tokensPerSecond, s.completionMin, s.completionMax)
	return fmt.Sprintf(`
keys: ["sim-key-1"]
time_scale: %g
seed: 11
deployments:
  - name: %s
    kind: provisioned
    region: eastus
    capacity_tpm: %d%s
  - name: %s
    kind: standard
    region: eastus2
    tpm: %d
    estimate: prompt_plus_max_tokens%s
  - name: %s
    kind: standard
    region: westus3
    tpm: %d
    estimate: prompt_plus_max_tokens%s
  - name: %s
    kind: standard
    region: eastus
    tpm: 1000000000%s
`, s.timeScale, deploymentPTU, s.ptuTPM, common, deploymentEast2, s.tpmTPM, common,
		deploymentWest3, s.tpmTPM, common, deploymentDirect, common)
}

// gatewayYAML is the gateway for one routing mode. The capacity windows are
// the simulator's scaled ones; everything else is spillway's default.
func (s setup) gatewayYAML(mode string) string {
	minute := fmt.Sprintf("%gms", s.minute()*1000)
	backend := func(name, kind, deployment, region, limit string) string {
		return fmt.Sprintf(`
      - name: %s
        kind: %s
        endpoint: http://{{SIM}}
        deployment: %s
        api_version: 2024-10-21
        auth: {api_key: {file: secrets/sim-key}}
        region: %s
        %s`, name, kind, deployment, region, limit)
	}
	return strings.Join([]string{`
gateway:
  listen: {{GATEWAY}}
  body_limit_bytes: 1048576
  request_timeout: 60s
control:
  grpc_listen: {{GRPC}}
  admin_listen: {{ADMIN}}
  node_id: e2e
consumers:
  - name: bench
    api_key: {file: secrets/client-key}
routing: ` + mode + `
capacity:
  token_window: ` + minute + `
  request_window: ` + fmt.Sprintf("%gms", s.minute()*1000/6) + `
  max_cooldown: ` + minute + `
  max_wait: ` + fmt.Sprintf("%gms", *maxWaitFlag*s.timeScale*1000) + `
  default_cooldown: ` + fmt.Sprintf("%gms", 1000*s.timeScale) + `
models:
  - name: gpt-4o
    backends:`,
		// The simulator's PTU counts an output token as one token (profile ideal).
		backend("ptu-eastus", "ptu", deploymentPTU, "eastus", fmt.Sprintf("capacity_tpm: %d\n        output_ratio: 1", s.ptuTPM)),
		backend("tpm-eastus2", "tpm", deploymentEast2, "eastus2", fmt.Sprintf("tpm: %d\n        priority: 1", s.tpmTPM)),
		backend("tpm-westus3", "tpm", deploymentWest3, "westus3", fmt.Sprintf("tpm: %d\n        priority: 1", s.tpmTPM)),
	}, "") + "\n" + stateYAML(mode)
}

// stateYAML shares the capacity state of a mode's replicas in Redis
// ({{REDIS}}), one key prefix per mode, when the scenario runs several.
func stateYAML(mode string) string {
	if *replicasFlag <= 1 {
		return ""
	}
	return fmt.Sprintf(`state:
  store: redis
  replicas: %d
  redis:
    address: {{REDIS}}
    key_prefix: "scenario-%s:"
    timeout: 100ms
`, *replicasFlag, mode)
}
