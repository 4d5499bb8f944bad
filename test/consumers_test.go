package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// limitsSim is the simulator with every completion exactly 100 tokens, so a
// request asking max_tokens 100 uses what it is charged on arrival.
var limitsSim = strings.ReplaceAll(simConfig, "completion: {mode: fixed, tokens: 12}", "completion: {mode: fixed, tokens: 100}")

// limitsGateway: interactive is unlimited, batch has a tpm over a 2 s
// window, metered a token quota renewing every 4 s.
var limitsGateway = gatewayListeners + `
consumers:
  - name: interactive
    api_key: {file: secrets/client-key}
  - name: batch
    api_key: {file: secrets/batch-key}
    limits: {tpm: 1000}
  - name: metered
    api_key: {file: secrets/metered-key}
    limits:
      quota: {tokens: 300, period: 4s}
limits:
  window: {{WINDOW}}
` + fastRetry + capacityGPT4o + backendPTUYAML + backendEast2YAML

var limitsSecrets = map[string]string{"secrets/batch-key": "batch-key-1\n", "secrets/metered-key": "metered-key-1\n"}

const limitedChat = `{"messages":[{"role":"user","content":"hi"}],"max_tokens":100}`

func key(k string) map[string]string { return map[string]string{"api-key": k} }

func headerInt(t *testing.T, r response, name string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(r.header.Get(name), 10, 64)
	if err != nil {
		t.Fatalf("header %s = %q (status %d): %v", name, r.header.Get(name), r.status, err)
	}
	return v
}

