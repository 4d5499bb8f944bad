package test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/spillway-gw/spillway/test/e2etest"
	"github.com/spillway-gw/spillway/tlsreload/tlsreloadtest"
)

// replicaGateway is threeBackends for a replica stack: every replica reads
// the same config, only its own ports differ.
var replicaGateway = threeBackends

func startReplicas(t *testing.T, n int, extra ...func(*e2etest.ReplicaOptions)) *e2etest.ReplicaStack {
	t.Helper()
	o := e2etest.ReplicaOptions{
		Options:  e2etest.Options{Bin: spillwayBin, SimYAML: simConfig, GatewayYAML: replicaGateway, LogLevel: "info"},
		Replicas: n,
	}
	for _, f := range extra {
		f(&o)
	}
	return e2etest.StartReplicas(t, o)
}

// replicaChat is one chat request through the replica stack's Envoy; a
// transport error is a status 0 with the error as body.
func replicaChat(ctx context.Context, s *e2etest.ReplicaStack, model string, hdr map[string]string) response {
	return replicaPost(ctx, s, "/openai/deployments/"+model+"/chat/completions?api-version=2024-10-21",
		`{"messages":[{"role":"user","content":"Hello"}],"max_tokens":20}`, hdr)
}

// replicaPost is one POST through the replica stack's Envoy with the
// client's key; a transport error is a status 0 with the error as body.
func replicaPost(ctx context.Context, s *e2etest.ReplicaStack, path, body string, hdr map[string]string) response {
	req, err := http.NewRequestWithContext(ctx, "POST", s.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		return response{body: err.Error()}
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("api-key", "client-key-1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expectUnavailable checks the reply a client gets when no replica can be
// reached: Azure's 503 with retry-after, nothing of Envoy's own text.
func expectUnavailable(t *testing.T, r response) {
	t.Helper()
	expectStatus(t, r, http.StatusServiceUnavailable)
	expectAzureError(t, r, "503")
	if r.header.Get("retry-after") != "1" || r.header.Get("retry-after-ms") != "1000" {
		t.Errorf("retry-after = %q, retry-after-ms = %q; want 1 and 1000", r.header.Get("retry-after"), r.header.Get("retry-after-ms"))
	}
	for _, leak := range []string{"ext_proc", "gRPC", "upstream_connect", "envoy", "%"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("body shows Envoy internals (%q): %s", leak, r.body)
		}
	}
}

// TestReplicasServeTogether: two replicas behind one Envoy share the
// ext_proc streams; a backend's own 503 passes through untouched; with both
// down the client gets an Azure 503 with retry-after, and service resumes
// when one comes back.
func TestReplicasServeTogether(t *testing.T) {
	s := startReplicas(t, 2)
	ctx := context.Background()

	for i := range 40 {
		if r := replicaChat(ctx, s, "gpt-4o", nil); r.status != 200 {
			t.Fatalf("request %d: status %d: %s", i, r.status, r.body)
		}
	}
	for _, r := range s.Replicas {
		// 40 requests, two ext_proc streams each, round robin: each
		// replica should have had about 40.
		if n := s.ControlHostStat(r, "rq_total"); n < 20 {
			t.Errorf("replica %s served %d streams, want at least 20 of the 80", r.GRPC, n)
		}
	}

	t.Run("a backend's 503 is not rewritten", func(t *testing.T) {
		r := replicaChat(ctx, s, "gpt-4o", map[string]string{"x-sim-fault": "503"})
		expectStatus(t, r, http.StatusServiceUnavailable)
		if strings.Contains(r.body, "routing service") || r.header.Get("retry-after") == "1" && r.header.Get("retry-after-ms") == "1000" {
			t.Errorf("the backend's 503 got the gateway's unavailable reply: %v %s", r.header, r.body)
		}
	})

	t.Run("an idle replica killed: the next requests succeed", func(t *testing.T) {
		// No stream is open on it, so nothing has told Envoy yet: the
		// first streams sent to it are refused and retried on the other.
		s.Kill(0)
		for i := range 10 {
			if r := replicaChat(ctx, s, "gpt-4o", nil); r.status != 200 {
				t.Errorf("request %d right after the kill: %d %s", i, r.status, r.body)
			}
		}
	})

	t.Run("all replicas down", func(t *testing.T) {
		s.Kill(1)
		for i := range 5 {
			r := replicaChat(ctx, s, "gpt-4o", nil)
			if i == 0 {
				t.Logf("all replicas down: %d retry-after=%s %s", r.status, r.header.Get("retry-after"), r.body)
			}
			expectUnavailable(t, r)
			if t.Failed() {
				t.Fatalf("request %d: %v %s", i, r.header, r.body)
			}
		}
	})

	t.Run("one replica back", func(t *testing.T) {
		s.Restart(1)
		start := time.Now()
		var last response
		e2etest.WaitFor(t, "a request to succeed through the restarted replica", 10*time.Second, func() bool {
			last = replicaChat(ctx, s, "gpt-4o", nil)
			return last.status == 200
		})
		t.Logf("service back %v after the replica served", time.Since(start).Round(time.Millisecond))
		for i := range 10 {
			if r := replicaChat(ctx, s, "gpt-4o", nil); r.status != 200 {
				t.Fatalf("request %d after recovery: %d %s", i, r.status, r.body)
			}
		}
	})
	if err := s.Exited(0); err != nil {
		t.Error(err)
	}
}

// loadResult is one request of a steady load.
type loadResult struct {
	start time.Time
	resp  response
}

// steadyLoad runs workers that each send one request at a time until stop
// is closed; every request waits slow ms at the backend, so there are
// always about `workers` requests in flight.
func steadyLoad(s *e2etest.ReplicaStack, workers int, slow time.Duration, stop <-chan struct{}) func() []loadResult {
	var mu sync.Mutex
	var results []loadResult
	var wg sync.WaitGroup
	hdr := map[string]string{"x-sim-fault": fmt.Sprintf("slow-first-byte=%d", slow.Milliseconds())}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				r := replicaChat(ctx, s, "gpt-4o", hdr)
				cancel()
				mu.Lock()
				results = append(results, loadResult{start, r})
				mu.Unlock()
			}
		}()
	}
	return func() []loadResult { wg.Wait(); return results }
}

