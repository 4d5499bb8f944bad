//go:build scenario

package scenario

import (
	"fmt"
	"strings"

	"github.com/spillway-gw/spillway/loadgen"
)

// Deployment names in the simulator and backend names in the gateway.
const (
	deploymentPTU    = "gpt-4o-ptu"
	deploymentEast2  = "gpt-4o-eastus2"
	deploymentWest3  = "gpt-4o-westus3"
	deploymentDirect = "gpt-4o-direct"
)

// Profiles (docs/scenario.md): what the simulator does differently from
// the ideal Azure of the first scenario.
const (
	profileIdeal     = "ideal"
	profileNeighbour = "neighbour"
	profileSparse    = "sparse-headers"
	profileGPT5      = "gpt-5"
)

// setup is the scenario's capacity, in scaled units: capacities per scaled
// minute, as Azure states them per minute.
type setup struct {
	profile   string
	model     string // the simulator's model and the gateway's model name
	timeScale float64
	ptuTPM    int     // in normalized tokens
	tpmTPM    int     // each of the two TPM deployments
	ratio     float64 // the PTU's output-to-input ratio, in the simulator and the gateway
	mix       []loadgen.Size
	// neighbourPTU and neighbourTPM are the shares of the PTU's capacity
	// and of gpt-4o-eastus2's TPM that another client uses straight
	// through the simulator (profile neighbour).
	neighbourPTU, neighbourTPM float64
	// sparse: the simulator sends no x-ratelimit-* and no utilization
	// header, and half of its 429s carry no retry header.
	sparse bool
	// completionMin and completionMax bound the simulator's completion
	// lengths (uniform), cut to each request's max_tokens.
	completionMin, completionMax int
	firstTokenMs                 int
	tokensPerSecond              int
	// classes, when set, are the gateway's consumers and the load's split
	// between them (-scenario.classes); otherwise one consumer sends all.
	classes []clientClass
}

// clientClass is one consumer of the class mix: its consumer priority in
// the gateway and its share of the requests.
type clientClass struct {
	name, priority string
	share          float64
}

// classMix is -scenario.classes: an interactive consumer sending 30 % of
// the requests and a batch consumer 70 % (issue 12), with spillway's
// default headroom (batch leaves 20 % of the PTU to higher priorities).
var classMix = []clientClass{{"interactive", "interactive", 0.3}, {"batch", "batch", 0.7}}

// key is the class's api-key at the gateway; secret the file holding it.
func (c clientClass) key() string    { return c.name + "-key-1" }
func (c clientClass) secret() string { return "secrets/" + c.name + "-key" }

// loadClasses are the load generator's classes: each sends key(class).
func (s setup) loadClasses(key func(clientClass) string) []loadgen.Class {
	var out []loadgen.Class
	for _, c := range s.classes {
		out = append(out, loadgen.Class{Name: c.name, Key: key(c), Weight: c.share})
	}
	return out
}

// secrets are the classes' api-key files, written into every stack.
func (s setup) secrets() map[string]string {
	out := map[string]string{}
	for _, c := range s.classes {
		out[c.secret()] = c.key() + "\n"
	}
	return out
}

// consumersYAML is the gateway's consumers: one per class, or the single
// consumer bench (client-key-1) without classes.
func (s setup) consumersYAML() string {
	if len(s.classes) == 0 {
		return `
consumers:
  - name: bench
    api_key: {file: secrets/client-key}`
	}
	out := "\nconsumers:"
	for _, c := range s.classes {
		out += fmt.Sprintf("\n  - name: %s\n    api_key: {file: %s}\n    priority: %s", c.name, c.secret(), c.priority)
	}
	return out
}

// minute is one scaled minute of wall-clock time.
func (s setup) minute() float64 { return 60 * s.timeScale }

// neighbourSize is the neighbour's request: a steady stream of these.
var neighbourSize = loadgen.Size{Name: "neighbour", Words: 200, MaxTokens: 256, Weight: 1}

