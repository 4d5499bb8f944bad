// Package scenario is spillway's scenario benchmark: one PTU and two TPM
// deployments of the simulator behind spillway and a real Envoy, offered
// open-loop load at 1×, 1.5×, 2× and 3× the PTU's capacity, once per
// routing mode (capacity, reactive), against a profile of Azure (ideal,
// neighbour, sparse-headers, gpt-5). It prints one JSON line per mode and
// step, then the goal lines (docs/scenario.md). It is long, so it runs only
// when asked:
//
//	make scenario PROFILE=ideal
//	go test -tags scenario -v -count=1 ./test/scenario/
//
// Its tests carry the scenario build tag, so go test ./... leaves them out.
package scenario