// adsReplica is the replica Envoy's ADS stream is on: with no request in
// flight, the only active stream Envoy has to a replica.
func adsReplica(t *testing.T, s *e2etest.ReplicaStack) int {
	t.Helper()
	found := -1
	e2etest.WaitFor(t, "the ADS stream on exactly one replica", 10*time.Second, func() bool {
		found = -1
		for i, r := range s.Replicas {
			if s.ControlHostStat(r, "rq_active") == 1 {
				if found >= 0 {
					return false
				}
				found = i
			}
		}
		return found >= 0
	})
	return found
}

// TestReplicaKilledUnderLoad kills -9 the replica holding Envoy's ADS stream
// while requests flow: only requests in flight on it may fail, new ones
// succeed at once, and Envoy takes config from the survivor.
func TestReplicaKilledUnderLoad(t *testing.T) {
	s := startReplicas(t, 2)
	victim := adsReplica(t, s)
	survivor := 1 - victim

	const workers = 8
	stop := make(chan struct{})
	wait := steadyLoad(s, workers, 200*time.Millisecond, stop)
	time.Sleep(time.Second)                                            // the load runs a while before the kill
	inFlight := s.ControlHostStat(s.Replicas[victim], "rq_active") - 1 // less the ADS stream
	killed := time.Now()
	s.Kill(victim)
	time.Sleep(3 * time.Second) // and a while after it
	close(stop)
	results := wait()

	var failed, lateFailed, after int
	for _, r := range results {
		if r.start.After(killed) {
			after++
		}
		if r.resp.status == 200 {
			continue
		}
		failed++
		t.Logf("failed: started %v after the kill: %d %s", r.start.Sub(killed).Round(time.Millisecond), r.resp.status, r.resp.body)
		if r.start.Sub(killed) > time.Second {
			lateFailed++
		}
		if r.resp.status == 0 || r.resp.status >= 500 {
			expectNoEnvoyText(t, r.resp)
		}
	}
	t.Logf("%d requests, %d after the kill, %d failed; %d streams were in flight on the killed replica", len(results), after, failed, inFlight)
	if failed > max(inFlight, 0) {
		t.Errorf("%d requests failed, more than the %d streams in flight on the killed replica", failed, inFlight)
	}
	if lateFailed > 0 {
		t.Errorf("%d requests started more than 1s after the kill failed", lateFailed)
	}
	if after < workers*5 {
		t.Errorf("only %d requests after the kill: the load did not keep flowing", after)
	}

	t.Run("ADS moves to the survivor", func(t *testing.T) {
		e2etest.WaitFor(t, "envoy connected to a control plane again", 10*time.Second, func() bool {
			return s.EnvoyStat("control_plane.connected_state") == 1
		})
		// A config change that only the survivor can serve Envoy.
		cfg := strings.Replace(replicaGateway, "models:\n", "models:\n  - name: gpt-4o-mini\n    backends:"+
			strings.ReplaceAll(backendYAML("mini-ptu", "ptu", deploymentPTU, "eastus", 1000000, 0), "\n      ", "\n      ")+"", 1)
		r := s.Replicas[survivor]
		s.Write(fmt.Sprintf("gateway-%d.yaml", survivor), strings.NewReplacer(
			"{{SIM}}", strings.TrimPrefix(s.SimURL, "http://"),
			"{{GATEWAY}}", strings.TrimPrefix(s.GatewayURL, "http://"),
			"{{GRPC}}", r.GRPC,
			"{{ADMIN}}", strings.TrimPrefix(r.Admin, "http://"),
		).Replace(cfg))
		var last response
		e2etest.WaitFor(t, "the new model served", 10*time.Second, func() bool {
			last = replicaChat(context.Background(), s, "gpt-4o-mini", nil)
			return last.status == 200
		})
	})
	if err := s.Exited(victim); err != nil {
		t.Error(err)
	}
}

