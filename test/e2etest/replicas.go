package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ReplicaOptions are a stack with several spillway replicas behind one
// Envoy: the same gateway config template for all, each replica with its
// own gRPC and admin ports ({{GRPC}} and {{ADMIN}}).
type ReplicaOptions struct {
	Options
	// Replicas is how many spillway processes run; at least 1.
	Replicas int
	// BootstrapArgs are added to `spillway envoy bootstrap` (TLS flags);
	// {{DIR}} in them is the stack's directory.
	BootstrapArgs []string
	// TLS: the replicas serve TLS, so their readiness is read from the
	// admin port and Envoy's health checks, not a plaintext gRPC check.
	TLS bool
}

// Replica is one spillway process of a ReplicaStack.
type Replica struct {
	Index int
	// GRPC is the replica's gRPC address (ext_proc, xDS, health).
	GRPC string
	// Admin is its admin URL (healthz, metrics, capacity).
	Admin   string
	File    string
	Process *Process
}

// ReplicaStack is a simulator, several spillway replicas and one Envoy.
type ReplicaStack struct {
	t     testing.TB
	o     ReplicaOptions
	Dir   string
	Sim   *Process
	Envoy *Process
	// GatewayURL is Envoy's listener, SimURL the simulator.
	GatewayURL string
	SimURL     string
	EnvoyAdmin string
	Replicas   []*Replica
	ports      map[string]int
	restarts   int
}

