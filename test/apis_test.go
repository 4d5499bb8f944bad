package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The simulator's deployments stand for three Azure resources, each with
// its own key, as real ones have: a stored response is found only with the
// key (and so the backend) of the resource that stored it.
func apisSimYAML() string {
	return strings.NewReplacer(
		`keys: ["sim-key-1"]`, `keys: ["sim-admin"]`,
		"    throttle_headers: both\n", "    throttle_headers: both\n    keys: [\"key-ptu\"]\n",
		"    throttle_headers: retry-after\n", "    throttle_headers: retry-after\n    keys: [\"key-e2\"]\n",
		"    throttle_headers: none\n", "    throttle_headers: none\n    keys: [\"key-w3\"]\n",
	).Replace(simConfig)
}

func ownKeyBackend(name, kind, deployment, region, keyFile string, capacity, priority int) string {
	return strings.Replace(backendYAML(name, kind, deployment, region, capacity, priority), "secrets/sim-key", keyFile, 1)
}

// apisGateway routes by capacity; each backend calls with its resource's
// key. The PTU's capacity is the gateway's belief, small on purpose (the
// simulator's is large), so one held request puts it under pressure.
var apisGateway = gatewayHead + `
routing: capacity
capacity:
  max_wait: 50ms
models:
  - name: gpt-4o
    context_window: 8192
    backends:` +
	ownKeyBackend(backendPTU, "ptu", deploymentPTU, "eastus", "secrets/key-ptu", 2000, 0) +
	ownKeyBackend(backendEast2, "tpm", deploymentE2, "eastus2", "secrets/key-e2", 1000000, 1) +
	ownKeyBackend(backendWest3, "tpm", deploymentW3, "westus3", "secrets/key-w3", 1000000, 2)

