package test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const hello = `{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello."}],"max_tokens":20}`

func TestGatewayRouting(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: threeBackends})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("non-streaming chat is served by the PTU", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		var body struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, r.body)
		}
		if len(body.Choices) != 1 || body.Usage.CompletionTokens != 12 || body.Usage.PromptTokens == 0 {
			t.Errorf("unexpected completion: %s", r.body)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"200": 1}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("the v1 path takes the model from the body", func(t *testing.T) {
		s.resetLedger()
		r := s.post(ctx, "/openai/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		r = s.post(ctx, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"api-key": "", "authorization": "Bearer client-key-1"})
		expectStatus(t, r, 200)
	})

	t.Run("streaming chat is served by the PTU", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, `{"messages":[{"role":"user","content":"Stream please."}],"stream":true,"stream_options":{"include_usage":true}}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		if ct := r.header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("content-type = %q, want text/event-stream", ct)
		}
		if !strings.HasSuffix(strings.TrimSpace(r.body), "data: [DONE]") || !strings.Contains(r.body, `"usage":{`) {
			t.Errorf("stream is not a complete SSE stream with usage:\n%s", r.body)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"200": 1}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("a stream without include_usage is charged but shows no usage", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, `{"messages":[{"role":"user","content":"Stream please."}],"stream":true}`, nil)
		expectStatus(t, r, 200)
		if strings.Contains(r.body, `"usage":{`) {
			t.Errorf("the client did not ask for usage but got it:\n%s", r.body)
		}
		if !strings.HasSuffix(strings.TrimSpace(r.body), "data: [DONE]") || !strings.Contains(r.body, `"finish_reason":"stop"`) {
			t.Errorf("stream is not complete:\n%s", r.body)
		}
		// spillway read the usage it asked for: its request log says so.
		id := r.header.Get("x-request-id")
		waitFor(t, "spillway's request log line", 5*time.Second, func() bool {
			return logLine(s.spillway.out.String(), `"msg":"request"`, id) != ""
		})
		line := logLine(s.spillway.out.String(), `"msg":"request"`, id)
		if !strings.Contains(line, `"usage_known":true`) || !strings.Contains(line, `"completion_tokens":12`) {
			t.Errorf("usage not read from the stream: %s", line)
		}
	})

	t.Run("a throttled PTU spills the same request to the next region", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		if got := r.header.Get("x-ms-region"); got != "eastus2" {
			t.Errorf("x-ms-region = %q, want eastus2", got)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"200": 1}, deploymentW3: {}})
	})

	t.Run("a 400 is answered at once, never retried", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":100000}`, nil)
		expectStatus(t, r, 400)
		expectAzureError(t, r, "context_length_exceeded")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"400": 1}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("a 503 is retried on the next backend", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "503@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"503": 1}, deploymentE2: {"200": 1}, deploymentW3: {}})
	})

	t.Run("a connection reset is retried on the next backend", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "reset@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"reset": 1}, deploymentE2: {"200": 1}, deploymentW3: {}})
	})

	t.Run("two failures reach the third backend", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "429@" + deploymentPTU + ",502@" + deploymentE2})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendWest3, "tpm", "3")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"502": 1}, deploymentW3: {"200": 1}})
	})

	t.Run("every backend throttled gives the client a 429 with retry-after", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "429"})
		expectStatus(t, r, 429)
		if r.header.Get("retry-after") == "" {
			t.Errorf("429 without retry-after; headers: %v", r.header)
		}
		expectAzureError(t, r, "429")
		// The last backend (westus3) sends no retry header at all: spillway adds one.
		expectServedBy(t, r, backendWest3, "tpm", "3")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"429": 1}, deploymentW3: {"429": 1}})
	})
}

// logLine returns the first line of log containing every one of parts.
func logLine(log string, parts ...string) string {
next:
	for _, line := range strings.Split(log, "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}

func expectStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body: %s", r.status, want, r.body)
	}
}

func expectServedBy(t *testing.T, r response, backend, tier, attempts string) {
	t.Helper()
	got := [3]string{r.header.Get("x-spillway-backend"), r.header.Get("x-spillway-tier"), r.header.Get("x-spillway-attempts")}
	if want := [3]string{backend, tier, attempts}; got != want {
		t.Errorf("served by (backend, tier, attempts) = %q, want %q", got, want)
	}
}

// expectAzureError checks the body is {"error":{"code":...,"message":...}}.
func expectAzureError(t *testing.T, r response, code string) {
	t.Helper()
	var body struct {
		Error *struct {
			Code    *string `json:"code"`
			Message string  `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error == nil || body.Error.Message == "" {
		t.Fatalf("body is not an Azure error: %s", r.body)
	}
	if code != "" && (body.Error.Code == nil || *body.Error.Code != code) {
		t.Errorf("error code = %v, want %q; body: %s", body.Error.Code, code, r.body)
	}
	if ct := r.header.Get("content-type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type = %q, want application/json", ct)
	}
}

// expectLedger checks the simulator saw exactly these responses per deployment.
func expectLedger(t *testing.T, s *stack, want map[string]map[string]int64) {
	t.Helper()
	l := s.ledger()
	for dep, statuses := range want {
		d := l.Deployments[dep]
		var total int64
		for status, n := range statuses {
			total += n
			if d.Responses[status] != n {
				t.Errorf("ledger %s: %d responses %s, want %d (all: %v)", dep, d.Responses[status], status, n, d.Responses)
			}
		}
		if d.Requests != total {
			t.Errorf("ledger %s: %d requests, want %d (responses %v)", dep, d.Requests, total, d.Responses)
		}
	}
}
