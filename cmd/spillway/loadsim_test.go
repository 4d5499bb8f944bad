package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/sim"
)

// simServer starts the Azure OpenAI simulator in-process: a PTU deployment
// small enough that a burst of requests gets 429s, and a standard one.
func simServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := sim.Parse([]byte(`
keys: ["k"]
deployments:
  - name: ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 3000
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 20}
    throttle_headers: both
  - name: std
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 1000000
    latency: {first_token_ms: 5, tokens_per_second: 2000}
    completion: {mode: fixed, tokens: 20}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadAgainstSimulator(t *testing.T) {
	srv := simServer(t)
	prompts := filepath.Join(t.TempDir(), "prompts.jsonl")
	if err := os.WriteFile(prompts, []byte(
		`{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":20}`+"\n"+
			`{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Name a colour."}],"max_tokens":20,"stream":true}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{
			// 3000 TPM of PTU takes a handful of ~1000-token requests, then 429s.
			name: "report: PTU saturated, closed loop",
			args: []string{"--model", "ptu", "--requests", "40", "--concurrency", "4", "--stream-share", "0.5"},
			check: func(t *testing.T, out string) {
				for _, re := range []string{
					`requests +40 offered, 40 sent, 0 dropped`,
					`\n  200 +\d+ +\d+\.\d% +█+\n`,
					`\n  429 +\d+ +\d+\.\d% +█+\n`,
					`first token \(streams\) +[1-9]\d* +\d+\.\dms`,
					`\n  \(no header\) +[1-9]\d* +\d+ +\d+ +\d+\n`, // straight to Azure: no x-spillway-tier
					`no answer carried x-spillway-\* headers: the endpoint is not spillway`,
					`top errors\n  \d+× +429 +429: `,
				} {
					if !regexp.MustCompile(re).MatchString(out) {
						t.Errorf("report does not match %q:\n%s", re, out)
					}
				}
				if strings.Contains(out, "\x1b") {
					t.Errorf("live line drawn on a non-terminal:\n%q", out)
				}
			},
		},
		{
			name: "prompts file, JSON",
			args: []string{"--model", "std", "--requests", "6", "--concurrency", "2", "--prompts", prompts, "--json"},
			check: func(t *testing.T, out string) {
				var s struct {
					Sent     int             `json:"sent"`
					ByStatus map[string]int  `json:"by_status"`
					TTFT     struct{ N int } `json:"ttft_ms"`
					Tokens   map[string]struct {
						Requests   int `json:"requests"`
						Completion int `json:"completion"`
					} `json:"tokens_by_tier"`
				}
				if err := json.Unmarshal([]byte(out), &s); err != nil {
					t.Fatalf("not one JSON summary: %v\n%s", err, out)
				}
				// Lines alternate: the second streams; the simulator completes 20 tokens each.
				if s.Sent != 6 || s.ByStatus["200"] != 6 || s.TTFT.N != 3 || s.Tokens[""].Requests != 6 || s.Tokens[""].Completion != 120 {
					t.Errorf("summary = %+v\n%s", s, out)
				}
			},
		},
		{
			name: "open loop with the live line forced on",
			args: []string{"--model", "std", "--rate", "40", "--duration", "700ms", "--arrivals", "fixed", "--progress", "on"},
			check: func(t *testing.T, out string) {
				// The line is drawn at least twice (every 250ms), then cleared before the report.
				if n := strings.Count(out, "| 2xx "); n < 2 {
					t.Errorf("live line drawn %d times:\n%q", n, out)
				}
				if !regexp.MustCompile(`sent \d+ done \d+ +\d+\.\d/s \| 2xx \d+ 429 0 5xx 0 other 0 \| ptu 0 tpm 0`).MatchString(out) {
					t.Errorf("live line lacks its counters:\n%q", out)
				}
				i := strings.LastIndex(out, "\x1b[2K\r")
				if i < 0 || !strings.HasPrefix(out[i+len("\x1b[2K\r"):], "requests  28 offered, 28 sent") {
					t.Errorf("the report does not follow a cleared line:\n%q", out)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"load", "--url", srv.URL, "--key", "k", "--timeout", "10s"}, c.args...)
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v; stderr: %s", err, stderr.String())
			}
			c.check(t, stdout.String())
		})
	}
}
