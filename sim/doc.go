// Package sim is an Azure OpenAI simulator: it serves chat completions and
// embeddings for deployments described in a YAML file, throttles them the way
// Azure does (per-minute token and 10-second request windows on standard
// deployments, a leaky-bucket utilization on provisioned ones), injects faults
// on demand, and keeps a ledger of what reached which deployment.
//
// It backs `spillway sim`, the gateway's end-to-end tests and load tests. Clock,
// random source (through the configured seed) and prompt token counter are
// injected, so a given seed and request sequence produce the same responses.
package sim
