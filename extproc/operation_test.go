package extproc

import (
	"errors"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/tokens"
)

func testModel(t *testing.T, window int) *Model {
	t.Helper()
	tm, err := tokens.LookupModel("gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	return &Model{Name: "gpt-4o", ContextWindow: window, Tokens: tm}
}

// TestOperations checks each operation's seam on a request through it:
// the methods it takes, the upstream path, the count, the affinity key.
func TestOperations(t *testing.T) {
	b := &Backend{Name: "tpm-1", Deployment: "gpt-4o-eastus2", APIVersion: "2024-10-21"}
	m := testModel(t, 8192)
	enc := m.Tokens.Encoding
	hi := enc.CountString("hi")
	tests := []struct {
		name, method, path, body string
		upstream                 string
		prompt, cost             int
		affinity                 string
		stores                   bool
		errCode                  string // count's error code or type (a 400), if any
	}{
		{name: "chat", method: "POST", path: "/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01",
			body:     `{"messages":[{"role":"user","content":"hi"}],"max_tokens":10}`,
			upstream: "/openai/deployments/gpt-4o-eastus2/chat/completions?api-version=2024-10-21", prompt: 3 + 1 + hi + 3, cost: 3 + 1 + hi + 3 + 10},
		{name: "chat over the window", method: "POST", path: "/v1/chat/completions",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":9000}`, errCode: "context_length_exceeded"},
		{name: "completions", method: "POST", path: "/openai/v1/completions", body: `{"model":"gpt-4o","prompt":["hi","hi"],"max_tokens":5,"n":2}`,
			upstream: "/openai/deployments/gpt-4o-eastus2/completions?api-version=2024-10-21", prompt: 2 * hi, cost: 2*hi + 10},
		{name: "completions bad prompt", method: "POST", path: "/openai/v1/completions", body: `{"model":"gpt-4o","prompt":{}}`, errCode: "invalid_request_error"},
		{name: "embeddings token arrays", method: "POST", path: "/openai/deployments/gpt-4o/embeddings", body: `{"input":[[1,2,3],[4,5]],"dimensions":64}`,
			upstream: "/openai/deployments/gpt-4o-eastus2/embeddings?api-version=2024-10-21", prompt: 5, cost: 5},
		{name: "responses", method: "POST", path: "/openai/v1/responses", body: `{"model":"gpt-4o","input":"hi","max_output_tokens":20}`,
			upstream: "/openai/v1/responses", prompt: 3 + 1 + hi + 3, cost: 3 + 1 + hi + 3 + 20, stores: true},
		{name: "responses continued, not stored", method: "POST", path: "/openai/v1/responses?api-version=preview",
			body:     `{"model":"gpt-4o","input":"hi","previous_response_id":"resp_9","store":false}`,
			upstream: "/openai/v1/responses?api-version=preview", prompt: 3 + 1 + hi + 3, cost: 3 + 1 + hi + 3 + 16, affinity: "resp_9"},
		{name: "get stored response", method: "GET", path: "/openai/v1/responses/resp_9", upstream: "/openai/v1/responses/resp_9", affinity: "resp_9"},
		{name: "delete stored response", method: "DELETE", path: "/v1/responses/resp_9", upstream: "/openai/v1/responses/resp_9", affinity: "resp_9"},
		{name: "cancel", method: "POST", path: "/openai/v1/responses/resp_9/cancel", upstream: "/openai/v1/responses/resp_9/cancel", affinity: "resp_9"},
		{name: "input items", method: "GET", path: "/openai/v1/responses/resp_9/input_items?limit=2", upstream: "/openai/v1/responses/resp_9/input_items?limit=2", affinity: "resp_9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt, ok := parsePath(tt.path)
			if !ok {
				t.Fatalf("path %q not understood", tt.path)
			}
			op := tgt.op
			if !op.allows(tt.method) {
				t.Fatalf("%s not allowed", tt.method)
			}
			for _, other := range []string{"PUT", "PATCH"} {
				if op.allows(other) {
					t.Errorf("%s allowed", other)
				}
			}
			if op.atHeaders() != (tt.body == "") {
				t.Errorf("atHeaders = %v with body %q", op.atHeaders(), tt.body)
			}
			r, err := op.parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !op.atHeaders() {
				c, e := op.count(m, m.Tokens, []byte(tt.body))
				prompt, cost := c.prompt, c.cost
				if tt.errCode != "" {
					if e == nil || (e.Code != tt.errCode && e.Type != tt.errCode) || e.Status != 400 {
						t.Fatalf("count error %v, want code %s", e, tt.errCode)
					}
					return
				}
				if e != nil {
					t.Fatal(e)
				}
				if prompt != tt.prompt || cost != tt.cost {
					t.Errorf("prompt, cost = %d, %d; want %d, %d", prompt, cost, tt.prompt, tt.cost)
				}
				if c.output != cost-prompt {
					t.Errorf("output share %d, want the completion's maximum %d", c.output, cost-prompt)
				}
			}
			if got := op.upstreamPath(b, tgt); got != tt.upstream {
				t.Errorf("upstream path %q, want %q", got, tt.upstream)
			}
			if id, _ := op.affinity(tgt, r); id != tt.affinity {
				t.Errorf("affinity %q, want %q", id, tt.affinity)
			}
			if op.stores(r) != tt.stores {
				t.Errorf("stores = %v, want %v", op.stores(r), tt.stores)
			}
			// Re-parsing the upstream path finds the same operation: the
			// upstream phase of attempt 2 sees attempt 1's path.
			if again, ok := parsePath(tt.upstream); !ok || again.op != op {
				t.Errorf("upstream path %q parses as %+v, %v", tt.upstream, again, ok)
			}
		})
	}
}

func TestMethodsRefused(t *testing.T) {
	for _, c := range []struct{ method, path string }{
		{"GET", "/openai/v1/chat/completions"},
		{"GET", "/openai/v1/responses"},
		{"POST", "/openai/v1/responses/resp_1"},
		{"GET", "/openai/v1/responses/resp_1/cancel"},
		{"DELETE", "/openai/v1/responses/resp_1/input_items"},
		{"POST", "/openai/v1/models"},
	} {
		tgt, ok := parsePath(c.path)
		if !ok || tgt.op.allows(c.method) {
			t.Errorf("%s %s: ok %v, allowed", c.method, c.path, ok)
		}
	}
}

func TestResponsesAttemptBody(t *testing.T) {
	b := &Backend{Deployment: "gpt-4o-westus3"}
	op := responsesOp{}
	if !op.perAttemptBody() {
		t.Fatal("the Responses API names the deployment in the body: each attempt needs its own")
	}
	got, err := op.attemptBody(b, []byte(`{"model":"gpt-4o","input":"hi"}`))
	if err != nil || string(got) != `{"model":"gpt-4o-westus3","input":"hi"}` {
		t.Fatalf("got %s, %v", got, err)
	}
	for _, o := range []operation{operations["chat/completions"], operations["embeddings"], operations["completions"], storedResponseOp{}} {
		if o.perAttemptBody() {
			t.Errorf("%T rewrites bodies; deployment paths name the deployment", o)
		}
	}
}

func TestOperationUsage(t *testing.T) {
	tests := []struct {
		name   string
		op     operation
		body   string
		prompt int
		compl  int
		id     string
	}{
		{"chat", operations["chat/completions"], `{"id":"chatcmpl-1","usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`, 9, 4, ""},
		{"embeddings", operations["embeddings"], `{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}`, 5, 0, ""},
		{"responses", responsesOp{}, `{"id":"resp_7","object":"response","usage":{"input_tokens":11,"output_tokens":6,"total_tokens":17,"input_tokens_details":{"cached_tokens":2}}}`, 11, 6, "resp_7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, id := tt.op.usage([]byte(tt.body))
			if !ok || u.PromptTokens != tt.prompt || u.CompletionTokens != tt.compl || u.TotalTokens != tt.prompt+tt.compl || id != tt.id {
				t.Fatalf("usage %+v %v id %q", u, ok, id)
			}
		})
	}
	// A stream of response.* events: the id from response.created, usage
	// from response.completed, whatever the chunking.
	stream := "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_8\",\"status\":\"in_progress\",\"usage\":null}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"lo\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_8\",\"status\":\"completed\",\"usage\":{\"input_tokens\":12,\"output_tokens\":2,\"total_tokens\":14,\"output_tokens_details\":{\"reasoning_tokens\":1}}}}\n\n"
	for cut := 0; cut <= len(stream); cut += 7 {
		s := &openai.SSEUsage{Format: responsesOp{}.streamFormat()}
		s.Write([]byte(stream[:cut]))
		s.Write([]byte(stream[cut:]))
		u, ok := s.Usage()
		if !ok || u.PromptTokens != 12 || u.CompletionTokens != 2 || u.ReasoningTokens() != 1 || s.ResponseID != "resp_8" || string(s.Content) != "Hello" {
			t.Fatalf("cut %d: usage %+v %v id %q content %q", cut, u, ok, s.ResponseID, s.Content)
		}
	}
	if s := (&openai.SSEUsage{Format: openai.ResponseStream}); strings.Contains(stream, "[DONE]") || s.Done() {
		t.Fatal("responses streams end without [DONE]")
	}
}

// TestPinnedTo: a request on a stored response is planned on its backend
// alone, one attempt, and not at all when that backend has no credential.
func TestPinnedTo(t *testing.T) {
	a, b := &Backend{Name: "a"}, &Backend{Name: "b"}
	m := &Model{Name: "gpt-4o", Order: []*Backend{a, b}, names: []string{"a", "b"}, MaxAttempts: 2}
	p := m.pinnedTo(b)
	if len(p.Order) != 1 || p.Order[0] != b || len(p.names) != 1 || p.names[0] != "b" || p.MaxAttempts != 1 || p.Name != m.Name {
		t.Fatalf("pinned model %+v", p)
	}
	if len(m.Order) != 2 || m.MaxAttempts != 2 {
		t.Fatalf("the model itself changed: %+v", m)
	}
	s := &Server{healthy: func(name string) bool { return name != "b" }}
	if _, _, err := s.routable(p); !errors.Is(err, errNoAuthenticatedBackend) {
		t.Errorf("pinned to a backend without credential: %v", err)
	}
	if _, order, err := s.routable(m.pinnedTo(a)); err != nil || len(order) != 1 {
		t.Errorf("pinned to a healthy backend: %v %v", order, err)
	}
}