// expectNoEnvoyText fails when a failed request's body shows Envoy's own
// words rather than an Azure-shaped error.
func expectNoEnvoyText(t *testing.T, r response) {
	t.Helper()
	if r.status == 0 {
		return // a cut connection has no body
	}
	var body struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error == nil {
		t.Errorf("a %d body is not an Azure error: %s", r.status, r.body)
	}
	if strings.Contains(r.body, "ext_proc") {
		t.Errorf("a %d body shows Envoy internals: %s", r.status, r.body)
	}
}

// TestReplicaGracefulStop: a replica stopped with SIGTERM/SIGINT (a rolling
// update) costs no request: it reports NOT_SERVING, Envoy moves new streams
// away, and the streams it has finish.
func TestReplicaGracefulStop(t *testing.T) {
	s := startReplicas(t, 2)
	stop := make(chan struct{})
	wait := steadyLoad(s, 8, 200*time.Millisecond, stop)
	time.Sleep(time.Second)
	var stopped atomic.Bool
	go func() {
		s.Stop(0)
		stopped.Store(true)
	}()
	// Envoy sees NOT_SERVING while the replica still runs: it drains.
	s.WaitHealthy(s.Replicas[0], false, 3*time.Second)
	if stopped.Load() {
		t.Error("the replica exited before Envoy's health check saw it NOT_SERVING")
	}
	e2etest.WaitFor(t, "the replica to stop", 20*time.Second, stopped.Load)
	time.Sleep(time.Second)
	close(stop)
	results := wait()
	failed := 0
	for _, r := range results {
		if r.resp.status != 200 {
			failed++
			t.Logf("failed: %d %s", r.resp.status, r.resp.body)
		}
	}
	t.Logf("%d requests during a graceful stop, %d failed", len(results), failed)
	if failed > 0 {
		t.Errorf("%d requests failed during a graceful stop", failed)
	}
}

