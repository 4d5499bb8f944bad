// Package test holds spillway's end-to-end tests: a real Envoy, spillway and
// the Azure OpenAI simulator as separate processes on random loopback ports.
// Nothing here mocks Envoy or the ext_proc protocol.
package test
