package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api-key") != "demo-key" || r.URL.Path != "/openai/deployments/gpt-4o/chat/completions" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("x-spillway-backend", "ptu-eastus")
		w.Header().Set("x-spillway-attempts", "1")
		var body struct{ Stream bool }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Stream {
			w.Header().Set("content-type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("content-type", "application/json")
		fmt.Fprint(w, `{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`)
	}))
	defer srv.Close()

	cases := []struct {
		name     string
		args     []string
		wantExit int
		check    func(t *testing.T, stdout, stderr string)
	}{
		{
			name: "summary", args: []string{"--json", "--url", srv.URL, "--rate", "100", "--duration", "200ms", "--stream-share", "0.5", "--seed", "3"},
			check: func(t *testing.T, stdout, _ string) {
				var s struct {
					Offered   int            `json:"offered"`
					ByStatus  map[string]int `json:"by_status"`
					ByBackend map[string]int `json:"by_backend"`
					Latency   struct {
						N   int     `json:"n"`
						P50 float64 `json:"p50"`
						P99 float64 `json:"p99"`
					} `json:"latency_ms"`
				}
				if err := json.Unmarshal([]byte(stdout), &s); err != nil {
					t.Fatalf("stdout is not one JSON summary: %v\n%s", err, stdout)
				}
				if s.Offered == 0 || s.ByStatus["200"] != s.Offered || s.ByBackend["ptu-eastus"] != s.Offered || s.Latency.N != s.Offered || s.Latency.P99 < s.Latency.P50 {
					t.Errorf("summary = %+v", s)
				}
			},
		},
		{
			name: "every result, then the summary", args: []string{"--url", srv.URL, "--rate", "50", "--duration", "100ms", "--results", "--arrivals", "fixed"},
			check: func(t *testing.T, stdout, _ string) {
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				if len(lines) != 6 || !strings.Contains(lines[0], `"seq":0`) || !strings.Contains(lines[5], `"offered":5`) {
					t.Errorf("want 5 result lines and a summary, got:\n%s", stdout)
				}
			},
		},
		{name: "bad rate", args: []string{"--url", srv.URL, "--rate", "0"}, wantExit: 2, check: func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "rate:") {
				t.Errorf("stderr = %q, want the rate named", stderr)
			}
		}},
		{name: "bad url", args: []string{"--url", "localhost:1"}, wantExit: 2, check: func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "url:") {
				t.Errorf("stderr = %q, want the url named", stderr)
			}
		}},
		{name: "unknown flag", args: []string{"--nope"}, wantExit: 2},
		{name: "bad progress", args: []string{"--url", srv.URL, "--progress", "sometimes"}, wantExit: 2, check: func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "progress:") {
				t.Errorf("stderr = %q, want the progress flag named", stderr)
			}
		}},
		{name: "missing prompts file", args: []string{"--url", srv.URL, "--prompts", "/nonexistent/p.jsonl"}, wantExit: 2, check: func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "prompts:") {
				t.Errorf("stderr = %q, want the prompts named", stderr)
			}
		}},
		{name: "rate and requests", args: []string{"--url", srv.URL, "--rate", "5", "--requests", "3"}, wantExit: 2, check: func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "rate:") {
				t.Errorf("stderr = %q, want the conflict named", stderr)
			}
		}},
		{name: "stray argument", args: []string{"extra"}, wantExit: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"load"}, c.args...), &stdout, &stderr)
			var exit exitCode
			switch {
			case c.wantExit == 0 && err != nil:
				t.Fatalf("run: %v; stderr: %s", err, stderr.String())
			case c.wantExit != 0 && (!errors.As(err, &exit) || int(exit) != c.wantExit):
				t.Fatalf("run = %v, want exit %d", err, c.wantExit)
			}
			if c.check != nil {
				c.check(t, stdout.String(), stderr.String())
			}
		})
	}
}
