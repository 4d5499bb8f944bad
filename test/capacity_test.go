package test

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// TestCapacityRouting checks the capacity model end to end: a backend known
// to be throttled is not tried again until it recovers, a request too big
// for the PTU goes straight to a TPM backend, backends the model believes
// full are the last retries and take a request none other has room for,
// and when every backend cools down the client gets spillway's own 429
// without any upstream call — or, with a longer queue bound, is held until
// a backend recovers.
func TestCapacityRouting(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: capacityGateway})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":20}`

	t.Run("the PTU serves while it has room", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, small, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
	})

	t.Run("a throttled PTU is not tried again during its cooldown", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, small, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		// The simulator said retry after 1 s: the next request skips the PTU.
		r = s.chat(ctx, small, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"200": 2}, deploymentW3: {}})
		// And after it, traffic returns to the PTU.
		waitFor(t, "traffic to return to the PTU", 10*time.Second, func() bool {
			return s.chat(ctx, small, nil).header.Get("x-spillway-backend") == backendPTU
		})
		if n := s.ledger().Deployments[deploymentPTU].Responses["429"]; n != 1 {
			t.Errorf("PTU answered %d 429s, want exactly 1: no attempt wasted on it while cooling down", n)
		}
	})

	t.Run("a request the PTU has no room for goes straight to pay-as-you-go", func(t *testing.T) {
		s.resetLedger()
		held := s.fillPTU(t, ctx, 1500*time.Millisecond, 1)
		for _, body := range []string{`{"messages":[{"role":"user","content":"more"}],"max_tokens":1000}`, `{"messages":[{"role":"user","content":"tiny"}],"max_tokens":20}`} {
			r := s.chat(ctx, body, nil)
			expectStatus(t, r, 200)
			expectServedBy(t, r, backendEast2, "tpm", "1")
		}
		// Once the first has ended (settled at its real, small usage), the
		// PTU has room again.
		expectServedBy(t, <-held, backendPTU, "ptu", "1")
		waitFor(t, "a request to return to the PTU", 5*time.Second, func() bool {
			return s.chat(ctx, `{"messages":[{"role":"user","content":"tiny"}],"max_tokens":20}`, nil).header.Get("x-spillway-backend") == backendPTU
		})
		if n := s.ledger().Deployments[deploymentE2].Responses["200"]; n < 2 {
			t.Errorf("pay-as-you-go served %d requests, want at least the 2 the full PTU had no room for", n)
		}
	})

	t.Run("past what the model believes, Envoy's last retries go to the spares and serve", func(t *testing.T) {
		// The gateway believes the PTU holds 2000 tokens; the simulator's
		// takes far more. With 1985 held, the model has no room on the PTU.
		s.waitNoCooldown()
		s.resetLedger()
		held := s.fillPTU(t, ctx, 3*time.Second, 1)
		// Both TPMs refuse: the PTU, listed after them as a spare, serves.
		big := `{"messages":[{"role":"user","content":"more"}],"max_tokens":1000}`
		r := s.chat(ctx, big, map[string]string{"x-sim-fault": "429@" + deploymentE2 + ",429@" + deploymentW3})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "3")
		// Now both TPMs cool down and the PTU is full in the model: the
		// request is not held past max_wait nor refused, it overflows to
		// the PTU at once.
		r = s.chat(ctx, big, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		expectServedBy(t, <-held, backendPTU, "ptu", "1")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"200": 3}, deploymentE2: {"429": 1}, deploymentW3: {"429": 1}})
	})

	t.Run("a stream cut mid-way is charged from what was streamed", func(t *testing.T) {
		s.resetLedger()
		r := s.chatStream(ctx, `{"messages":[{"role":"user","content":"stream and break"}],"stream":true,"max_tokens":40}`,
			map[string]string{"x-sim-fault": "reset-mid-stream@" + deploymentPTU})
		if r.status != 200 || strings.Contains(r.body, "[DONE]") {
			t.Fatalf("want a 200 stream cut before [DONE]; got %d:\n%s", r.status, r.body)
		}
		id := r.header.Get("x-request-id")
		var line string
		waitFor(t, "spillway's request log line", 5*time.Second, func() bool {
			line = logLine(s.spillway.out.String(), `"msg":"request"`, id)
			return line != ""
		})
		// Envoy hands each chunk to spillway before the client, so whatever
		// content the client got, spillway counted. How much arrives before
		// the reset varies; with content delivered the charge must be > 0.
		if !strings.Contains(line, `"usage_estimated":true`) {
			t.Errorf("a cut stream's usage is not marked estimated: %s", line)
		}
		if deliveredContent.MatchString(r.body) && strings.Contains(line, `"completion_tokens":0,`) {
			t.Errorf("the client got content but spillway charged none: %s\n%s", line, r.body)
		}
		// The reservation was settled, not leaked.
		waitFor(t, "no request left in flight", 5*time.Second, func() bool {
			body, ok := e2etest.Get(s.e.SpillAdmin + "/capacity")
			return ok && !strings.Contains(body, `"in_flight": 1`)
		})
	})

	t.Run("the context window is enforced before any backend", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":9000}`, nil)
		expectStatus(t, r, 400)
		expectAzureError(t, r, "context_length_exceeded")
		if !strings.Contains(r.body, "8192") {
			t.Errorf("message does not give the window: %s", r.body)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("nothing has room: spillway answers 429 itself", func(t *testing.T) {
		s.waitNoCooldown()
		r := s.chat(ctx, small, map[string]string{"x-sim-fault": "429"})
		expectStatus(t, r, 429)
		s.resetLedger()
		r = s.chat(ctx, small, nil)
		expectStatus(t, r, 429)
		expectAzureError(t, r, "429")
		secs, err := strconv.Atoi(r.header.Get("retry-after"))
		if err != nil || secs < 1 {
			t.Errorf("retry-after = %q, want whole seconds >= 1", r.header.Get("retry-after"))
		}
		if r.header.Get("x-spillway-backend") != "" {
			t.Errorf("a local 429 names a backend: %v", r.header)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("with a longer queue bound the request is held until a backend recovers", func(t *testing.T) {
		reloads := strings.Count(s.spillway.out.String(), `"config reloaded"`)
		s.write("gateway.yaml", strings.Replace(s.gatewayConfig(capacityGateway), "max_wait: 50ms", "max_wait: 4s", 1))
		waitFor(t, "the reload", 10*time.Second, func() bool {
			return strings.Count(s.spillway.out.String(), `"config reloaded"`) > reloads
		})
		s.waitNoCooldown()
		r := s.chat(ctx, small, map[string]string{"x-sim-fault": "429"})
		expectStatus(t, r, 429)
		expectServedBy(t, r, backendWest3, "tpm", "3")
		start := time.Now()
		r = s.chat(ctx, small, nil)
		held := time.Since(start)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		if held < 300*time.Millisecond {
			t.Errorf("served after %v: the request was not held for the 1 s cooldown", held)
		}
	})
}

// waitNoCooldown polls spillway's /capacity until no backend is cooling down.
func (s *stack) waitNoCooldown() {
	s.t.Helper()
	waitFor(s.t, "every cooldown to end", 10*time.Second, func() bool {
		body, ok := e2etest.Get(s.e.SpillAdmin + "/capacity")
		if !ok {
			return false
		}
		var st struct {
			Now      time.Time `json:"now"`
			Backends []struct {
				CooldownUntil time.Time `json:"cooldown_until"`
				HealthUntil   time.Time `json:"health_until"`
			} `json:"backends"`
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			s.t.Fatalf("decode /capacity: %v", err)
		}
		for _, b := range st.Backends {
			if b.CooldownUntil.After(st.Now) || b.HealthUntil.After(st.Now) {
				return false
			}
		}
		return len(st.Backends) > 0
	})
}

// deliveredContent matches an SSE delta that carries text.
var deliveredContent = regexp.MustCompile(`"delta":\{"content":"[^"]`)