// StartReplicas starts the simulator, the replicas and Envoy, and returns
// when Envoy serves the gateway listener and sees every replica healthy.
func StartReplicas(t testing.TB, o ReplicaOptions) *ReplicaStack {
	t.Helper()
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	s := &ReplicaStack{t: t, o: o, Dir: t.TempDir(), ports: map[string]int{}}
	for _, k := range []string{"sim", "gateway", "envoy_admin"} {
		s.ports[k] = FreePort(t)
	}
	simAddr := fmt.Sprintf("127.0.0.1:%d", s.ports["sim"])
	s.SimURL = "http://" + simAddr
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", s.ports["gateway"])
	s.EnvoyAdmin = fmt.Sprintf("http://127.0.0.1:%d", s.ports["envoy_admin"])

	s.Sim = Start(t, "sim", o.Bin, "sim", "--config", s.Write("sim.yaml", o.SimYAML), "--listen", simAddr)
	WaitFor(t, "simulator ledger", 10*time.Second, func() bool { return HTTPOK(s.SimURL + "/_sim/ledger") })
	s.Write("secrets/sim-key", "sim-key-1\n")
	s.Write("secrets/client-key", "client-key-1\n")
	for name, v := range o.Secrets {
		s.Write(name, v)
	}

	var controls []string
	for i := range o.Replicas {
		r := &Replica{
			Index: i,
			GRPC:  fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			Admin: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
		}
		r.File = s.Write(fmt.Sprintf("gateway-%d.yaml", i), s.config(r))
		s.Replicas = append(s.Replicas, r)
		s.start(r)
		controls = append(controls, r.GRPC)
	}

	args := []string{"envoy", "bootstrap",
		"-control", strings.Join(controls, ","),
		"-admin", fmt.Sprintf("127.0.0.1:%d", s.ports["envoy_admin"]),
		"-node", "e2e"}
	for _, a := range o.BootstrapArgs {
		args = append(args, strings.ReplaceAll(a, "{{DIR}}", s.Dir))
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(o.Bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("envoy bootstrap: %v\n%s", err, errOut.String())
	}
	bootstrap := s.Write("bootstrap.yaml", out.String())
	s.Envoy = Start(t, "envoy", "envoy", "-c", bootstrap, "--disable-hot-restart", "--log-level", "warn")
	WaitFor(t, "envoy ready with the gateway listener", 30*time.Second, func() bool {
		body, ok := Get(s.EnvoyAdmin + "/listeners")
		return ok && strings.Contains(body, "spillway_gateway") && HTTPOK(s.EnvoyAdmin+"/ready")
	})
	for _, r := range s.Replicas {
		s.WaitHealthy(r, true, 10*time.Second)
	}
	return s
}

// config is the gateway config of replica r.
func (s *ReplicaStack) config(r *Replica) string {
	pairs := []string{
		"{{SIM}}", fmt.Sprintf("127.0.0.1:%d", s.ports["sim"]),
		"{{GATEWAY}}", fmt.Sprintf("127.0.0.1:%d", s.ports["gateway"]),
		"{{GRPC}}", r.GRPC,
		"{{ADMIN}}", strings.TrimPrefix(r.Admin, "http://"),
	}
	for k, v := range s.o.Vars {
		pairs = append(pairs, "{{"+k+"}}", v)
	}
	return strings.NewReplacer(pairs...).Replace(s.o.GatewayYAML)
}

// start runs replica r and waits until it serves.
func (s *ReplicaStack) start(r *Replica) {
	s.t.Helper()
	level := s.o.LogLevel
	if level == "" {
		level = "debug"
	}
	name := "spillway-" + strconv.Itoa(r.Index)
	if s.restarts > 0 {
		name += "-restart-" + strconv.Itoa(s.restarts)
	}
	r.Process = Start(s.t, name, s.o.Bin, "serve", "-c", r.File, "-reload-interval", "100ms", "-log-level", level)
	WaitFor(s.t, name+" admin", 10*time.Second, func() bool { return HTTPOK(r.Admin + "/healthz") })
	if !s.o.TLS {
		WaitFor(s.t, name+" gRPC health SERVING", 10*time.Second, func() bool { return GRPCServing(r.GRPC) })
	}
}

// Kill ends replica i with SIGKILL, as a crash or an OOM kill would, and
// waits until it is gone.
func (s *ReplicaStack) Kill(i int) {
	s.t.Helper()
	p := s.Replicas[i].Process
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.done
}

// Restart starts replica i again (after Kill) on the same ports.
func (s *ReplicaStack) Restart(i int) {
	s.t.Helper()
	s.restarts++
	s.start(s.Replicas[i])
}

// WaitHealthy waits until Envoy's health check of replica r says healthy
// (or, with healthy false, that it failed).
func (s *ReplicaStack) WaitHealthy(r *Replica, healthy bool, timeout time.Duration) {
	s.t.Helper()
	what := fmt.Sprintf("envoy to see %s healthy=%v", r.GRPC, healthy)
	WaitFor(s.t, what, timeout, func() bool {
		h, ok := s.ControlHostHealth()[r.GRPC]
		return ok && h == healthy
	})
}

// ControlHostHealth is Envoy's view of each spillway replica: its address
// and whether Envoy would send it a stream (no health or outlier flag set).
func (s *ReplicaStack) ControlHostHealth() map[string]bool {
	body, ok := Get(s.EnvoyAdmin + "/clusters")
	if !ok {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		// spillway_control::127.0.0.1:1234::health_flags::healthy
		f := strings.Split(line, "::")
		if len(f) == 4 && f[0] == "spillway_control" && f[2] == "health_flags" {
			out[f[1]] = f[3] == "healthy"
		}
	}
	return out
}

// ControlHostStat reads one of Envoy's per-host counters or gauges of the
// control cluster (rq_active, cx_active, rq_total...) for replica r.
func (s *ReplicaStack) ControlHostStat(r *Replica, stat string) int {
	body, _ := Get(s.EnvoyAdmin + "/clusters")
	prefix := "spillway_control::" + r.GRPC + "::" + stat + "::"
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// EnvoyStat reads one of Envoy's stats by its full name; -1 when absent.
func (s *ReplicaStack) EnvoyStat(name string) int {
	body, _ := Get(s.EnvoyAdmin + "/stats?filter=^" + strings.ReplaceAll(name, ".", `\.`) + "$")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// Write writes a file under the stack's directory and returns its path.
func (s *ReplicaStack) Write(name, content string) string {
	s.t.Helper()
	return writeFile(s.t, filepath.Join(s.Dir, name), content)
}

// Exited names every process of the stack that has exited unasked.
func (s *ReplicaStack) Exited(except ...int) error {
	var errs []error
	for _, p := range []*Process{s.Sim, s.Envoy} {
		if err := p.Exited(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range s.Replicas {
		if !contains(except, r.Index) {
			if err := r.Process.Exited(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// GRPCServing reports whether addr answers grpc.health.v1 Check with
// SERVING, over plaintext.
func GRPCServing(addr string) bool {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// Stop ends replica i with SIGINT, as an orchestrator's rolling update
// would (SIGTERM is handled the same), and waits until it has exited.
func (s *ReplicaStack) Stop(i int) {
	s.t.Helper()
	p := s.Replicas[i].Process
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		s.t.Fatalf("stop %s: %v", p.Name, err)
	}
	<-p.done
}

// Pause stops replica i with SIGSTOP: a hung process that keeps its
// connections open. Resume undoes it; the test's cleanup resumes it too.
func (s *ReplicaStack) Pause(i int) {
	s.t.Helper()
	p := s.Replicas[i].Process
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("pause %s: %v", p.Name, err)
	}
	s.t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
}

// Resume continues replica i after Pause.
func (s *ReplicaStack) Resume(i int) {
	s.t.Helper()
	if err := s.Replicas[i].Process.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("resume: %v", err)
	}
}
