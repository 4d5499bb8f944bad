package test

import (
	"context"
	"strings"
	"testing"
	"time"
)

var twoBackends = gatewayHead + `
routing: reactive
models:
  - name: gpt-4o
    backends:` + backendPTUYAML + backendEast2YAML

func TestHotReload(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: twoBackends})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bothThrottled := map[string]string{"x-sim-fault": "429@" + deploymentPTU + ",429@" + deploymentE2}

	// Before the reload two backends exist and both are throttled.
	r := s.chat(ctx, hello, bothThrottled)
	expectStatus(t, r, 429)

	// A stream in flight across the reload: the PTU holds its first byte.
	inflight := make(chan response, 1)
	go func() {
		inflight <- s.chat(ctx, `{"messages":[{"role":"user","content":"slow"}],"stream":true}`,
			map[string]string{"x-sim-fault": "slow-first-byte=1500@" + deploymentPTU})
	}()
	// Wait until the simulator has the request, so it is truly in flight.
	waitFor(t, "the slow stream to reach the PTU", 10*time.Second, func() bool {
		return s.ledger().Deployments[deploymentPTU].Requests > 1
	})

	t.Run("a valid edit adds a backend without restarting Envoy", func(t *testing.T) {
		s.write("gateway.yaml", s.gatewayConfig(threeBackends))
		waitFor(t, "traffic to reach the added backend", 10*time.Second, func() bool {
			r := s.chat(ctx, hello, bothThrottled)
			return r.status == 200 && r.header.Get("x-spillway-backend") == backendWest3
		})
	})

	t.Run("the stream in flight during the reload completes", func(t *testing.T) {
		var r response
		select {
		case r = <-inflight:
		case <-ctx.Done():
			t.Fatal("in-flight stream did not finish")
		}
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		if !strings.HasSuffix(strings.TrimSpace(r.body), "data: [DONE]") {
			t.Errorf("in-flight stream was cut:\n%s", r.body)
		}
	})

	t.Run("an invalid edit changes nothing", func(t *testing.T) {
		reloads := strings.Count(s.spillway.out.String(), `"config reloaded"`)
		broken := strings.Replace(s.gatewayConfig(threeBackends), "\n        tpm: 1000000", "\n        tpm: -5", 1)
		broken = strings.Replace(broken, "kind: ptu", "kind: ptv", 1)
		s.write("gateway.yaml", broken)
		waitFor(t, "spillway to reject the edit", 10*time.Second, func() bool {
			return strings.Contains(s.spillway.out.String(), "config reload rejected")
		})
		log := s.spillway.out.String()
		for _, want := range []string{"models[0].backends[1].tpm: must be > 0", `models[0].backends[0].kind: \"ptv\" is not a kind`} {
			if !strings.Contains(log, want) {
				t.Errorf("rejection log does not name %q:\n%s", want, log)
			}
		}
		if got := strings.Count(log, `"config reloaded"`); got != reloads {
			t.Errorf("an invalid file was applied: %d reloads, want %d", got, reloads)
		}
		r := s.chat(ctx, hello, bothThrottled)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendWest3, "tpm", "3")
	})
}
