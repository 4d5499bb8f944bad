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

	"github.com/spillway-gw/spillway/sim"
	"github.com/spillway-gw/spillway/telemetry/metricstest"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// sharedGateway is capacityGateway with its state in Redis, shared by two
// replicas. The Redis timeout is generous: the test machine is shared and
// busy, and a timeout would (correctly) make a replica serve alone.
var sharedGateway = capacityGateway + redisState

// redisState shares a gateway's state with the other replica in {{REDIS}}.
const redisState = `
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
		held := a.fillPTU(t, ctx, 1500*time.Millisecond, 1) // through replica a
		r := b.chat(ctx, `{"messages":[{"role":"user","content":"more"}],"max_tokens":1000}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		// When a's request ends (settled at its small real usage), b sees
		// the room come back.
		expectServedBy(t, <-held, backendPTU, "ptu", "1")
		waitFor(t, "b to route to the PTU again", 5*time.Second, func() bool {
			return b.chat(ctx, `{"messages":[{"role":"user","content":"tiny"}],"max_tokens":20}`, nil).header.Get("x-spillway-backend") == backendPTU
		})
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

// replicaSharedGateway: two replicas behind one Envoy sharing state in
// Redis; a PTU cooldown as short as config allows, so that every request
// with a 429 fault tries the PTU first and is retried on a TPM backend —
// an attempt Envoy may hand to either replica.
var replicaSharedGateway = gatewayHead + `
routing: capacity
capacity:
  max_wait: 50ms
  max_cooldown: 1ms
models:
  - name: gpt-4o
    context_window: 8192
    backends:` + backendPTUYAML + backendEast2YAML + backendWest3YAML + `
state:
  store: redis
  replicas: 2
  redis:
    address: {{REDIS}}
    key_prefix: "one-envoy:"
    timeout: 1s
`

