//go:build gatewaybench

package gatewaybench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/test/e2etest"
)

var (
	roundsFlag  = flag.Int("rounds", 8, "blocks per path and case (the paths take turns, block by block)")
	blockFlag   = flag.Duration("block", 400*time.Millisecond, "length of one block")
	casesFlag   = flag.String("cases", "", "regexp: run only the cases whose names match")
	profileFlag = flag.String("cpuprofile", "", "write a CPU profile of spillway, taken over the first -profile-seconds of the run, to this file")
	profileSecs = flag.Int("profile-seconds", 60, "length of spillway's CPU profile")
	outFlag     = flag.String("out", "", "also append the JSON lines to this file")
)

// benchCase is one request shape; each runs sequentially and with 8 clients.
// Every request's last message is new (it starts with a number no other
// request has), so nothing is counted from spillway's memo of long strings
// except, in a case with history, the earlier turns, which every request
// repeats as a chat client resends its conversation.
type benchCase struct {
	name      string
	words     int // prompt size: about one token per word
	stream    bool
	maxTokens int // completion tokens: one SSE content event each
	// history: the words are split into this many earlier turns, the same
	// in every request, and a last user message of words/history; 0: one
	// user message of all the words.
	history int
}

var cases = []benchCase{
	{"json-1k", 1000, false, 20, 0},
	{"sse20-1k", 1000, true, 20, 0},
	{"sse200-1k", 1000, true, 200, 0},
	{"json-30k", 30000, false, 20, 0},
	{"json-30k-history", 30000, false, 20, 29},
}

var concurrency = []int{1, 8}

// path is one way to the simulator; procs are the processes whose CPU is
// charged to it.
type path struct {
	name  string
	url   string
	key   string
	procs map[string]*e2etest.Process
}

const apiVersion = "?api-version=2024-10-21"