// TestReplicasMutualTLS: Envoy reaches two replicas over mutual TLS with
// certificates made for the test; a client without a certificate is
// refused, and a rotated server certificate is served without a restart.
func TestReplicasMutualTLS(t *testing.T) {
	ca := tlsreloadtest.NewCA(t, "spillway e2e CA")
	server := ca.Server(t, "127.0.0.1")
	envoyCert := ca.Client(t, "envoy")
	tlsConfig := `
  tls:
    cert_file: tls/server.crt
    key_file: tls/server.key
    client_ca_file: tls/ca.crt
`
	s := startReplicas(t, 2, func(o *e2etest.ReplicaOptions) {
		o.GatewayYAML = strings.Replace(replicaGateway, "  node_id: e2e\n", "  node_id: e2e"+tlsConfig, 1)
		o.Secrets = map[string]string{
			"tls/server.crt": string(server.CertPEM),
			"tls/server.key": string(server.KeyPEM),
			"tls/ca.crt":     string(ca.PEM),
			"tls/envoy.crt":  string(envoyCert.CertPEM),
			"tls/envoy.key":  string(envoyCert.KeyPEM),
		}
		o.BootstrapArgs = []string{
			"-control-ca", "{{DIR}}/tls/ca.crt",
			"-control-cert", "{{DIR}}/tls/envoy.crt",
			"-control-key", "{{DIR}}/tls/envoy.key",
		}
		o.TLS = true
	})
	ctx := context.Background()
	for i := range 20 {
		if r := replicaChat(ctx, s, "gpt-4o", nil); r.status != 200 {
			t.Fatalf("request %d over mutual TLS: %d %s", i, r.status, r.body)
		}
	}
	for _, r := range s.Replicas {
		if n := s.ControlHostStat(r, "rq_total"); n < 10 {
			t.Errorf("replica %s served %d streams over TLS, want at least 10 of the 40", r.GRPC, n)
		}
	}

	pair, err := tls.X509KeyPair(envoyCert.CertPEM, envoyCert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}}
	addr := s.Replicas[0].GRPC
	t.Run("plaintext client refused", func(t *testing.T) {
		if e2etest.GRPCServing(addr) {
			t.Error("a plaintext gRPC health check succeeded on a TLS port")
		}
	})
	t.Run("client without a certificate refused", func(t *testing.T) {
		if st, err := grpcHealth(addr, &tls.Config{RootCAs: ca.Pool()}); err == nil {
			t.Errorf("a client without a certificate got %v", st)
		}
	})
	t.Run("client with the CA's certificate served", func(t *testing.T) {
		if st, err := grpcHealth(addr, withCert); err != nil || st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health over mutual TLS = %v, %v; want SERVING", st, err)
		}
	})
	t.Run("rotated certificate served without a restart", func(t *testing.T) {
		if got := servedSerial(t, addr, withCert); got != server.Serial.String() {
			t.Fatalf("serial before rotation %s, want %s", got, server.Serial)
		}
		next := ca.Server(t, "127.0.0.1")
		// Key first, then certificate, as a rotation tool may: the
		// pair matches again only after the second write.
		s.Write("tls/server.key", string(next.KeyPEM))
		s.Write("tls/server.crt", string(next.CertPEM))
		e2etest.WaitFor(t, "the rotated certificate served", 5*time.Second, func() bool {
			return servedSerial(t, addr, withCert) == next.Serial.String()
		})
		if st, err := grpcHealth(addr, withCert); err != nil || st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health after rotation = %v, %v", st, err)
		}
		// Envoy keeps the connections it made before the rotation
		// (certificates are checked at the handshake); requests flow on.
		for i := range 10 {
			if r := replicaChat(ctx, s, "gpt-4o", nil); r.status != 200 {
				t.Fatalf("request %d after rotation: %d %s", i, r.status, r.body)
			}
		}
	})
	if err := s.Exited(); err != nil {
		t.Error(err)
	}
}

// grpcHealth calls grpc.health.v1 Check on addr over TLS.
func grpcHealth(addr string, c *tls.Config) (healthpb.HealthCheckResponse_ServingStatus, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return resp.GetStatus(), err
}

// servedSerial is the serial number of the certificate addr serves.
func servedSerial(t *testing.T, addr string, c *tls.Config) string {
	t.Helper()
	c = c.Clone()
	c.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Logf("dial %s: %v", addr, err)
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestReplicaHung: a replica that hangs (SIGSTOP: connections open, no
// answers) costs the requests that meet it until Envoy's health check takes
// it out; they get the Azure 503 after control.message_timeout, never
// Envoy's text; later requests all succeed.
func TestReplicaHung(t *testing.T) {
	s := startReplicas(t, 2, func(o *e2etest.ReplicaOptions) {
		o.GatewayYAML = strings.Replace(replicaGateway, "  node_id: e2e\n", "  node_id: e2e\n  message_timeout: 1s\n", 1) +
			"capacity:\n  max_wait: 500ms\n"
	})
	victim := 1 - adsReplica(t, s)
	stop := make(chan struct{})
	wait := steadyLoad(s, 4, 100*time.Millisecond, stop)
	time.Sleep(500 * time.Millisecond)
	paused := time.Now()
	s.Pause(victim)
	s.WaitHealthy(s.Replicas[victim], false, 15*time.Second)
	t.Logf("envoy took the hung replica out after %v", time.Since(paused).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	close(stop)
	results := wait()
	s.Resume(victim)

	var failed, late int
	out := time.Since(paused) - 2*time.Second // when Envoy had taken it out
	for _, r := range results {
		if r.resp.status == 200 {
			continue
		}
		failed++
		expectUnavailable(t, r.resp)
		if r.start.Sub(paused) > out {
			late++
		}
	}
	t.Logf("%d requests, %d failed while the replica hung", len(results), failed)
	if late > 0 {
		t.Errorf("%d requests started after Envoy took the hung replica out failed", late)
	}
	s.WaitHealthy(s.Replicas[victim], true, 10*time.Second)
	for i := range 10 {
		if r := replicaChat(context.Background(), s, "gpt-4o", nil); r.status != 200 {
			t.Fatalf("request %d after the replica resumed: %d %s", i, r.status, r.body)
		}
	}
}
