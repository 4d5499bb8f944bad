package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/sim"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// The harness itself (processes, ports, readiness) is package e2etest, shared
// with the scenario benchmark; this file adapts it to these tests.

// spillwayBin is built once for the whole run by TestMain.
var spillwayBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "spillway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if spillwayBin, err = e2etest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := e2etest.CheckEnvoy(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	e2etest.WaitFor(t, what, timeout, cond)
}

// process is a child process of the stack; out is its combined output.
type process struct {
	name string
	out  *e2etest.Output
}

// stack is one running simulator + spillway + Envoy.
type stack struct {
	t           *testing.T
	e           *e2etest.Stack
	dir         string
	gatewayURL  string
	simURL      string
	envoyAdmin  string
	spillAdmin  string
	gatewayFile string
	spillway    *process
	ports       map[string]int
}

// stackOptions are the two config files, as templates: {{SIM}} is replaced
// with the simulator's address and the listen/control ports are filled in.
type stackOptions struct {
	simYAML     string
	gatewayYAML string
	// simAddr shares another stack's simulator; vars fill more {{NAME}}s.
	simAddr string
	vars    map[string]string
	// secrets are extra files written before spillway starts.
	secrets map[string]string
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	e := e2etest.StartStack(t, e2etest.Options{Bin: spillwayBin, SimYAML: o.simYAML, GatewayYAML: o.gatewayYAML, SimAddr: o.simAddr, Vars: o.vars, Secrets: o.secrets})
	return &stack{
		t: t, e: e,
		dir:         e.Dir,
		gatewayURL:  e.GatewayURL,
		simURL:      e.SimURL,
		envoyAdmin:  e.EnvoyAdmin,
		spillAdmin:  e.SpillAdmin,
		gatewayFile: e.GatewayFile,
		spillway:    &process{name: e.Spillway.Name, out: e.Spillway.Out},
		ports:       e.Ports,
	}
}

// gatewayConfig fills the ports of a gateway config template.
func (s *stack) gatewayConfig(tmpl string) string { return s.e.GatewayConfig(tmpl) }

func (s *stack) write(name, content string) string {
	s.t.Helper()
	return s.e.Write(name, content)
}

// ledger reads the simulator's ledger.
func (s *stack) ledger() sim.Ledger {
	s.t.Helper()
	return s.e.Ledger()
}

func (s *stack) resetLedger() {
	s.t.Helper()
	s.e.ResetLedger()
}

// response is a client's view of one gateway response.
type response struct {
	status int
	header http.Header
	body   string
}

// chat sends a chat-completions request through Envoy the way an Azure SDK does.
func (s *stack) chat(ctx context.Context, body string, hdr map[string]string) response {
	s.t.Helper()
	return s.post(ctx, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", body, hdr)
}

func (s *stack) post(ctx context.Context, path, body string, hdr map[string]string) response {
	s.t.Helper()
	return s.do(ctx, "POST", path, body, hdr)
}

// do sends one request through Envoy with the client's key; it fails the
// test only when no response arrives.
func (s *stack) do(ctx context.Context, method, path, body string, hdr map[string]string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.gatewayURL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("api-key", "client-key-1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("read body of %s %s: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// chatStream is chat for a stream that may be cut: it returns what arrived
// before the body ended or failed, instead of failing the test.
func (s *stack) chatStream(ctx context.Context, body string, hdr map[string]string) response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", s.gatewayURL+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("api-key", "client-key-1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a cut stream ends in an error: keep what came
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// fillPTU sends a request charging all but a few of the small PTU's 2000
// tokens (backendPTUSmallYAML): less than 1 % is left, so the model has no
// room there for any other request. The simulator answers it after slow.
// fillPTU returns once the PTU has it, its ledger then counting requests.
func (s *stack) fillPTU(t *testing.T, ctx context.Context, slow time.Duration, requests int64) chan response {
	t.Helper()
	held := make(chan response, 1)
	go func() {
		held <- s.chat(ctx, `{"messages":[{"role":"user","content":"long"}],"max_tokens":1985}`,
			map[string]string{"x-sim-fault": fmt.Sprintf("slow-first-byte=%d@%s", slow.Milliseconds(), deploymentPTU)})
	}()
	waitFor(t, "the filling request to reach the PTU", 10*time.Second, func() bool {
		return s.ledger().Deployments[deploymentPTU].Requests == requests
	})
	return held
}
