package e2etest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/sim"
)

// Options are the stack's two config files, as templates: {{SIM}},
// {{GATEWAY}}, {{GRPC}} and {{ADMIN}} are replaced with the addresses
// chosen for the run.
type Options struct {
	// Bin is the spillway binary (see Build).
	Bin         string
	SimYAML     string
	GatewayYAML string
	// LogLevel is spillway's log level; debug when empty.
	LogLevel string
	// SimAddr is a simulator already running (host:port) that this stack
	// shares with another; empty: the stack starts its own from SimYAML.
	SimAddr string
	// Vars are more {{NAME}}s to replace in GatewayYAML (e.g. "REDIS").
	Vars map[string]string
	// ServeArgs are extra arguments to `spillway serve` (e.g. -pprof).
	ServeArgs []string
	// Secrets are files written under the stack's directory before spillway
	// starts, by relative path. secrets/sim-key (sim-key-1) and
	// secrets/client-key (client-key-1) are always written.
	Secrets map[string]string
}

// Stack is one running simulator + spillway + Envoy.
type Stack struct {
	t   testing.TB
	Dir string
	// GatewayURL is Envoy's listener, SimURL the simulator.
	GatewayURL  string
	SimURL      string
	EnvoyAdmin  string
	SpillAdmin  string
	GatewayFile string
	Sim         *Process
	Spillway    *Process
	Envoy       *Process
	Ports       map[string]int
	vars        map[string]string
}

// StartStack starts the simulator, spillway and Envoy, in that order, and
// returns when Envoy serves the gateway listener.
func StartStack(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{t: t, Dir: t.TempDir(), Ports: map[string]int{}}
	for _, k := range []string{"sim", "gateway", "grpc", "admin", "envoy_admin"} {
		s.Ports[k] = FreePort(t)
	}
	simAddr := fmt.Sprintf("127.0.0.1:%d", s.Ports["sim"])
	if o.SimAddr != "" {
		simAddr = o.SimAddr
		_, port, _ := net.SplitHostPort(simAddr)
		s.Ports["sim"], _ = strconv.Atoi(port)
	}
	s.SimURL = "http://" + simAddr
	s.vars = o.Vars
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", s.Ports["gateway"])
	s.EnvoyAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.Ports["envoy_admin"])
	s.SpillAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.Ports["admin"])

	if o.SimAddr == "" {
		simFile := s.Write("sim.yaml", o.SimYAML)
		s.Sim = Start(t, "sim", o.Bin, "sim", "--config", simFile, "--listen", simAddr)
	}
	WaitFor(t, "simulator ledger", 10*time.Second, func() bool { return HTTPOK(s.SimURL + "/_sim/ledger") })

	s.Write("secrets/sim-key", "sim-key-1\n")
	s.Write("secrets/client-key", "client-key-1\n")
	for name, v := range o.Secrets {
		s.Write(name, v)
	}
	level := o.LogLevel
	if level == "" {
		level = "debug"
	}
	s.GatewayFile = s.Write("gateway.yaml", s.GatewayConfig(o.GatewayYAML))
	args := append([]string{"serve", "-c", s.GatewayFile, "-reload-interval", "100ms", "-log-level", level}, o.ServeArgs...)
	s.Spillway = Start(t, "spillway", o.Bin, args...)
	WaitFor(t, "spillway admin", 10*time.Second, func() bool { return HTTPOK(s.SpillAdmin + "/healthz") })

	var out bytes.Buffer
	cmd := exec.Command(o.Bin, "envoy", "bootstrap",
		"-control", fmt.Sprintf("127.0.0.1:%d", s.Ports["grpc"]),
		"-admin", fmt.Sprintf("127.0.0.1:%d", s.Ports["envoy_admin"]),
		"-node", "e2e")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("envoy bootstrap: %v", err)
	}
	bootstrap := s.Write("bootstrap.yaml", out.String())
	s.Envoy = Start(t, "envoy", "envoy", "-c", bootstrap, "--disable-hot-restart", "--log-level", "warn")
	WaitFor(t, "envoy ready with the gateway listener", 30*time.Second, func() bool {
		body, ok := Get(s.EnvoyAdmin + "/listeners")
		return ok && strings.Contains(body, "spillway_gateway") && HTTPOK(s.EnvoyAdmin+"/ready")
	})
	return s
}

// Exited returns an error naming every process of the stack that has
// exited, nil when all three run.
func (s *Stack) Exited() error {
	var errs []error
	for _, p := range []*Process{s.Sim, s.Spillway, s.Envoy} {
		if p == nil {
			continue
		}
		if err := p.Exited(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// GatewayConfig fills the addresses of a gateway config template.
func (s *Stack) GatewayConfig(tmpl string) string {
	pairs := []string{
		"{{SIM}}", fmt.Sprintf("127.0.0.1:%d", s.Ports["sim"]),
		"{{GATEWAY}}", fmt.Sprintf("127.0.0.1:%d", s.Ports["gateway"]),
		"{{GRPC}}", fmt.Sprintf("127.0.0.1:%d", s.Ports["grpc"]),
		"{{ADMIN}}", fmt.Sprintf("127.0.0.1:%d", s.Ports["admin"]),
	}
	for k, v := range s.vars {
		pairs = append(pairs, "{{"+k+"}}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// Write writes a file under the stack's directory and returns its path.
// It writes then renames, so the reload watcher never reads half a file.
func (s *Stack) Write(name, content string) string {
	s.t.Helper()
	return writeFile(s.t, filepath.Join(s.Dir, name), content)
}

// writeFile writes then renames, so a watcher never reads half a file.
func writeFile(t testing.TB, p, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ledger reads the simulator's ledger.
func (s *Stack) Ledger() sim.Ledger {
	s.t.Helper()
	body, ok := Get(s.SimURL + "/_sim/ledger")
	if !ok {
		s.t.Fatalf("read ledger: %s", body)
	}
	var l sim.Ledger
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		s.t.Fatalf("decode ledger: %v", err)
	}
	return l
}

// ResetLedger clears the simulator's ledger and throttling state.
func (s *Stack) ResetLedger() {
	s.t.Helper()
	resp, err := http.Post(s.SimURL+"/_sim/reset", "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("reset the simulator: status %d", resp.StatusCode)
	}
}

// HTTPOK reports whether a GET of url answers 200.
func HTTPOK(url string) bool {
	_, ok := Get(url)
	return ok
}

// Get returns the body of a GET of url and whether it answered 200.
func Get(url string) (string, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode == 200
}
