package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// smallWorkload: a small PTU (15 units of gpt-4o: 37,500 normalized TPM)
// for a peak of 60,000 TPM; the plan spills the rest to TPM quota in two
// regions.
const smallWorkload = `
models:
  - name: gpt-4o
    peak_tpm: 60000
    average_tpm: 20000
    prompt_tokens: 400
    completion_tokens: 100
    latency: interactive
    regions: [eastus2, westus3]
    prices: {ptu_hourly: 0.36, input_per_1k: 0.0025, output_per_1k: 0.01}
quotas:
  - {subscription: sub-a, region: eastus2, model: gpt-4o, tpm: 20000}
  - {subscription: sub-b, region: westus3, model: gpt-4o, tpm: 100000}
ptu_quotas:
  - {subscription: sub-a, region: eastus2, ptu: 50}
`

// TestPlanToRunningGateway goes from a workload to a running gateway:
// `spillway plan --sim` writes the gateway and simulator configs of the
// plan, the stack runs them (real Envoy), and `spillway load` gets answers
// from the planned PTU and TPM deployments.
func TestPlanToRunningGateway(t *testing.T) {
	dir := t.TempDir()
	workload := filepath.Join(dir, "workload.yaml")
	if err := os.WriteFile(workload, []byte(smallWorkload), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, simCfg := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "sim.yaml")
	var out bytes.Buffer
	cmd := exec.Command(spillwayBin, "plan", "-f", workload, "-o", gw, "--sim", "http://{{SIM}}", "--sim-config", simCfg,
		"--node-id", "e2e", "--listen", "{{GATEWAY}}", "--grpc-listen", "{{GRPC}}", "--admin-listen", "{{ADMIN}}")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("plan: %v\n%s", err, out.String())
	}
	for _, re := range []string{`PTU +15 units in sub-a/eastus2`, `TPM +20,000 TPM \(120 RPM\) in sub-a/eastus2`, `TPM +\d{2},000 TPM \(\d+ RPM\) in sub-b/westus3`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("plan does not match %q:\n%s", re, out.String())
		}
	}
	gwYAML, err := os.ReadFile(gw)
	if err != nil {
		t.Fatal(err)
	}
	simYAML, err := os.ReadFile(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	s := e2etest.StartStack(t, e2etest.Options{Bin: spillwayBin, SimYAML: string(simYAML), GatewayYAML: string(gwYAML), LogLevel: "info",
		Secrets: map[string]string{"secrets/sim-api-key": "sim-key-1\n", "secrets/demo-client-key": "demo-key\n"}})

	loadServedByPlannedPTU(t, s.GatewayURL, 12, 3)
}

// TestMakeRunPlan runs what `make run PLAN=WORKLOAD` runs (scripts/run.sh),
// on free ports: the script plans, validates and starts the simulator,
// spillway and a real Envoy on the plan's configs; `spillway load` is
// answered by the planned PTU; Ctrl-C (SIGINT) stops every process.
func TestMakeRunPlan(t *testing.T) {
	workload := filepath.Join(t.TempDir(), "workload.yaml")
	if err := os.WriteFile(workload, []byte(smallWorkload), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, name := range []string{"GATEWAY_PORT", "GRPC_PORT", "ADMIN_PORT", "ENVOY_ADMIN_PORT", "SIM_PORT"} {
		ports[name] = e2etest.FreePort(t)
		t.Setenv(name, strconv.Itoa(ports[name]))
	}
	t.Setenv("PLAN", workload)
	t.Setenv("BIN", spillwayBin)
	t.Setenv("CONFIG", "")
	t.Setenv("SIM", "")
	// Its own process group, so that whatever the script leaves running is
	// killed when the test ends, passed or not.
	out := &e2etest.Output{}
	run := exec.Command("bash", "../scripts/run.sh")
	run.Stdout, run.Stderr = out, out
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("---- scripts/run.sh output ----\n%s", out.String())
		}
	})
	e2etest.WaitFor(t, "scripts/run.sh to say the demo is up", time.Minute, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("scripts/run.sh exited (%v)", err)
		default:
		}
		return strings.Contains(out.String(), "Ctrl-C stops everything")
	})
	gateway := fmt.Sprintf("http://127.0.0.1:%d", ports["GATEWAY_PORT"])
	for _, want := range []string{"PTU           15 units in sub-a/eastus2", ": ok\n", "Models: gpt-4o\n", "--url " + gateway + " --model gpt-4o "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("scripts/run.sh's output lacks %q", want)
		}
	}

	loadServedByPlannedPTU(t, gateway, 6, 2)

	// SIGINT to the script alone (Ctrl-C reaches the whole group): its trap
	// must stop what it started.
	_ = run.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("scripts/run.sh did not exit on SIGINT")
	}
	for name, port := range ports { // every process it started has let its port go
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Errorf("%s %d still taken after Ctrl-C: %v", name, port, err)
			continue
		}
		l.Close()
	}
}

// loadServedByPlannedPTU runs `spillway load` (n requests, c at a time) on
// the gateway of smallWorkload's plan and checks every answer was a 200 and
// the planned PTU served tokens.
func loadServedByPlannedPTU(t *testing.T, gateway string, n, c int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	load := exec.CommandContext(ctx, spillwayBin, "load", "--url", gateway, "--key", "demo-key", "--model", "gpt-4o",
		"--requests", strconv.Itoa(n), "--concurrency", strconv.Itoa(c), "--timeout", "20s")
	load.Stdout, load.Stderr = &stdout, &stderr
	if err := load.Run(); err != nil {
		t.Fatalf("load: %v\n%s", err, stderr.String())
	}
	for _, re := range []string{fmt.Sprintf(`\n  200 +%d +100\.0%%`, n), `tokens by backend .*\n  gpt-4o-ptu-eastus2 +[1-9]`} {
		if !regexp.MustCompile(re).MatchString(stdout.String()) {
			t.Errorf("load report does not match %q:\n%s", re, stdout.String())
		}
	}
}
