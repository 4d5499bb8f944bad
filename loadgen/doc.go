// Package loadgen is an open-loop load generator for OpenAI chat-completions
// requests, Azure-style (/openai/deployments/{deployment}/chat/completions).
//
// Arrivals are planned up front from a seed (Poisson or fixed interval) and
// sent on schedule whether or not earlier requests have answered: a slow
// gateway sees more requests in flight, never fewer arrivals. Each request is
// drawn from a seeded mix of prompt sizes built from deterministic text, and a
// share of them stream (stream_options.include_usage, read to the end).
// Every request records its status, spillway's x-spillway-backend, -tier and
// -attempts headers, time to first byte, total latency and usage tokens.
//
// A run is bounded: requests in flight are capped (an arrival that finds the
// cap reached is recorded as dropped, not queued), the duration is capped, and
// every request is cancelled at the end of the run's deadline.
package loadgen