// TestReplicasShareStateBehindOneEnvoy: Envoy spreads each request's
// ext_proc streams over two replicas; a request's attempts find its
// reservation whichever replica they reach, every reservation is settled,
// and a replica killed under load costs only what was in flight on it.
func TestReplicasShareStateBehindOneEnvoy(t *testing.T) {
	r := e2etest.StartRedis(t)
	s := startReplicas(t, 2, func(o *e2etest.ReplicaOptions) {
		o.GatewayYAML = replicaSharedGateway
		o.Vars = map[string]string{"REDIS": r.Addr}
		o.LogLevel = "debug"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("attempts on the other replica move the reservation", func(t *testing.T) {
		// A few at a time: Envoy's round robin over the replicas then
		// gives a request's streams to both in every pattern.
		const n = 30
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n / 3 {
					// Two attempts, or one when another request's 429 had just
					// put the PTU in its (1 ms) cooldown.
					res := replicaChat(ctx, s, "gpt-4o", map[string]string{"x-sim-fault": "429@" + deploymentPTU})
					if a := res.header.Get("x-spillway-attempts"); res.status != 200 || a != "1" && a != "2" {
						errs <- fmt.Sprintf("request %d.%d: %d attempts %q %s", w, i, res.status, res.header.Get("x-spillway-attempts"), res.body)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		// Which replica ran each request's router phase, and which each of
		// its attempts: both log the request id.
		// (A router phase logs when its stream ends, just after the client
		// has the whole response: wait for all of them.)
		var router map[string]int
		var attempts map[string]map[int]int // request id → attempt → replica
		readLogs := func() {
			router, attempts = map[string]int{}, map[string]map[int]int{}
			for i, rep := range s.Replicas {
				for _, line := range strings.Split(rep.Process.Out.String(), "\n") {
					var l struct {
						Msg       string `json:"msg"`
						RequestID string `json:"request_id"`
						Attempt   int    `json:"attempt"`
					}
					if json.Unmarshal([]byte(line), &l) != nil || l.RequestID == "" {
						continue
					}
					switch l.Msg {
					case "request":
						router[l.RequestID] = i
					case "attempt":
						if attempts[l.RequestID] == nil {
							attempts[l.RequestID] = map[int]int{}
						}
						attempts[l.RequestID][l.Attempt] = i
					}
				}
			}
		}
		waitFor(t, "every request's log line", 10*time.Second, func() bool { readLogs(); return len(router) >= n })
		crossed, movedAcross := 0, 0
		for id, i := range router {
			for a, j := range attempts[id] {
				if j != i {
					crossed++
					if a == 2 {
						movedAcross++ // the retry's replica moved a reservation another took
					}
				}
			}
		}
		t.Logf("%d requests; %d attempts on the other replica than their router phase, %d of them retries", len(router), crossed, movedAcross)
		if crossed == 0 || movedAcross == 0 {
			t.Fatalf("phases did not cross replicas enough to prove anything: %d attempts, %d retries crossed", crossed, movedAcross)
		}
		// Every retry that reached the other replica found the request's
		// reservation in Redis (and moved it there): the upstream phase says
		// so when Model.Attach succeeds.
		attached := map[string]bool{}
		for _, rep := range s.Replicas {
			for _, line := range strings.Split(rep.Process.Out.String(), "\n") {
				var l struct {
					Msg       string `json:"msg"`
					RequestID string `json:"request_id"`
					Attempt   int    `json:"attempt"`
				}
				if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "attempt attached to another replica's reservation" && l.Attempt == 2 {
					attached[l.RequestID] = true
				}
			}
		}
		for id, i := range router {
			if j, ok := attempts[id][2]; ok && j != i && !attached[id] {
				t.Errorf("request %s: its retry ran on replica %d, the router phase on %d, and found no reservation to move", id, j, i)
			}
		}
		// And every reservation was settled wherever it ended.
		waitFor(t, "every reservation settled", 10*time.Second, func() bool {
			body, ok := e2etest.Get(s.Replicas[0].Admin + "/capacity")
			var c struct {
				Backends []struct {
					InFlight int `json:"in_flight"`
					Reserved int `json:"reserved"`
				} `json:"backends"`
			}
			if !ok || json.Unmarshal([]byte(body), &c) != nil || len(c.Backends) == 0 {
				return false
			}
			for _, b := range c.Backends {
				if b.InFlight != 0 || b.Reserved != 0 {
					return false
				}
			}
			return true
		})
	})

	t.Run("a replica killed under load", func(t *testing.T) {
		victim := adsReplica(t, s)
		survivor := s.Replicas[1-victim]
		stop := make(chan struct{})
		wait := steadyLoad(s, 8, 200*time.Millisecond, stop)
		time.Sleep(time.Second)
		inFlight := s.ControlHostStat(s.Replicas[victim], "rq_active") - 1 // less the ADS stream
		s.Kill(victim)
		time.Sleep(2 * time.Second)
		close(stop)
		failed := 0
		for _, r := range wait() {
			if r.resp.status != 200 {
				failed++
				expectNoEnvoyText(t, r.resp)
			}
		}
		t.Logf("%d failed, %d streams were in flight on the killed replica", failed, inFlight)
		if failed > max(inFlight, 0) {
			t.Errorf("%d requests failed, more than the %d in flight on the killed replica", failed, inFlight)
		}

		// From here on, what the survivor counts is what the backends served.
		// (First let the survivor count the last requests of the load above:
		// a router phase records its request just after the client has it.)
		var before metricstest.Metrics
		last := -1.0
		waitFor(t, "the survivor's request count to settle", 10*time.Second, func() bool {
			before = metricstest.ScrapeURL(t, survivor.Admin+"/metrics")
			n := before.Value("spillway_requests_total", nil)
			settled := n == last
			last = n
			time.Sleep(300 * time.Millisecond)
			return settled
		})
		ledger0 := readLedgerAt(t, s.SimURL)
		stop = make(chan struct{})
		wait = steadyLoad(s, 4, 0, stop)
		time.Sleep(2 * time.Second)
		close(stop)
		results := wait()
		n := len(results)
		statuses := map[int]int{}
		for _, r := range results {
			statuses[r.resp.status]++
		}
		if statuses[200] != n {
			t.Errorf("after the kill: %v", statuses)
		}
		var after metricstest.Metrics
		var counted int64
		e2etest.WaitFor(t, fmt.Sprintf("the survivor's metrics of all %d requests", n), 10*time.Second, func() bool {
			after = metricstest.ScrapeURL(t, survivor.Admin+"/metrics")
			counted = delta(before, after, "spillway_requests_total", nil)
			return counted >= int64(n)
		})
		if counted != int64(n) {
			t.Errorf("the survivor counted %d requests, the clients sent %d", counted, n)
		}
		ledger1 := readLedgerAt(t, s.SimURL)
		var served int64
		for name, d := range ledger1.Deployments {
			served += d.Usage.TotalTokens - ledger0.Deployments[name].Usage.TotalTokens
		}
		got := int64(after.Sum("gen_ai_client_token_usage", nil) - before.Sum("gen_ai_client_token_usage", nil))
		if got != served || served == 0 {
			t.Errorf("tokens in the survivor's metrics %d, the simulator served %d (%d requests)", got, served, n)
		}
	})
}

func readLedgerAt(t *testing.T, simURL string) sim.Ledger {
	t.Helper()
	body, ok := e2etest.Get(simURL + "/_sim/ledger")
	if !ok {
		t.Fatalf("ledger: %s", body)
	}
	var l sim.Ledger
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestResponsesAffinityAcrossReplicas: a response stored through one
// replica is continued through either: the affinity lives in Redis.
func TestResponsesAffinityAcrossReplicas(t *testing.T) {
	r := e2etest.StartRedis(t)
	s := startReplicas(t, 2, func(o *e2etest.ReplicaOptions) {
		o.SimYAML = apisSimYAML()
		o.GatewayYAML = apisGateway + `
state:
  store: redis
  replicas: 2
  redis:
    address: {{REDIS}}
    key_prefix: "affinity:"
    timeout: 1s
`
		o.Vars = map[string]string{"REDIS": r.Addr}
		o.Secrets = map[string]string{"secrets/key-ptu": "key-ptu\n", "secrets/key-e2": "key-e2\n", "secrets/key-w3": "key-w3\n"}
		o.LogLevel = "info"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	post := func(body string, hdr map[string]string) response {
		return replicaPost(ctx, s, "/openai/v1/responses", body, hdr)
	}

	// Stored on eastus2 (the PTU throttles this one).
	first := post(`{"model":"gpt-4o","input":"Tell me about dams."}`, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
	expectStatus(t, first, 200)
	expectServedBy(t, first, backendEast2, "tpm", "2")
	id := decodeResponseBody(t, first.body).ID

	// Ten follow-ups at once: Envoy hands their router phases to both
	// replicas; every one must reach eastus2, which has the response.
	var wg sync.WaitGroup
	results := make([]response, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = post(fmt.Sprintf(`{"model":"gpt-4o","input":"And then? %d","previous_response_id":%q}`, i, id), nil)
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.status != 200 || res.header.Get("x-spillway-backend") != backendEast2 {
			t.Errorf("follow-up %d: %d on %q: %s", i, res.status, res.header.Get("x-spillway-backend"), res.body)
		}
	}
	// Both replicas ran router phases of follow-ups (else the test proved
	// nothing about sharing). A router phase logs when its stream ends,
	// just after the client has the response: wait for all eleven lines.
	perReplica := make([]int, len(s.Replicas))
	waitFor(t, "the router phases' log lines", 10*time.Second, func() bool {
		total := 0
		for i, rep := range s.Replicas {
			perReplica[i] = 0
			for _, line := range strings.Split(rep.Process.Out.String(), "\n") {
				if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"backend":"`+backendEast2+`"`) {
					perReplica[i]++
				}
			}
			total += perReplica[i]
		}
		return total >= 1+len(results)
	})
	for i, n := range perReplica {
		if n == 0 {
			t.Errorf("replica %d served no request on %s (per replica: %v): the follow-ups did not spread over both replicas", i, backendEast2, perReplica)
		}
	}
}
