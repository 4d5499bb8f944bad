// Package scenario is spillway's scenario benchmark: one PTU and two TPM
// deployments of the simulator behind spillway and a real Envoy, offered
// open-loop load at 0.5×, 1×, 1.5× and 2× the PTU's capacity, once per
// routing mode (capacity, reactive). It prints one JSON line per mode and
// step (docs/scenario.md). It is long, so it runs only when asked:
//
//	make scenario
//	go test -tags scenario -v -count=1 ./test/scenario/
//
// Its tests carry the scenario build tag, so go test ./... leaves them out.
package scenario
