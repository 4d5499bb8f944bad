// Package gatewaybench holds the whole-system cost benchmark (`make
// bench-gateway`, build tag gatewaybench): the simulator reached directly,
// through a plain Envoy, through the same Envoy with a do-nothing ext_proc
// server in spillway's message modes (the floor), and through the spillway
// gateway, measured in one run with the paths interleaved in blocks.
package gatewaybench
