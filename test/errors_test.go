package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGatewayErrors checks that bad input gets the right status and an
// Azure-shaped body from spillway itself, without any backend being called.
func TestGatewayErrors(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: threeBackends})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cases := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{name: "malformed JSON", body: `{"messages": [`, status: 400},
		{name: "messages missing", body: `{"max_tokens": 5}`, status: 400},
		{name: "messages of the wrong type", body: `{"messages": "hi"}`, status: 400},
		{name: "max_tokens of the wrong type", body: `{"messages": [], "max_tokens": "many"}`, status: 400},
		{name: "unknown model in the path", path: "/openai/deployments/gpt-9/chat/completions?api-version=2024-10-21", body: hello, status: 404, code: "DeploymentNotFound"},
		{name: "unknown model in the body", path: "/v1/chat/completions", body: `{"model":"gpt-9","messages":[]}`, status: 404, code: "DeploymentNotFound"},
		{name: "model missing on the v1 path", path: "/v1/chat/completions", body: `{"messages":[]}`, status: 400},
		{name: "unknown path", path: "/openai/deployments/gpt-4o/completions/extra", body: hello, status: 404},
		{name: "oversize body", body: `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 70000) + `"}]}`, status: 413},
		{name: "wrong client key", body: hello, header: map[string]string{"api-key": "nope"}, status: 401, code: "401"},
		{name: "no client key", body: hello, header: map[string]string{"api-key": ""}, status: 401, code: "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.resetLedger()
			path := c.path
			if path == "" {
				path = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
			}
			r := s.post(ctx, path, c.body, c.header)
			expectStatus(t, r, c.status)
			expectAzureError(t, r, c.code)
			expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {}, deploymentW3: {}})
		})
	}

	for _, n := range []int{100_000, 400_000} {
		t.Run(fmt.Sprintf("oversize chunked body of %d bytes", n), func(t *testing.T) {
			s.resetLedger()
			body := `{"messages":[{"role":"user","content":"` + strings.Repeat("a", n) + `"}]}`
			req, err := http.NewRequestWithContext(ctx, "POST", s.gatewayURL+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
				io.MultiReader(strings.NewReader(body))) // unknown length: sent chunked
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("api-key", "client-key-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
			expectStatus(t, r, 413)
			expectAzureError(t, r, "")
			expectLedger(t, s, map[string]map[string]int64{deploymentPTU: {}, deploymentE2: {}, deploymentW3: {}})
		})
	}

	t.Run("client x-spillway headers are dropped", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, hello, map[string]string{"x-spillway-backend": "forged", "x-spillway-tier": "forged", "x-spillway-model": "gpt-9"})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
	})
}
