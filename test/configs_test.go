package test

import "fmt"

// Configs for the end-to-end stack. Capacities are large so nothing throttles
// unless a test asks for it with the simulator's x-sim-fault header.

const simConfig = `
keys: ["sim-key-1"]
time_scale: 1.0
seed: 7
deployments:
  - name: gpt-4o-ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 1000000
    context_window: 8192
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: both
  - name: gpt-4o-eastus2
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 1000000
    context_window: 8192
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: retry-after
  - name: gpt-4o-westus3
    kind: standard
    model: gpt-4o
    region: westus3
    tpm: 1000000
    context_window: 8192
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: none
  - name: gpt-4o-slow
    kind: standard
    model: gpt-4o
    region: northeurope
    tpm: 1000000
    latency: {first_token_ms: 5, tokens_per_second: 20}
    completion: {mode: fixed, tokens: 40}
`

// backendPTU etc. are the backends of the gateway configs, by name.
const (
	backendPTU     = "ptu-eastus"
	backendEast2   = "tpm-eastus2"
	backendWest3   = "tpm-westus3"
	deploymentPTU  = "gpt-4o-ptu"
	deploymentE2   = "gpt-4o-eastus2"
	deploymentW3   = "gpt-4o-westus3"
	deploymentSlow = "gpt-4o-slow"
)

// gatewayListeners and fastRetry are the parts of gatewayHead around its
// consumers, for tests with consumers of their own.
const (
	gatewayListeners = `
gateway:
  listen: {{GATEWAY}}
  body_limit_bytes: 65536
  request_timeout: 30s
control:
  grpc_listen: {{GRPC}}
  admin_listen: {{ADMIN}}
  node_id: e2e
`
	fastRetry = `
retry:
  backoff_base: 5ms
  backoff_max: 20ms
  per_try_timeout: 20s
`
)

const gatewayHead = gatewayListeners + `
consumers:
  - name: team-a
    api_key: {file: secrets/client-key}
` + fastRetry

// backendYAML is one backend of a gateway config, on the simulator: kind
// ptu takes capacity_tpm, kind tpm takes tpm; priority orders TPM backends.
func backendYAML(name, kind, deployment, region string, capacity, priority int) string {
	limit := "tpm"
	if kind == "ptu" {
		// The simulator's PTUs here count an output token as one token.
		limit = "output_ratio: 1\n        capacity_tpm"
	}
	return fmt.Sprintf(`
      - name: %s
        kind: %s
        endpoint: http://{{SIM}}
        deployment: %s
        api_version: 2024-10-21
        auth: {api_key: {file: secrets/sim-key}}
        region: %s
        %s: %d
        priority: %d
`, name, kind, deployment, region, limit, capacity, priority)
}

var (
	backendPTUYAML      = backendYAML(backendPTU, "ptu", deploymentPTU, "eastus", 1000000, 0)
	backendPTUSmallYAML = backendYAML(backendPTU, "ptu", deploymentPTU, "eastus", 2000, 0)
	backendEast2YAML    = backendYAML(backendEast2, "tpm", deploymentE2, "eastus2", 1000000, 1)
	backendWest3YAML    = backendYAML(backendWest3, "tpm", deploymentW3, "westus3", 1000000, 2)
)

// threeBackends is the main e2e gateway: one PTU, two TPM in other regions,
// in reactive routing (static order, spill on failure) so every test sees
// Envoy's retries walk the list whatever happened before. context_window is
// left out so a context-length 400 comes from the backend: the tests prove
// Envoy does not retry it.
var threeBackends = gatewayHead + `
routing: reactive
models:
  - name: gpt-4o
    backends:` + backendPTUYAML + backendEast2YAML + backendWest3YAML

// capacityGateway routes by the capacity model. The PTU's capacity here is
// the gateway's belief (small on purpose); the simulator's is large.
var capacityGateway = gatewayHead + capacityGPT4o + backendPTUSmallYAML + backendEast2YAML + backendWest3YAML

// capacityGPT4o routes by capacity, holding requests 50 ms at most, to
// the backends of gpt-4o that follow it.
const capacityGPT4o = `
routing: capacity
capacity:
  max_wait: 50ms
models:
  - name: gpt-4o
    context_window: 8192
    backends:`