func TestAPIs(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: apisSimYAML(), gatewayYAML: apisGateway, secrets: map[string]string{
		"secrets/key-ptu": "key-ptu\n", "secrets/key-e2": "key-e2\n", "secrets/key-w3": "key-w3\n",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("responses: a conversation stays on the backend that stored it", func(t *testing.T) {
		s.resetLedger()
		// Turn 1 under PTU pressure: the PTU throttles, Envoy spills the
		// attempt to eastus2, whose body must name its own deployment.
		r := s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Tell me a story about a dam.","max_output_tokens":40}`,
			map[string]string{"x-sim-fault": "429@" + deploymentPTU})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")
		first := decodeResponseBody(t, r.body)
		if first.Usage.InputTokens <= 0 || first.Usage.OutputTokens != 12 {
			t.Fatalf("turn 1 usage %+v", first.Usage)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"429": 1}, deploymentE2: {"200": 1}, deploymentW3: {}})

		// The PTU recovers: a new request goes there again ...
		s.waitNoCooldown()
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"unrelated"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")

		// ... but turn 2 continues the conversation where it is stored,
		// streamed this time.
		s.resetLedger()
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"And then?","stream":true,"previous_response_id":"`+first.ID+`"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		second := completedEvent(t, r.body)
		if second.Usage.InputTokens <= first.Usage.TotalTokens {
			t.Errorf("turn 2 input %d tokens, want more than turn 1's %d (the backend had the conversation)", second.Usage.InputTokens, first.Usage.TotalTokens)
		}
		// Turn 3, JSON again.
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"The end.","previous_response_id":"`+second.ID+`"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		third := decodeResponseBody(t, r.body)
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {"200": 2}, deploymentW3: {}})

		// spillway charged the Responses usage it read (JSON and stream).
		line := s.requestLog(r)
		if want := fmt.Sprintf(`"prompt_tokens":%d,"completion_tokens":%d`, third.Usage.InputTokens, third.Usage.OutputTokens); !strings.Contains(line, want) || !strings.Contains(line, `"usage_known":true`) {
			t.Errorf("request log does not carry the response's usage (%s): %s", want, line)
		}

		// Reading, listing and deleting the stored response go there too.
		s.resetLedger()
		g := s.do(ctx, "GET", "/openai/v1/responses/"+third.ID, "", nil)
		expectStatus(t, g, 200)
		expectServedBy(t, g, backendEast2, "tpm", "1")
		if decodeResponseBody(t, g.body).ID != third.ID {
			t.Errorf("GET returned %s", g.body)
		}
		g = s.do(ctx, "GET", "/openai/v1/responses/"+first.ID+"/input_items?limit=10", "", nil)
		expectStatus(t, g, 200)
		if !strings.Contains(g.body, "a story about a dam") {
			t.Errorf("input_items: %s", g.body)
		}
		g = s.do(ctx, "DELETE", "/openai/v1/responses/"+third.ID, "", nil)
		expectStatus(t, g, 200)
		expectServedBy(t, g, backendEast2, "tpm", "1")
		// Gone on the backend: its 404, not another backend's.
		g = s.do(ctx, "GET", "/openai/v1/responses/"+third.ID, "", nil)
		expectStatus(t, g, 404)
		expectServedBy(t, g, backendEast2, "tpm", "1")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {"200": 3, "404": 1}, deploymentW3: {}})

		// The storing backend throttled: the client gets its 429, and no
		// other backend is tried.
		s.resetLedger()
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"again","previous_response_id":"`+second.ID+`"}`,
			map[string]string{"x-sim-fault": "429@" + deploymentE2})
		expectStatus(t, r, 429)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		if r.header.Get("retry-after") == "" {
			t.Errorf("429 without retry-after: %v", r.header)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {"429": 1}, deploymentW3: {}})
		// While it cools down, spillway answers for it: a clear 429, not a
		// 404 from a backend that never had the response.
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"again","previous_response_id":"`+second.ID+`"}`, nil)
		expectStatus(t, r, 429)
		expectAzureError(t, r, "429")
		if !strings.Contains(r.body, second.ID) || r.header.Get("retry-after") == "" || r.header.Get("x-spillway-backend") != "" {
			t.Errorf("local 429: %v %s", r.header, r.body)
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {"429": 1}, deploymentW3: {}})
	})

	t.Run("responses: a conversation stored on the PTU stays there while new work spills", func(t *testing.T) {
		s.waitNoCooldown()
		s.resetLedger()
		r := s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Plan a canal.","max_output_tokens":40}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		first := decodeResponseBody(t, r.body)
		held := s.fillPTU(t, ctx, 2*time.Second, 2) // the PTU's second request
		// New work that does not fit spills ...
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Something new.","max_output_tokens":1000}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
		// ... but a follow-up that does not fit either must not: only the
		// PTU has the conversation, so the client is told to come back.
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Long answer please.","max_output_tokens":1000,"previous_response_id":"`+first.ID+`"}`, nil)
		expectStatus(t, r, 429)
		expectAzureError(t, r, "429")
		if !strings.Contains(r.body, first.ID) || r.header.Get("retry-after") == "" || r.header.Get("x-spillway-backend") != "" {
			t.Errorf("pinned follow-up without room: %v %s", r.header, r.body)
		}
		// With the PTU's room back, follow-ups go to it, stream and JSON.
		expectServedBy(t, <-held, backendPTU, "ptu", "1")
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Where does it go?","stream":true,"max_output_tokens":50,"previous_response_id":"`+first.ID+`"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		second := completedEvent(t, r.body)
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Thanks.","max_output_tokens":50,"previous_response_id":"`+second.ID+`"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		r = s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"Long answer please.","max_output_tokens":1000,"previous_response_id":"`+first.ID+`"}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"200": 5}, deploymentE2: {"200": 1}, deploymentW3: {}})
	})

	t.Run("responses: unknown and unstored ids are answered by spillway", func(t *testing.T) {
		s.waitNoCooldown()
		s.resetLedger()
		r := s.post(ctx, "/openai/v1/responses", `{"model":"gpt-4o","input":"not kept","store":false}`, nil)
		expectStatus(t, r, 200)
		unstored := decodeResponseBody(t, r.body)
		for _, c := range []struct {
			method, path, body string
			status             int
		}{
			{"GET", "/openai/v1/responses/" + unstored.ID, "", 404},
			{"GET", "/openai/v1/responses/resp_never/input_items", "", 404},
			{"POST", "/openai/v1/responses/resp_never/cancel", "", 404},
			{"POST", "/openai/v1/responses", `{"model":"gpt-4o","input":"x","previous_response_id":"resp_never"}`, 400},
		} {
			g := s.do(ctx, c.method, c.path, c.body, nil)
			expectStatus(t, g, c.status)
			expectAzureError(t, g, "")
			if g.header.Get("x-spillway-backend") != "" {
				t.Errorf("%s %s reached a backend", c.method, c.path)
			}
		}
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {"200": 1}, deploymentE2: {}, deploymentW3: {}})
	})

	t.Run("legacy completions", func(t *testing.T) {
		s.resetLedger()
		r := s.post(ctx, "/openai/deployments/gpt-4o/completions?api-version=2024-10-21", `{"prompt":["Say this is a test","and this"],"max_tokens":5}`, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		if !strings.Contains(r.body, `"object":"text_completion"`) {
			t.Errorf("body %s", r.body)
		}
		// A stream without stream_options: spillway asks for usage and
		// hides the usage chunk from the client.
		r = s.post(ctx, "/openai/v1/completions", `{"model":"gpt-4o","prompt":"Say this is a test","max_tokens":5,"stream":true}`, nil)
		expectStatus(t, r, 200)
		if strings.Contains(r.body, `"usage"`) || !strings.Contains(r.body, "[DONE]") {
			t.Errorf("stream: %s", r.body)
		}
		line := s.requestLog(r)
		if !strings.Contains(line, `"usage_known":true`) || !strings.Contains(line, `"usage_estimated":false`) {
			t.Errorf("completions stream usage not read: %s", line)
		}
		r = s.post(ctx, "/openai/v1/completions", `{"model":"gpt-4o","prompt":{"x":1}}`, nil)
		expectStatus(t, r, 400)
		expectAzureError(t, r, "")
	})

	t.Run("embeddings token arrays with dimensions", func(t *testing.T) {
		r := s.post(ctx, "/openai/v1/embeddings", `{"model":"gpt-4o","input":[[1,2,3],[4,5]],"dimensions":8}`, nil)
		expectStatus(t, r, 200)
		var body struct {
			Data []struct {
				Embedding []float64 `json:"embedding"`
			} `json:"data"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Data) != 2 || len(body.Data[0].Embedding) != 8 || body.Usage.PromptTokens != 5 {
			t.Fatalf("embeddings: %v %s", err, r.body)
		}
		line := s.requestLog(r)
		if !strings.Contains(line, `"counted_prompt_tokens":5,`) {
			t.Errorf("token arrays not counted exactly: %s", line)
		}
	})

	t.Run("models and unknown operations", func(t *testing.T) {
		s.resetLedger()
		r := s.do(ctx, "GET", "/openai/v1/models", "", nil)
		expectStatus(t, r, 200)
		var list struct {
			Object string `json:"object"`
			Data   []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(r.body), &list); err != nil || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "gpt-4o" {
			t.Errorf("models: %v %s", err, r.body)
		}
		r = s.do(ctx, "GET", "/v1/models/gpt-4o", "", nil)
		expectStatus(t, r, 200)
		r = s.do(ctx, "GET", "/openai/v1/models/nope", "", nil)
		expectStatus(t, r, 404)
		expectAzureError(t, r, "DeploymentNotFound")
		r = s.post(ctx, "/openai/v1/audio/speech", `{"model":"gpt-4o","input":"x"}`, nil)
		expectStatus(t, r, 404)
		expectAzureError(t, r, "404")
		r = s.do(ctx, "GET", "/openai/v1/chat/completions", "", nil)
		expectStatus(t, r, 405)
		r = s.do(ctx, "GET", "/openai/v1/models", "", map[string]string{"api-key": "wrong"})
		expectStatus(t, r, 401)
		expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {}, deploymentW3: {}})
	})
}

type responseBody struct {
	ID    string `json:"id"`
	Usage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func decodeResponseBody(t *testing.T, body string) responseBody {
	t.Helper()
	var r responseBody
	if err := json.Unmarshal([]byte(body), &r); err != nil || !strings.HasPrefix(r.ID, "resp_") {
		t.Fatalf("not a response: %v %s", err, body)
	}
	return r
}

// completedEvent returns the response of a stream's response.completed event.
func completedEvent(t *testing.T, stream string) responseBody {
	t.Helper()
	for _, ev := range strings.Split(stream, "\n\n") {
		if !strings.HasPrefix(ev, "event: response.completed\n") {
			continue
		}
		var e struct {
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(ev[strings.Index(ev, "\n")+1:], "data: ")), &e); err != nil {
			t.Fatal(err)
		}
		return decodeResponseBody(t, string(e.Response))
	}
	t.Fatalf("no response.completed event in:\n%s", stream)
	return responseBody{}
}

// requestLog waits for spillway's log line of the request r answered (it is
// written when the stream ends, just after the client has the response).
func (s *stack) requestLog(r response) string {
	s.t.Helper()
	var line string
	waitFor(s.t, "spillway's request log line", 5*time.Second, func() bool {
		line = logLine(s.spillway.out.String(), `"msg":"request"`, r.header.Get("x-request-id"))
		return line != ""
	})
	return line
}