// consumerUse reads GET /consumers: the use of one consumer's rule.
func consumerUse(t *testing.T, s *stack, consumer, kind string) (used int64, renews time.Time) {
	t.Helper()
	body, ok := e2etest.Get(s.spillAdmin + "/consumers")
	if !ok {
		t.Fatalf("GET /consumers: %s", body)
	}
	var out struct {
		Consumers []struct {
			Name   string
			Limits []struct {
				Kind     string
				Used     int64
				RenewsAt *time.Time `json:"renews_at"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /consumers %q: %v", body, err)
	}
	for _, c := range out.Consumers {
		for _, l := range c.Limits {
			if c.Name == consumer && l.Kind == kind {
				if l.RenewsAt != nil {
					renews = *l.RenewsAt
				}
				return l.Used, renews
			}
		}
	}
	t.Fatalf("GET /consumers has no %s rule for %s: %s", kind, consumer, body)
	return 0, time.Time{}
}

// TestConsumerLimits: a batch consumer sending three times its tpm gets
// 429s whose retry-after is exact, while an unlimited interactive consumer
// is served by the PTU throughout; a quota spent answers 403 until its
// renewal; streams and failed requests are corrected and released.
func TestConsumerLimits(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: limitsSim, gatewayYAML: limitsGateway, secrets: limitsSecrets, vars: map[string]string{"WINDOW": "2s"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("batch at 3x its tpm: 429 with exact retry-after; interactive all on the PTU", func(t *testing.T) {
		first := s.chat(ctx, limitedChat, key("batch-key-1"))
		expectStatus(t, first, 200)
		cost := headerInt(t, first, "x-spillway-consumed-tokens")
		if rem := headerInt(t, first, "x-ratelimit-remaining-tokens"); rem != 1000-cost {
			t.Fatalf("remaining tokens %d after one request of %d, want %d", rem, cost, 1000-cost)
		}
		// Three times the limit: 3000 tokens per 2 s window, for 3 s.
		every := time.Duration(int64(2*time.Second) * cost / 3000)
		var mu sync.Mutex
		var batch, inter []response
		var last429 time.Time
		var lastRetry time.Duration
		var wg sync.WaitGroup
		tick := time.NewTicker(every)
		end := time.Now().Add(3 * time.Second)
		n := 0
		for now := range tick.C {
			if now.After(end) {
				break
			}
			wg.Go(func() {
				sent := time.Now()
				r := s.chat(ctx, limitedChat, key("batch-key-1"))
				mu.Lock()
				defer mu.Unlock()
				batch = append(batch, r)
				if r.status == 429 && sent.After(last429) {
					last429 = sent
					lastRetry = time.Duration(headerInt(t, r, "retry-after-ms")) * time.Millisecond
				}
			})
			if n++; n%2 == 0 {
				wg.Go(func() {
					r := s.chat(ctx, limitedChat, nil)
					mu.Lock()
					defer mu.Unlock()
					inter = append(inter, r)
				})
			}
		}
		tick.Stop()
		wg.Wait()

		admitted, refused := 0, 0
		for _, r := range batch {
			switch r.status {
			case 200:
				admitted++
			case 429:
				refused++
				expectAzureError(t, r, "429")
				if !strings.Contains(r.body, "token rate limit of consumer 'batch': 1000 tokens per 2s") {
					t.Errorf("429 body does not name the limit: %s", r.body)
				}
				ms := headerInt(t, r, "retry-after-ms")
				if ms <= 0 || ms > 2000 || r.header.Get("retry-after") != strconv.FormatInt((ms+999)/1000, 10) {
					t.Errorf("retry-after %q, retry-after-ms %d: want 0 < ms <= the 2 s window and seconds rounded up", r.header.Get("retry-after"), ms)
				}
				if r.header.Get("x-ratelimit-remaining-tokens") == "" {
					t.Errorf("429 without x-ratelimit-remaining-tokens")
				}
			default:
				t.Errorf("batch request answered %d: %s", r.status, r.body)
			}
		}
		// About a third of the load fits: 1000 of 3000 tokens per window.
		if admitted < len(batch)/5 || refused < len(batch)/2 {
			t.Errorf("batch: %d admitted, %d refused of %d, want about a third admitted", admitted, refused, len(batch))
		}
		for _, r := range inter {
			expectStatus(t, r, 200)
			expectServedBy(t, r, backendPTU, "ptu", "1")
			if r.header.Get("x-spillway-consumed-tokens") != "" {
				t.Errorf("an unlimited consumer got limit headers")
			}
		}
		t.Logf("batch: %d sent every %v, %d admitted, %d refused; interactive: %d, all on the PTU", len(batch), every, admitted, refused, len(inter))
		// Exact: just before the time the last 429 named, the window still
		// has no room for this cost; just after, it has.
		retryAt := last429.Add(lastRetry)
		time.Sleep(time.Until(retryAt.Add(-400 * time.Millisecond)))
		if r := s.chat(ctx, limitedChat, key("batch-key-1")); r.status != 429 {
			t.Fatalf("400 ms before the retry time: status %d, want 429", r.status)
		}
		time.Sleep(time.Until(retryAt.Add(50 * time.Millisecond)))
		expectStatus(t, s.chat(ctx, limitedChat, key("batch-key-1")), 200)
	})

	t.Run("quota: streams corrected, failures released, 403 until the renewal", func(t *testing.T) {
		metered := key("metered-key-1")
		// Start in the first second of a 4 s period: the steps up to the
		// 403 must fall in one.
		waitFor(t, "an early moment of a quota period", 5*time.Second, func() bool { return time.Now().UnixMilli()%4000 < 1000 })
		// A stream charged 250 + prompt on arrival uses 100 + prompt.
		st := s.chatStream(ctx, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":250,"stream":true}`, metered)
		expectStatus(t, st, 200)
		charged := headerInt(t, st, "x-spillway-consumed-tokens")
		// The charge is corrected when the router's stream ends, a moment
		// after the client has read the last event.
		var used int64
		var renews time.Time
		waitFor(t, "the stream's charge corrected to its usage", 5*time.Second, func() bool {
			used, renews = consumerUse(t, s, "metered", "quota")
			return used == charged-150
		})
		// A request its client cancels is charged, then released.
		slowCtx, cancelSlow := context.WithCancel(ctx)
		seen := make(chan bool, 1)
		go func() {
			// Cancel once the request is charged (or after 5 s: the test
			// then fails on its release).
			defer cancelSlow()
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if body, ok := e2etest.Get(s.spillAdmin + "/consumers"); ok && !strings.Contains(body, fmt.Sprintf(`"used": %d,`, used)) {
					seen <- true
					return
				}
			}
			seen <- false
		}()
		req := newChatRequest(t, slowCtx, s, limitedChat, map[string]string{"api-key": "metered-key-1", "x-sim-fault": "slow-first-byte=3000"})
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the cancelled request was answered %d", resp.StatusCode)
		}
		if !<-seen {
			t.Fatal("the slow request was never charged")
		}
		waitFor(t, "the cancelled request's charge to be released", 5*time.Second, func() bool {
			u, _ := consumerUse(t, s, "metered", "quota")
			return u == used
		})
		r := s.chat(ctx, limitedChat, metered)
		expectStatus(t, r, 200)
		if rem, c := headerInt(t, r, "x-spillway-remaining-quota-tokens"), headerInt(t, r, "x-spillway-consumed-tokens"); rem != 300-used-c {
			t.Fatalf("remaining quota %d after %d + %d, want %d", rem, used, c, 300-used-c)
		}
		over := s.chat(ctx, limitedChat, metered)
		if over.status != 403 {
			t.Fatalf("over the quota: status %d, want 403: %s", over.status, over.body)
		}
		expectAzureError(t, over, "quota_exceeded")
		if !strings.Contains(over.body, "the 4s token quota of consumer 'metered' is 300 tokens") || !strings.Contains(over.body, "renews at "+renews.UTC().Format(time.RFC3339)) {
			t.Errorf("403 body does not name the quota and its renewal %v: %s", renews, over.body)
		}
		if wait := time.Duration(headerInt(t, over, "retry-after-ms")) * time.Millisecond; wait > time.Until(renews)+100*time.Millisecond || wait < time.Until(renews)-time.Second {
			t.Errorf("retry-after-ms %v, want the time to the renewal %v", wait, time.Until(renews))
		}
		time.Sleep(time.Until(renews.Add(20 * time.Millisecond)))
		expectStatus(t, s.chat(ctx, limitedChat, metered), 200)
	})
}

