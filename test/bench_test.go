package test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// benchSim answers at once (no latency model), so what the benchmark measures
// is the path, not the simulated model.
const benchSim = `
keys: ["sim-key-1"]
deployments:
  - name: gpt-4o-ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 1000000000
    completion: {mode: fixed, tokens: 20}
  - name: gpt-4o-eastus2
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 1000000000
    completion: {mode: fixed, tokens: 20}
`

var benchGateway = gatewayHead + `
models:
  - name: gpt-4o
    context_window: 128000
    backends:` + backendYAML(backendPTU, "ptu", deploymentPTU, "eastus", 1000000000, 0) +
	backendYAML(backendEast2, "tpm", deploymentE2, "eastus2", 1000000000, 1)

// BenchmarkGateway measures one request through Envoy and spillway against
// the same request sent straight to the simulator, in the same run: the
// difference per request is what the gateway adds (ext_proc router phase,
// token count, capacity plan, upstream phase, usage reading).
//
//	go test ./test -run '^$' -bench Gateway -benchtime 2000x
func BenchmarkGateway(b *testing.B) {
	// Info-level logs: the benchmark measures the gateway, not its debug log.
	s := e2etest.StartStack(b, e2etest.Options{Bin: spillwayBin, SimYAML: benchSim, GatewayYAML: benchGateway, LogLevel: "info"})
	body := `{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":20}`
	stream := `{"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":20,"stream":true}`
	gateway := s.GatewayURL + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	direct := s.SimURL + "/openai/deployments/gpt-4o-ptu/chat/completions?api-version=2024-10-21"
	cases := []struct {
		name, url, key, body string
	}{
		{"direct/json", direct, "sim-key-1", body},
		{"gateway/json", gateway, "client-key-1", body},
		{"direct/sse", direct, "sim-key-1", stream},
		{"gateway/sse", gateway, "client-key-1", stream},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			send(b, client, c.url, c.key, c.body) // warm the connection
			cpu := cpuTimes(s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				send(b, client, c.url, c.key, c.body)
			}
			b.StopTimer()
			// CPU per request of each process: steadier than wall time on a
			// shared machine.
			for name, d := range cpuTimes(s) {
				b.ReportMetric(float64((d-cpu[name]).Microseconds())/float64(b.N), name+"-cpu-us/op")
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send(b, client, c.url, c.key, c.body)
				}
			})
		})
	}
}

func cpuTimes(s *e2etest.Stack) map[string]time.Duration {
	return map[string]time.Duration{"envoy": s.Envoy.CPUTime(), "spillway": s.Spillway.CPUTime(), "sim": s.Sim.CPUTime()}
}

func send(b *testing.B, client *http.Client, url, key, body string) {
	req, err := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("api-key", key)
	req.Header.Set("content-type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d from %s", resp.StatusCode, url)
	}
}
