// Package e2etest starts spillway's end-to-end stack for tests: the Azure
// OpenAI simulator, spillway and a real Envoy, as separate processes on
// random loopback ports, ready when their health endpoints say so and
// stopped with SIGINT when the test ends. It is shared by the end-to-end
// tests in test/ and the scenario benchmark in test/scenario/.
package e2etest
