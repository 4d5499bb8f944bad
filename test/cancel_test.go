package test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowPTUSim is simConfig with a PTU that takes its time: 40 tokens at 20 a
// second, so a client can go away before or during its answer.
var slowPTUSim = strings.Replace(simConfig, `    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 12}
    throttle_headers: both`, `    latency: {first_token_ms: 5, tokens_per_second: 20}
    completion: {mode: fixed, tokens: 40}
    throttle_headers: both`, 1)

// cancelGateway routes by capacity over a PTU with ample room.
var cancelGateway = gatewayHead + `
routing: capacity
capacity:
  max_wait: 50ms
models:
  - name: gpt-4o
    context_window: 8192
    backends:` + backendPTUYAML + backendEast2YAML + backendWest3YAML

// TestClientCancelIsNotABackendFailure: clients that go away — before the
// answer, or in the middle of a stream — leave the PTU healthy: the
// requests right after them are all served by it, and the cancels are
// counted as such.
func TestClientCancelIsNotABackendFailure(t *testing.T) {
	if slowPTUSim == simConfig {
		t.Fatal("slowPTUSim did not change the PTU's latency: simConfig changed")
	}
	s := startStack(t, stackOptions{simYAML: slowPTUSim, gatewayYAML: cancelGateway})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := s.gatewayURL + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"

	send := func(ctx context.Context, body string, hdr map[string]string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("content-type", "application/json")
		req.Header.Set("api-key", "client-key-1")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return http.DefaultClient.Do(req)
	}
	kinds := []struct {
		name string
		run  func(i int) error
	}{
		{"JSON before the answer", func(i int) error {
			c, stop := context.WithTimeout(ctx, 150*time.Millisecond)
			defer stop()
			resp, err := send(c, fmt.Sprintf(`{"messages":[{"role":"user","content":"cancel json %d"}]}`, i), nil)
			if err == nil {
				resp.Body.Close()
				return fmt.Errorf("the answer came before the cancel: %d", resp.StatusCode)
			}
			return nil
		}},
		{"stream before its first byte", func(i int) error {
			c, stop := context.WithTimeout(ctx, 150*time.Millisecond)
			defer stop()
			resp, err := send(c, fmt.Sprintf(`{"messages":[{"role":"user","content":"cancel early %d"}],"stream":true}`, i),
				map[string]string{"x-sim-fault": "slow-first-byte=2000@" + deploymentPTU})
			if err == nil {
				resp.Body.Close()
				return fmt.Errorf("the stream started before the cancel: %d", resp.StatusCode)
			}
			return nil
		}},
		{"stream in the middle", func(i int) error {
			c, stop := context.WithCancel(ctx)
			defer stop()
			resp, err := send(c, fmt.Sprintf(`{"messages":[{"role":"user","content":"cancel mid %d"}],"stream":true}`, i), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			line, err := bufio.NewReader(resp.Body).ReadString('\n') // the first event: then go away
			if err != nil || !strings.HasPrefix(line, "data:") {
				return fmt.Errorf("first line %q: %v", line, err)
			}
			stop()
			return nil
		}},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 51 {
		k := kinds[i%len(kinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.run(i); err != nil {
				errs <- fmt.Errorf("%s #%d: %w", k.name, i, err)
			}
		}()
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Right after: a hundred requests, all on the PTU.
	served := map[string]int{}
	var mu sync.Mutex
	for range 10 {
		for j := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := send(ctx, fmt.Sprintf(`{"messages":[{"role":"user","content":"after %d"}],"max_tokens":2}`, j), nil)
				b := "error"
				if err == nil {
					resp.Body.Close()
					b = strconv.Itoa(resp.StatusCode) + " " + resp.Header.Get("x-spillway-backend")
				}
				mu.Lock()
				served[b]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if served["200 "+backendPTU] != 100 {
		t.Errorf("after the cancels, the next 100 requests went to %v: want all 100 on %s", served, backendPTU)
	}
	if n := ledgerCount(s, deploymentE2) + ledgerCount(s, deploymentW3); n != 0 {
		t.Errorf("%d requests reached pay-as-you-go deployments", n)
	}

	// The cancels are counted as their own outcome.
	waitFor(t, "cancelled requests in spillway's metrics", 10*time.Second, func() bool {
		return cancelledCount(s.metrics(t)) >= 30
	})
}

func ledgerCount(s *stack, deployment string) int64 {
	return s.ledger().Deployments[deployment].Requests
}

var cancelledRe = regexp.MustCompile(`(?m)^spillway_requests_total\{[^}]*spillway_outcome="cancelled"[^}]*\} (\d+)`)

func cancelledCount(metrics string) int {
	n := 0
	for _, m := range cancelledRe.FindAllStringSubmatch(metrics, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}
