// Package xds turns a gateway config into Envoy resources and serves them to
// Envoy over ADS: the listener with its ext_proc and router filters, the
// routes with the retry policy, and one cluster per model whose endpoints are
// the model's backends in priority order.
package xds
