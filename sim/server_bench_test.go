package sim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Benchmarks of small non-streaming requests. Run on one core with
//
//	go test ./sim -run '^$' -bench . -cpu 1 -benchmem
//
// BenchmarkBaseline* measure a bare net/http handler that returns a fixed JSON
// body, the same way, so the figures can be compared on any machine.

const benchConfig = `
keys: ["k1"]
seed: 1
deployments:
  - {name: std, kind: standard, model: gpt-4o, region: eastus2, tpm: 1000000000000, rpm: 1000000000000, completion: {mode: fixed, tokens: 20}}
  - {name: ptu, kind: provisioned, model: gpt-4o, region: eastus, capacity_tpm: 1000000000000, completion: {mode: fixed, tokens: 20}}
`

const benchBody = `{"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":50}`

// fixedBody is what the baseline handler returns: a chat completion of the same size.
var fixedBody = func() []byte {
	meta := responseMeta{id: chatID(1), created: 1700000000, modelJSON: `"gpt-4o"`}
	return appendChatCompletion(nil, meta, newTextSource(1), 1, 20, finishStop, 20, 0)
}()

func baselineHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(fixedBody)
}

// discardWriter is a reusable ResponseWriter, so the handler-level benchmarks
// measure the handler rather than httptest.ResponseRecorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchHandler(b *testing.B, h http.Handler, path string) {
	body := []byte(benchBody)
	r := httptest.NewRequest("POST", path, nil)
	r.Header.Set("api-key", "k1")
	rd := bytes.NewReader(body)
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		r.ContentLength = int64(len(body))
		clear(w.h)
		w.code = 200
		h.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
	reportThroughput(b, processCPU()-cpu0)
}

// reportThroughput reports requests per wall-clock second and, when cpu is
// known, per CPU second used by the process (client and server together in
// the loopback benchmarks).
func reportThroughput(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "req/cpu-s")
	}
}

func BenchmarkHandlerChatStandard(b *testing.B) {
	s, _ := newTestSim(b, benchConfig, func(o *Options) { o.Clock = RealClock{} })
	benchHandler(b, s, chat("std"))
}

func BenchmarkHandlerChatProvisioned(b *testing.B) {
	s, _ := newTestSim(b, benchConfig, func(o *Options) { o.Clock = RealClock{} })
	benchHandler(b, s, chat("ptu"))
}

func BenchmarkHandlerBaseline(b *testing.B) {
	benchHandler(b, http.HandlerFunc(baselineHandler), chat("std"))
}

// benchLoopback sends requests over keep-alive loopback connections: client,
// server and kernel share the benchmark's cores.
func benchLoopback(b *testing.B, h http.Handler, path string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := srv.URL + path
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(8) // 8 client goroutines per core keep the server busy
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(benchBody))
			req.Header.Set("api-key", "k1")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	reportThroughput(b, processCPU()-cpu0)
}

func BenchmarkLoopbackChatStandard(b *testing.B) {
	s, _ := newTestSim(b, benchConfig, func(o *Options) { o.Clock = RealClock{} })
	benchLoopback(b, s, chat("std"))
}

func BenchmarkLoopbackBaseline(b *testing.B) {
	benchLoopback(b, http.HandlerFunc(baselineHandler), chat("std"))
}