// profileSetup is the scenario's setup for a profile; ok is false for an
// unknown profile.
func profileSetup(profile string, timeScale float64) (setup, bool) {
	// ideal: a PTU of 36000 tokens a (scaled) minute and two TPM
	// deployments of 24000 each. The TPMs charge prompt + max_tokens on
	// arrival, about 1.4× what this mix uses, so together they take about
	// 0.95× the PTU's capacity in used tokens: ample for the 0.5× spill of
	// the 1.5× step, short for the 1× spill of the 2× step once Poisson
	// bursts and charges for requests that fail elsewhere are counted.
	su := setup{profile: profile, model: "gpt-4o", timeScale: timeScale, ptuTPM: 36000, tpmTPM: 24000, ratio: 1,
		mix: loadgen.DefaultMix, completionMin: 20, completionMax: 400, firstTokenMs: 40, tokensPerSecond: 2000}
	switch profile {
	case profileIdeal:
	case profileNeighbour:
		su.neighbourPTU, su.neighbourTPM = 0.3, 0.2
	case profileSparse:
		su.sparse = true
	case profileGPT5:
		// gpt-5: an output token weighs 8 input tokens in the PTU, and
		// outputs are long (uniform 100..2000 cut to max_tokens 1024, 2048,
		// 4096): about 7,800 normalized tokens a request, so a PTU of
		// 240,000 a scaled minute takes about 10 requests/s at 1×. Each TPM
		// (charged prompt + max_tokens ≈ 2,270 a request) holds about
		// 0.475× the PTU's requests, as in ideal.
		su.model, su.ratio, su.ptuTPM, su.tpmTPM = "gpt-5", 8, 240000, 33000
		su.completionMin, su.completionMax = 100, 2000
		su.mix = []loadgen.Size{
			{Name: "small", Words: 40, MaxTokens: 1024, Weight: 0.50},
			{Name: "medium", Words: 400, MaxTokens: 2048, Weight: 0.35},
			{Name: "large", Words: 1600, MaxTokens: 4096, Weight: 0.15},
		}
	default:
		return su, false
	}
	return su, true
}

// simYAML is the simulator: the PTU, two standard deployments in other
// regions that charge prompt + max_tokens on arrival as Azure does, and an
// unthrottled deployment with the same latency for the direct baseline.
func (s setup) simYAML() string {
	common := fmt.Sprintf(`
    model: %s
    latency: {first_token_ms: %d, tokens_per_second: %d}
    completion: {mode: random, min: %d, max: %d}
    throttle_headers: both`, s.model, s.firstTokenMs, s.tokensPerSecond, s.completionMin, s.completionMax)
	ptu, tpm := common+fmt.Sprintf("\n    output_ratio: %g", s.ratio), common
	if s.sparse {
		ptu += "\n    no_utilization_header: true\n    throttle_headers_missing: 0.5"
		tpm += "\n    no_rate_limit_headers: true\n    throttle_headers_missing: 0.5"
	}
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
`, s.timeScale, deploymentPTU, s.ptuTPM, ptu, deploymentEast2, s.tpmTPM, tpm,
		deploymentWest3, s.tpmTPM, tpm, deploymentDirect, common)
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
  node_id: e2e` + s.consumersYAML() + `
routing: ` + mode + `
capacity:
  token_window: ` + minute + `
  request_window: ` + fmt.Sprintf("%gms", s.minute()*1000/6) + `
  max_cooldown: ` + minute + `
  max_wait: ` + fmt.Sprintf("%gms", *maxWaitFlag*s.timeScale*1000) + `
  default_cooldown: ` + fmt.Sprintf("%gms", 1000*s.timeScale) + `
models:
  - name: ` + s.model + `
    backends:`,
		// The gateway knows the PTU's output ratio (1 in the ideal simulator, 8 for gpt-5).
		backend("ptu-eastus", "ptu", deploymentPTU, "eastus", fmt.Sprintf("capacity_tpm: %d\n        output_ratio: %g", s.ptuTPM, s.ratio)),
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
