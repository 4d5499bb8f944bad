package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// sharedGateway is capacityGateway with its state in Redis, shared by two
// replicas. The Redis timeout is generous: the test machine is shared and
// busy, and a timeout would (correctly) make a replica serve alone.
var sharedGateway = capacityGateway + `
state:
  store: redis
  replicas: 2
  redis:
    address: {{REDIS}}
    key_prefix: "e2e:"
    timeout: 1s
`

// TestSharedState runs two gateways (Envoy + spillway each, as two pods
// would) over one Redis and one simulator: what one learns, the other
// knows; what one takes, the other cannot; Redis failing costs no request.
func TestSharedState(t *testing.T) {
	r := e2etest.StartRedis(t)
	vars := map[string]string{"REDIS": r.Addr}
	a := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: sharedGateway, vars: vars})
	b := startStack(t, stackOptions{gatewayYAML: sharedGateway, vars: vars, simAddr: strings.TrimPrefix(a.simURL, "http://")})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	small := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":20}`

	t.Run("a 429 seen through one replica keeps the other off that backend", func(t *testing.T) {
		a.resetLedger()
		r := a.chat(ctx, small, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		// The simulator said retry after 1 s: replica b, which never saw
		// the 429, skips the PTU too.
		r = b.chat(ctx, small, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		expectLedger(t, a, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"200": 2}, deploymentW3: {}})
		waitFor(t, "traffic to return to the PTU through b", 10*time.Second, func() bool {
			return b.chat(ctx, small, nil).header.Get("x-spillway-backend") == backendPTU
		})
	})

	t.Run("PTU room taken through one replica is not offered by the other", func(t *testing.T) {
		a.resetLedger()
		// Hold 1500 of the PTU's 2000 tokens with a request through a.
		held := make(chan response, 1)
		go func() {
			held <- a.chat(ctx, `{"messages":[{"role":"user","content":"long"}],"max_tokens":1500}`,
				map[string]string{"x-sim-fault": "slow-first-byte=1500@" + deploymentPTU})
		}()
		waitFor(t, "the first request to reach the PTU", 10*time.Second, func() bool {
			return a.ledger().Deployments[deploymentPTU].Requests == 1
		})
		r := b.chat(ctx, `{"messages":[{"role":"user","content":"more"}],"max_tokens":1000}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		r = b.chat(ctx, `{"messages":[{"role":"user","content":"tiny"}],"max_tokens":50}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		expectServedBy(t, <-held, backendPTU, "ptu", "1")
		for _, s := range []*stack{a, b} {
			if st := storeStatus(t, s); st.Degraded {
				t.Fatalf("state store degraded during the test: %+v", st)
			}
		}
	})

	t.Run("Redis failing costs no request, and the shared state resumes", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		var failures []string
		for i, s := range []*stack{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					status, body, err := postChat(ctx, s.gatewayURL, fmt.Sprintf(`{"messages":[{"role":"user","content":"load %d %d"}],"max_tokens":20}`, i, n))
					mu.Lock()
					statuses[status]++
					if status != 200 {
						failures = append(failures, fmt.Sprintf("%d %v %s", status, err, body))
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // load before the outage
		r.Stop()
		waitFor(t, "both replicas to notice Redis is gone", 10*time.Second, func() bool {
			return storeStatus(t, a).Degraded && storeStatus(t, b).Degraded
		})
		time.Sleep(time.Second) // load during the outage
		r.Restart()
		waitFor(t, "both replicas to rejoin the shared state", 15*time.Second, func() bool {
			return !storeStatus(t, a).Degraded && !storeStatus(t, b).Degraded
		})
		time.Sleep(500 * time.Millisecond) // load after it
		close(stop)
		wg.Wait()
		t.Logf("statuses under load through the outage: %v", statuses)
		if len(failures) > 0 || statuses[200] < 20 {
			t.Fatalf("%d requests failed (of %v); first: %v", len(failures), statuses, failures[:min(3, len(failures))])
		}
		if m := a.metrics(t); !strings.Contains(m, "spillway_state_store_degraded") {
			t.Errorf("no spillway_state_store_degraded metric")
		}

		// Shared again: a 429 seen through b keeps a off the PTU.
		a.resetLedger()
		res := b.chat(ctx, small, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
		expectServedBy(t, res, backendEast2, "tpm", "2")
		res = a.chat(ctx, small, nil)
		expectServedBy(t, res, backendEast2, "tpm", "1")
	})
}

type storeState struct {
	Shared   bool   `json:"shared"`
	Degraded bool   `json:"degraded"`
	Error    string `json:"error"`
}

func storeStatus(t *testing.T, s *stack) storeState {
	t.Helper()
	body, ok := e2etest.Get(s.spillAdmin + "/healthz?detail")
	if !ok {
		t.Fatalf("healthz of %s: %s", s.spillAdmin, body)
	}
	var h struct {
		State storeState `json:"state"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthz detail %q: %v", body, err)
	}
	return h.State
}

func (s *stack) metrics(t *testing.T) string {
	t.Helper()
	body, ok := e2etest.Get(s.spillAdmin + "/metrics")
	if !ok {
		t.Fatalf("metrics: %s", body)
	}
	return body
}

// postChat is one chat request that reports instead of failing the test:
// it runs in load goroutines.
func postChat(ctx context.Context, gateway, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", gateway+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("api-key", "client-key-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