// TestConsumerLimitsShared: two replicas over one Redis enforce one limit —
// a burst through both admits no more than the limit and one request's
// cost.
func TestConsumerLimitsShared(t *testing.T) {
	r := e2etest.StartRedis(t)
	gw := limitsGateway + redisState
	vars := map[string]string{"REDIS": r.Addr, "WINDOW": "30s"}
	a := startStack(t, stackOptions{simYAML: limitsSim, gatewayYAML: gw, secrets: limitsSecrets, vars: vars})
	b := startStack(t, stackOptions{gatewayYAML: gw, secrets: limitsSecrets, vars: vars, simAddr: strings.TrimPrefix(a.simURL, "http://")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 540 of the 1000 through a; then a burst through both.
	var first int64
	for range 5 {
		r := a.chat(ctx, limitedChat, key("batch-key-1"))
		expectStatus(t, r, 200)
		first += headerInt(t, r, "x-spillway-consumed-tokens")
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	admitted := map[*stack]int64{a: first}
	cost, refused := int64(0), 0
	for i := range 20 {
		s := []*stack{a, b}[i%2]
		wg.Go(func() {
			r := s.chat(ctx, limitedChat, key("batch-key-1"))
			mu.Lock()
			defer mu.Unlock()
			switch r.status {
			case 200:
				c := headerInt(t, r, "x-spillway-consumed-tokens")
				admitted[s] += c
				cost = max(cost, c)
			case 429:
				refused++
			default:
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	total := admitted[a] + admitted[b]
	t.Logf("admitted %d tokens (%d through a, %d through b), %d refused; one request costs %d", total, admitted[a], admitted[b], refused, cost)
	if total > 1000+cost || total < 1000-cost {
		t.Fatalf("two replicas admitted %d tokens under one tpm of 1000 (one request: %d)", total, cost)
	}
	if refused == 0 || admitted[b] > 1000-first+cost {
		t.Fatalf("b admitted %d tokens after a's %d, %d refused: b does not count a's requests", admitted[b], first, refused)
	}
	if ua, _ := consumerUse(t, a, "batch", "tpm"); ua != total {
		t.Fatalf("GET /consumers of a: tpm used %d, want %d (both replicas' requests)", ua, total)
	}

	// Chargeback from the store: either replica reports both's requests
	// (each flushes its own every second), by consumer × model × tier ×
	// backend.
	var body string
	var used, requests int64
	waitFor(t, "b's usage report to hold both replicas' requests", 5*time.Second, func() bool {
		var ok bool
		if body, ok = e2etest.Get(b.spillAdmin + "/usage"); !ok {
			t.Fatalf("GET /usage: %s", body)
		}
		var usage struct {
			Usage []struct {
				Consumer, Model, Tier, Backend string
				Input                          int64 `json:"input_tokens"`
				Output                         int64 `json:"output_tokens"`
				Requests                       int64
			}
		}
		if err := json.Unmarshal([]byte(body), &usage); err != nil {
			t.Fatalf("GET /usage %q: %v", body, err)
		}
		used, requests = 0, 0
		for _, u := range usage.Usage {
			if u.Consumer != "batch" || u.Model != "gpt-4o" || u.Backend == "" || u.Tier == "" {
				t.Fatalf("usage row %+v: want batch's on gpt-4o, with tier and backend", u)
			}
			used, requests = used+u.Input+u.Output, requests+u.Requests
		}
		return used == total && requests == total/cost
	})
}

// newChatRequest is a chat request through the gateway as s.chat sends it.
func newChatRequest(t *testing.T, ctx context.Context, s *stack, body string, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", s.gatewayURL+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}