// TestGatewayCost is `make bench-gateway`. It prints one JSON line describing
// the run, one per case, and one with the goals.
func TestGatewayCost(t *testing.T) {
	var only *regexp.Regexp
	if *casesFlag != "" {
		only = regexp.MustCompile(*casesFlag)
	}
	var serveArgs []string
	if *profileFlag != "" {
		serveArgs = []string{"-pprof"}
	}
	s := e2etest.StartStack(t, e2etest.Options{Bin: spillwayBin, SimYAML: simYAML, GatewayYAML: gatewayYAML, LogLevel: "info", ServeArgs: serveArgs})
	simPort := s.Ports["sim"]

	plain := startEnvoy(t, s, "envoy-plain", simPort, 0, false)
	floorPort := e2etest.FreePort(t)
	t.Setenv(floorEnv, fmt.Sprintf("127.0.0.1:%d", floorPort))
	floorSrv := e2etest.Start(t, "floor-extproc", os.Args[0])
	os.Unsetenv(floorEnv)
	e2etest.WaitFor(t, "floor ext_proc server", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", floorPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	floor := startEnvoy(t, s, "envoy-floor", simPort, floorPort, true)

	deployment := "/openai/deployments/gpt-4o-ptu/chat/completions" + apiVersion
	paths := []path{
		{"direct", s.SimURL + deployment, "sim-key-1", map[string]*e2etest.Process{"sim": s.Sim}},
		{"envoy", plain.url + deployment, "sim-key-1", map[string]*e2etest.Process{"envoy": plain.proc, "sim": s.Sim}},
		{"floor", floor.url + deployment, "sim-key-1", map[string]*e2etest.Process{"envoy": floor.proc, "extproc": floorSrv, "sim": s.Sim}},
		{"spillway", s.GatewayURL + "/openai/deployments/gpt-4o/chat/completions" + apiVersion, "client-key-1", map[string]*e2etest.Process{"envoy": s.Envoy, "spillway": s.Spillway, "sim": s.Sim}},
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	// Every path must answer, and the spillway path must go through spillway.
	for _, p := range paths {
		h, _, err := send(client, p, body(cases[0]))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if p.name == "spillway" && h.Get("x-spillway-backend") == "" {
			t.Fatalf("spillway path: no x-spillway-backend header in %v", h)
		}
	}

	emit(t, header(floorModes))
	if *profileFlag != "" {
		go profile(t, s.SpillAdmin, *profileFlag, *profileSecs)
	}

	results := map[string]map[string]any{}
	for _, c := range cases {
		prompt := promptTokens(t, client, paths[0], c)
		for _, n := range concurrency {
			name := c.name + "/seq"
			if n > 1 {
				name = fmt.Sprintf("%s/c%d", c.name, n)
			}
			if only != nil && !only.MatchString(name) {
				continue
			}
			r := measure(t, client, paths, c, n)
			r["case"], r["prompt_tokens"] = name, prompt
			results[name] = r
			emit(t, r)
		}
	}
	emit(t, goals(results))
}

// envoyProc is a static Envoy started by the benchmark.
type envoyProc struct {
	proc *e2etest.Process
	url  string
}

func startEnvoy(t *testing.T, s *e2etest.Stack, name string, simPort, extprocPort int, extproc bool) envoyProc {
	t.Helper()
	port, admin := e2etest.FreePort(t), e2etest.FreePort(t)
	file := s.Write(name+".yaml", envoyYAML(port, admin, simPort, extprocPort, extproc, floorModes))
	p := e2etest.Start(t, name, "envoy", "-c", file, "--disable-hot-restart", "--log-level", "warn")
	adminURL := fmt.Sprintf("http://127.0.0.1:%d", admin)
	e2etest.WaitFor(t, name+" ready", 30*time.Second, func() bool {
		if err := p.Exited(); err != nil {
			t.Fatalf("%v\n%s", err, p.Out.String())
		}
		return e2etest.HTTPOK(adminURL + "/ready")
	})
	return envoyProc{proc: p, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// words is the prompt's vocabulary: common English words, one o200k token
// each with their leading space.
var words = strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can out up who them some into time only")

// body is a case's request body, with nonce where the number that makes
// each request's last message new goes (see requestBody).
func body(c benchCase) string {
	text := func(n, offset int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			j := i + offset
			b.WriteString(words[(j*7+j/len(words))%len(words)])
		}
		return b.String()
	}
	quote := func(s string) string {
		q, _ := json.Marshal(s)
		return string(q)
	}
	msgs := []string{`{"role":"system","content":"You are terse."}`}
	last := c.words
	if c.history > 0 {
		last = c.words / (c.history + 1)
		for turn := range c.history {
			role := []string{"user", "assistant"}[turn%2]
			msgs = append(msgs, fmt.Sprintf(`{"role":%q,"content":%s}`, role, quote(text(last, turn*last))))
		}
	}
	lastText := quote(text(last, c.history*last))
	msgs = append(msgs, `{"role":"user","content":"`+nonce+` `+lastText[1:]+`}`)
	stream := ""
	if c.stream {
		stream = `,"stream":true`
	}
	return fmt.Sprintf(`{"messages":[%s],"max_tokens":%d%s}`, strings.Join(msgs, ","), c.maxTokens, stream)
}

// nonce marks where requestBody puts the request's number.
const nonce = "#NONCE#"

var requestNumber atomic.Int64

// requestBody is body with the next request number in place of nonce,
// read from the two halves without copying them.
func requestBody(body string) (io.Reader, int64) {
	before, after, _ := strings.Cut(body, nonce)
	n := strconv.FormatInt(requestNumber.Add(1), 10)
	return io.MultiReader(strings.NewReader(before), strings.NewReader(n), strings.NewReader(after)),
		int64(len(before) + len(n) + len(after))
}

// promptTokens asks the simulator (which counts exactly) what the case's
// prompt is in tokens.
func promptTokens(t *testing.T, client *http.Client, direct path, c benchCase) int {
	t.Helper()
	c.stream = false
	_, b, err := send(client, direct, body(c))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("usage of %s: %v", c.name, err)
	}
	return r.Usage.PromptTokens
}

func send(client *http.Client, p path, body string) (http.Header, []byte, error) {
	r, length := requestBody(body)
	req, err := http.NewRequestWithContext(context.Background(), "POST", p.url, r)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = length
	req.Header.Set("api-key", p.key)
	req.Header.Set("content-type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != 200 {
		return nil, nil, fmt.Errorf("status %d from %s: %s", resp.StatusCode, p.url, b)
	}
	return resp.Header, b, nil
}

// pathStats accumulates one path's blocks of one case.
type pathStats struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu     map[string]time.Duration
	errors  int
}

// measure runs the case on every path: rounds of one block per path, the
// order of the paths rotating each round, after a warm-up block each.
func measure(t *testing.T, client *http.Client, paths []path, c benchCase, clients int) map[string]any {
	t.Helper()
	b := body(c)
	stats := make([]pathStats, len(paths))
	for i := range stats {
		stats[i].cpu = map[string]time.Duration{}
	}
	for _, p := range paths {
		block(client, p, b, clients, *blockFlag/4, nil)
	}
	for r := range *roundsFlag {
		for k := range paths {
			i := (k + r) % len(paths)
			block(client, paths[i], b, clients, *blockFlag, &stats[i])
		}
	}
	out := map[string]any{"clients": clients, "stream": c.stream, "max_tokens": c.maxTokens}
	summary := map[string]map[string]float64{}
	for i, p := range paths {
		st := &stats[i]
		if st.errors > 0 {
			t.Errorf("%s on %s: %d failed requests", c.name, p.name, st.errors)
		}
		slices.Sort(st.lat)
		n := len(st.lat)
		m := map[string]float64{
			"n":      float64(n),
			"p50_ms": ms(quantile(st.lat, 0.50)),
			"p99_ms": ms(quantile(st.lat, 0.99)),
			"rps":    round(float64(n)/st.elapsed.Seconds(), 1),
		}
		for name, d := range st.cpu {
			m[name+"_cpu_us"] = round(float64(d.Microseconds())/float64(max(n, 1)), 1)
		}
		summary[p.name] = m
		out[p.name] = m
	}
	sp, env, fl := summary["spillway"], summary["envoy"], summary["floor"]
	out["added_p50_ms"] = round(sp["p50_ms"]-env["p50_ms"], 3)
	out["floor_added_p50_ms"] = round(fl["p50_ms"]-env["p50_ms"], 3)
	out["throughput_ratio"] = round(sp["rps"]/env["rps"], 3)
	out["floor_throughput_ratio"] = round(fl["rps"]/env["rps"], 3)
	out["spillway_cpu_us"] = sp["spillway_cpu_us"]
	out["envoy_cpu_us"] = sp["envoy_cpu_us"]
	out["plain_envoy_cpu_us"] = env["envoy_cpu_us"]
	out["floor_extproc_cpu_us"] = fl["extproc_cpu_us"]
	out["loadavg"] = loadavg()
	return out
}

// block sends requests on p from the given number of clients for d and, when
// st is not nil, records latencies, wall time and CPU of p's processes.
func block(client *http.Client, p path, body string, clients int, d time.Duration, st *pathStats) {
	cpu0 := cpuOf(p)
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for time.Since(start) < d {
				t0 := time.Now()
				if _, _, err := send(client, p, body); err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			if st != nil {
				mu.Lock()
				st.lat = append(st.lat, lat...)
				st.errors += errs
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if st == nil {
		return
	}
	st.elapsed += time.Since(start)
	for name, v := range cpuOf(p) {
		st.cpu[name] += v - cpu0[name]
	}
}

func cpuOf(p path) map[string]time.Duration {
	m := make(map[string]time.Duration, len(p.procs))
	for name, proc := range p.procs {
		m[name] = proc.CPUTime()
	}
	return m
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return round(float64(d)/1e6, 3) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// header describes the run: machine, revision, load, settings.
func header(m modes) map[string]any {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
				break
			}
		}
	}
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	version := strings.TrimSpace(string(rev))
	if dirty, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(dirty) > 0 {
		version += "+uncommitted"
	}
	ev, _ := exec.Command("envoy", "--version").Output()
	return map[string]any{
		"bench": "gateway-cost", "git": version, "started": time.Now().UTC().Format(time.RFC3339),
		"nproc": runtime.NumCPU(), "cpu": cpu, "loadavg": loadavg(), "go": runtime.Version(),
		"envoy":  strings.TrimSpace(string(ev)),
		"rounds": *roundsFlag, "block": blockFlag.String(),
		"floor_modes": m.describe(),
	}
}

// goal is one of issue 10's targets, checked on this run's figures.
type goal struct {
	Goal  string  `json:"goal"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Met   bool    `json:"met"`
}

func goals(r map[string]map[string]any) map[string]any {
	get := func(c, k string) (float64, bool) {
		v, ok := r[c][k].(float64)
		return v, ok
	}
	var gs []goal
	atMost := func(name string, v, limit float64) { gs = append(gs, goal{name, round(v, 4), limit, v <= limit}) }
	atLeast := func(name string, v, limit float64) { gs = append(gs, goal{name, round(v, 4), limit, v >= limit}) }
	if v, ok := get("json-1k/seq", "added_p50_ms"); ok {
		atMost("sequential JSON added p50 (ms)", v, 0.45)
	}
	if v, ok := get("sse20-1k/seq", "added_p50_ms"); ok {
		atMost("sequential SSE (20 chunks) added p50 (ms)", v, 0.55)
	}
	for _, c := range []string{"json-1k/c8", "sse20-1k/c8", "sse200-1k/c8", "json-30k/c8"} {
		if v, ok := get(c, "throughput_ratio"); ok {
			atLeast(c+" throughput ratio", v, 0.4)
		}
	}
	if v, ok := get("json-30k/seq", "added_p50_ms"); ok {
		atMost("30k-token prompt added p50 (ms)", v, 1.5)
	}
	if v, ok := get("json-1k/seq", "spillway_cpu_us"); ok {
		atMost("spillway CPU per 1k-token JSON request (µs)", v, 300)
	}
	a20, ok20 := get("sse20-1k/seq", "added_p50_ms")
	a200, ok200 := get("sse200-1k/seq", "added_p50_ms")
	if ok20 && ok200 {
		atMost("SSE added per chunk (ms)", (a200-a20)/180, 0.05)
	}
	all := true
	for _, g := range gs {
		all = all && g.Met
	}
	return map[string]any{"goals": gs, "all_met": all, "loadavg": loadavg()}
}

func emit(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(string(b))
	if *outFlag != "" {
		f, err := os.OpenFile(*outFlag, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, _ = f.Write(append(b, '\n'))
	}
}

// profile saves spillway's CPU profile over the next secs seconds.
func profile(t *testing.T, admin, file string, secs int) {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs))
	if err != nil {
		t.Logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		t.Logf("profile: %v", err)
		return
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Logf("profile: %v", err)
	}
}
