// Package capacity keeps a live model of each Azure OpenAI backend's remaining
// capacity and chooses, for each request by its estimated token cost, the
// backends that can take it now.
//
// Standard (pay-as-you-go, "tpm") deployments are modelled as Azure enforces
// them: a sliding per-minute token window charged on arrival with the
// request's estimate, and a 10-second request window. Provisioned ("ptu")
// deployments are a leaky bucket whose level is corrected to the real cost when
// a request completes. Both are corrected by the backends' own rate-limit
// headers. 429/424 responses put a backend in cooldown for the time the
// response asks; 5xx, timeouts and resets put it in an exponential health
// cooldown. When nothing has room, Wait holds requests, fairly across
// consumers, for a bounded time.
//
// The model is pure: time comes from an injected Clock, and nothing here does
// I/O. One mutex per Model guards all state; every critical section is short.
// See docs/capacity.md for the rules and their defaults.
package capacity
