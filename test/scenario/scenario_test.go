//go:build scenario

package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/loadgen"
	"github.com/spillway-gw/spillway/sim"
	"github.com/spillway-gw/spillway/test/e2etest"
)

var (
	modesFlag = flag.String("scenario.modes", "capacity,reactive", "routing modes to measure, comma-separated")
	loadsFlag = flag.String("scenario.loads", "1,1.5,2,3", "offered loads, multiples of the PTU's capacity in (normalized) tokens")
	profFlag  = flag.String("scenario.profile", profileIdeal, "simulated Azure: ideal, neighbour, sparse-headers or gpt-5 (docs/scenario.md)")
	scaleFlag = flag.Float64("scenario.time-scale", 0.05, "simulator time_scale: a scaled minute lasts 60×this seconds")
	warmFlag  = flag.Float64("scenario.warmup", 2, "scaled minutes of load before the measured window (fills the PTU's bucket at 1.5×)")
	// Six scaled minutes: over three, the ledger's window-edge effects
	// (usage counted at completion, the PTU bucket's level) moved
	// spilled/min_spilled by ±5 %, as much as the goal's tolerance.
	measFlag = flag.Float64("scenario.measure", 6, "scaled minutes measured per step")
	streamF  = flag.Float64("scenario.stream-share", 0.3, "share of streaming requests")
	// Several replicas: per mode, that many Envoy + spillway pairs over one
	// simulator, sharing the capacity state in one Redis; the load is split
	// evenly between their gateways.
	// spillway's defaults (max_wait 1 s, default_cooldown 1 s) are times
	// against a one-minute window: scaled with it, like every other time.
	maxWaitFlag  = flag.Float64("scenario.max-wait", 1, "capacity.max_wait in unscaled seconds (1: spillway's default); the gateway gets it × time-scale")
	replicasFlag = flag.Int("scenario.replicas", 1, "spillway replicas (each with its own Envoy) per mode; > 1 shares state in Redis")
	classFlag    = flag.Bool("scenario.classes", false, "two consumers: interactive (priority interactive, 30 % of the requests) and batch (priority batch, 70 %)")
)

func TestScenario(t *testing.T) {
	if err := e2etest.CheckEnvoy(); err != nil {
		t.Fatal(err)
	}
	bin, err := e2etest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	modes := strings.Split(*modesFlag, ",")
	var loads []float64
	for _, f := range strings.Split(*loadsFlag, ",") {
		l, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || l <= 0 || l > 4 {
			t.Fatalf("-scenario.loads: %q is not a load between 0 and 4", f)
		}
		loads = append(loads, l)
	}
	su, ok := profileSetup(*profFlag, *scaleFlag)
	if !ok {
		t.Fatalf("-scenario.profile: %q is not one of ideal, neighbour, sparse-headers, gpt-5", *profFlag)
	}
	if *classFlag {
		su.classes = classMix
	}
	if su.timeScale <= 0 || su.timeScale > 1 || *warmFlag < 0 || *measFlag <= 0 || *warmFlag+*measFlag > 10 {
		t.Fatal("-scenario.time-scale must be in (0, 1]; warmup + measure at most 10 scaled minutes")
	}
	// Bounded: every step is at most warm-up + measure + a request timeout +
	// the drain; the go test -timeout of make scenario is the last resort.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// One stack per mode, all started first; the steps then alternate
	// between modes at each load, so both meet the machine in the same state
	// (this benchmark runs on shared machines), and one stack drains while
	// the other is measured.
	if *replicasFlag < 1 || *replicasFlag > 4 {
		t.Fatal("-scenario.replicas must be 1 to 4")
	}
	var vars map[string]string
	if *replicasFlag > 1 {
		vars = map[string]string{"REDIS": e2etest.StartRedis(t).Addr}
	}
	// stacks[mode][0] runs the mode's simulator; the others share it.
	stacks := map[string][]*e2etest.Stack{}
	for i, mode := range modes {
		modes[i] = strings.TrimSpace(mode)
		first := e2etest.StartStack(t, e2etest.Options{Bin: bin, SimYAML: su.simYAML(), GatewayYAML: su.gatewayYAML(modes[i]), LogLevel: "warn", Vars: vars,
			Secrets: su.secrets()})
		stacks[modes[i]] = []*e2etest.Stack{first}
		for range *replicasFlag - 1 {
			stacks[modes[i]] = append(stacks[modes[i]], e2etest.StartStack(t, e2etest.Options{Bin: bin, GatewayYAML: su.gatewayYAML(modes[i]),
				LogLevel: "warn", Vars: vars, SimAddr: strings.TrimPrefix(first.SimURL, "http://"), Secrets: su.secrets()}))
		}
	}
	mean := calibrate(ctx, t, stacks[modes[0]][0], su)
	printJSON(t, header(su, mean, modes, loads))
	lastStep := map[string]time.Time{}
	results := map[string]map[float64]Result{}
	byClass := map[string]map[float64][]ClassResult{}
	for j, load := range loads {
		for _, mode := range modes {
			s := stacks[mode]
			drain(t, s[0], su, lastStep[mode])
			r, cs := step(ctx, t, s, su, mean, mode, load, uint64(100+j))
			lastStep[mode] = time.Now()
			printJSON(t, r)
			for _, c := range cs {
				printJSON(t, c)
			}
			if results[mode] == nil {
				results[mode], byClass[mode] = map[float64]Result{}, map[float64][]ClassResult{}
			}
			results[mode][load], byClass[mode][load] = r, cs
			if r.ClientOther > r.Requests/10 {
				// Not a figure to report: the stack broke. Its logs follow.
				t.Errorf("%s at %g×: %d of %d requests got neither 2xx, 429 nor 5xx: %v", mode, load, r.ClientOther, r.Requests, r.Other)
			}
		}
	}
	// The goals, printed (a benchmark reports; it does not fail on them).
	for _, g := range goals(su.profile, results) {
		printJSON(t, g)
	}
	if g := classGoals(su.profile, results, byClass); g != nil {
		printJSON(t, g)
	}
}

// printJSON writes v as one line on stdout, where make scenario shows it.
func printJSON(t *testing.T, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(string(b))
}

// header is the run's first line: what was measured, on what.
func header(su setup, m meanTokens, modes []string, loads []float64) map[string]any {
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
		version += "+uncommitted" // the binary was built from a tree with local changes
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return map[string]any{
		"scenario": "capacity-vs-reactive", "profile": su.profile, "git": version,
		"started": time.Now().UTC().Format(time.RFC3339),
		"nproc":   runtime.NumCPU(), "cpu": cpu, "loadavg": strings.TrimSpace(string(load)),
		"modes": modes, "loads": loads, "replicas": *replicasFlag,
		"time_scale": su.timeScale, "scaled_minute_s": su.minute(),
		"warmup_min": *warmFlag, "measure_min": *measFlag,
		"ptu_capacity_tpm": su.ptuTPM, "tpm_each": su.tpmTPM, "model": su.model, "output_ratio": su.ratio,
		"neighbour_ptu_share": su.neighbourPTU, "neighbour_tpm_share": su.neighbourTPM, "sparse_headers": su.sparse,
		"mix": su.mix, "stream_share": *streamF,
		"completion":         fmt.Sprintf("uniform %d..%d cut to max_tokens", su.completionMin, su.completionMax),
		"latency":            fmt.Sprintf("%d ms + %d tokens/s", su.firstTokenMs, su.tokensPerSecond),
		"mean_prompt_tokens": m.prompt, "mean_tokens_per_request": m.perRequest(), "neighbour_prompt_tokens": m.neighbourPrompt,
		"rate_at_1x_rps": rateFor(su, m, 1), "classes": classesHeader(su.classes),
	}
}

// classesHeader describes the class mix for the header line; nil without.
func classesHeader(classes []clientClass) []map[string]any {
	var out []map[string]any
	for _, c := range classes {
		out = append(out, map[string]any{"class": c.name, "priority": c.priority, "share": c.share})
	}
	return out
}

// meanTokens is the mix's expected tokens per request of each size, in the
// PTU's normalized tokens (output weighed by its output ratio).
type meanTokens struct {
	mix        []loadgen.Size
	ratio      float64
	prompt     []float64 // by size, measured
	completion []float64 // by size, expected from the simulator's distribution
	// neighbourPrompt is the prompt tokens of the neighbour's request.
	neighbourPrompt float64
}

func (m meanTokens) of(size int) float64 { return m.prompt[size] + m.ratio*m.completion[size] }

// charge is what a TPM deployment charges a request of size on arrival:
// prompt + max_tokens.
func (m meanTokens) charge(size int) float64 { return m.prompt[size] + float64(m.mix[size].MaxTokens) }

func (m meanTokens) perRequest() float64 { return m.weighted(m.of) }

func (m meanTokens) weighted(f func(int) float64) float64 {
	var sum, w float64
	for i, s := range m.mix {
		sum += s.Weight * f(i)
		w += s.Weight
	}
	return sum / w
}

// rateFor is the request rate that offers load × the PTU's capacity.
func rateFor(su setup, m meanTokens, load float64) float64 {
	return load * float64(su.ptuTPM) / su.minute() / m.perRequest()
}

// calibrate measures each size's prompt tokens (the simulator counts them
// with spillway's tokenizer) with a few direct requests.
func calibrate(ctx context.Context, t *testing.T, s *e2etest.Stack, su setup) meanTokens {
	t.Helper()
	m := meanTokens{mix: su.mix, ratio: su.ratio}
	for _, size := range su.mix {
		m.prompt = append(m.prompt, promptTokens(ctx, t, s, size))
		m.completion = append(m.completion, expectedMin(su.completionMin, su.completionMax, size.MaxTokens))
	}
	if su.neighbourPTU > 0 || su.neighbourTPM > 0 {
		m.neighbourPrompt = promptTokens(ctx, t, s, neighbourSize)
	}
	s.ResetLedger()
	return m
}

// promptTokens measures the mean prompt tokens of size's requests.
func promptTokens(ctx context.Context, t *testing.T, s *e2etest.Stack, size loadgen.Size) float64 {
	t.Helper()
	rep, err := loadgen.Run(ctx, loadgen.Config{URL: s.SimURL, Key: "sim-key-1", Model: deploymentDirect,
		Rate: 50, Duration: 100 * time.Millisecond, Arrivals: loadgen.Fixed,
		Mix: []loadgen.Size{size}, Seed: 1, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var sum, n float64
	for _, r := range rep.Results {
		if r.OK() && r.UsageKnown {
			sum += float64(r.PromptTokens)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("calibration of %s: no usage from the simulator: %+v", size.Name, rep.Results)
	}
	return sum / n
}

// expectedMin is E[min(U, cut)] for U uniform on the integers lo..hi.
func expectedMin(lo, hi, cut int) float64 {
	var sum float64
	for v := lo; v <= hi; v++ {
		sum += float64(min(v, cut))
	}
	return sum / float64(hi-lo+1)
}

// contendedLag is the send lag (p99) above which a step is marked contended.
const contendedLag = 50

// Result is one JSON line: one mode at one load (docs/scenario.md).
type Result struct {
	Profile string `json:"profile"`
	Mode    string `json:"mode"`
	// Replicas is how many spillway replicas (each with its Envoy) served
	// the mode, sharing state in Redis when more than one.
	Replicas  int     `json:"replicas"`
	Load      float64 `json:"load"`
	RateRPS   float64 `json:"rate_rps"`
	Requests  int     `json:"requests"`
	Client2xx int     `json:"client_2xx"`
	Client429 int     `json:"client_429"`
	// Client429Local counts the 429s spillway answered itself, without an
	// upstream attempt (no x-spillway-attempts): capacity mode's answer when
	// no backend had room within max_wait.
	Client429Local int `json:"client_429_local"`
	// RetryAfter*: every client 429 with a retry time is retried once after
	// it; RetryAfterSuccessPct is the share of those retries that succeeded
	// (null when there was none).
	Client429RetryAfter  int      `json:"client_429_with_retry_after"`
	RetryAfterRetried    int      `json:"retry_after_retried"`
	RetryAfterOK         int      `json:"retry_after_ok"`
	RetryAfterSuccessPct *float64 `json:"retry_after_success_pct"`
	// RetryAfterP50Ms and RetryAfterP90Ms are the retry times the client
	// 429s gave (those with one).
	RetryAfterP50Ms float64 `json:"retry_after_p50_ms"`
	RetryAfterP90Ms float64 `json:"retry_after_p90_ms"`
	Client5xx       int     `json:"client_5xx"`
	ClientOther     int     `json:"client_other"`
	// GoodputTokens is the usage (prompt + completion) of the window's
	// requests served 2xx at their first attempt.
	GoodputTokens   int64   `json:"goodput_tokens"`
	UpstreamAttempt int64   `json:"upstream_attempts"`
	Upstream429     int64   `json:"upstream_429"`
	Upstream429Pct  float64 `json:"upstream_429_pct"`
	// PTUTokens is the normalized tokens ((prompt − cached) + ratio ×
	// completion) the PTU settled for the gateway's requests in the window.
	PTUTokens       int64   `json:"ptu_tokens"`
	PTUCachedTokens int64   `json:"ptu_cached_tokens"`
	PTUCapacity     float64 `json:"ptu_capacity_tokens"`
	// PTUUtilization is the PTU's whole use (the gateway's and the
	// neighbour's) over its capacity.
	PTUUtilization float64 `json:"ptu_utilization"`
	// NeighbourPTUTokens and NeighbourTPMTokens are the neighbour's
	// normalized tokens on the PTU and gpt-4o-eastus2 in the window; its
	// requests and 429s there are not counted in upstream_*.
	NeighbourPTUTokens int64 `json:"neighbour_ptu_tokens"`
	NeighbourTPMTokens int64 `json:"neighbour_tpm_tokens"`
	NeighbourRequests  int   `json:"neighbour_requests"`
	Neighbour429       int   `json:"neighbour_429"`
	// PTULeft is the PTU's capacity the neighbour left; PTUUtilizationLeft
	// is ptu_tokens over it (the goal's figure; = ptu_utilization without a
	// neighbour).
	PTULeft            float64 `json:"ptu_capacity_left_tokens"`
	PTUUtilizationLeft float64 `json:"ptu_utilization_of_left"`
	// PTUBucketStart and PTUBucketEnd are the PTU's utilization (bucket
	// level / capacity) at the window's edges: a bucket fuller at the end
	// than at the start let ptu_utilization read above what was drained.
	PTUBucketStart float64 `json:"ptu_bucket_start"`
	PTUBucketEnd   float64 `json:"ptu_bucket_end"`
	// OfferedLoad is offered_tokens / ptu_capacity_tokens: the load the
	// window actually offered (Poisson arrivals vary around load).
	OfferedLoad   float64 `json:"offered_load"`
	OfferedTokens int64   `json:"offered_tokens"`
	// CapacityTokens is what the three deployments can serve of this mix
	// in the window, in normalized tokens, after the neighbour's share;
	// CapacitySuffices: offered_tokens fit in it.
	CapacityTokens   int64          `json:"capacity_tokens"`
	CapacitySuffices bool           `json:"capacity_suffices"`
	SpilledTokens    int64          `json:"spilled_tokens"`
	MinSpilled       int64          `json:"min_spilled_tokens"`
	SpillRatio       float64        `json:"spill_ratio"`
	P50Ms            float64        `json:"p50_ms"`
	P99Ms            float64        `json:"p99_ms"`
	BaseP50Ms        float64        `json:"baseline_p50_ms"`
	BaseP99Ms        float64        `json:"baseline_p99_ms"`
	P50AddedMs       float64        `json:"p50_added_ms"`
	P99AddedMs       float64        `json:"p99_added_ms"`
	TTFBP50Ms        float64        `json:"ttfb_p50_ms"`
	BaseTTFBP50Ms    float64        `json:"baseline_ttfb_p50_ms"`
	ByBackend        map[string]int `json:"by_backend"`
	// SendLagP99Ms is how late the load generator sent its requests
	// (p99 of actual - planned send time): more than a few ms means the
	// machine could not keep the offered rate.
	SendLagP99Ms float64 `json:"send_lag_p99_ms"`
	// Contended: send_lag_p99_ms over contendedLag. The load generator could
	// not keep its own schedule, so the machine was saturated: latencies and
	// burst-sensitive counts (429s) of this step reflect that.
	Contended bool `json:"contended"`
	// ClientPTUTokens and ClientSpilledTokens cross-check the ledger from
	// the client's side: normalized usage of the window's requests by the
	// tier that served them (x-spillway-tier), whenever they completed.
	ClientPTUTokens     int64 `json:"client_ptu_tokens"`
	ClientSpilledTokens int64 `json:"client_spilled_tokens"`
	// LoadAvg is the machine's 1-minute load average at the step's end.
	LoadAvg string `json:"loadavg"`
	// Other counts client_other by status or error.
	Other map[string]int `json:"other,omitempty"`
}

// step offers one load through the gateway and, at the same time and with
// the same plan, straight to the simulator's unthrottled deployment (and,
// in profile neighbour, the neighbour's steady load straight to the PTU and
// gpt-4o-eastus2). The first warm-up minutes are not measured; the ledger
// is read at the start and the end of the measured window.
func step(ctx context.Context, t *testing.T, gateways []*e2etest.Stack, su setup, m meanTokens, mode string, load float64, seed uint64) (Result, []ClassResult) {
	t.Helper()
	minute := time.Duration(su.minute() * float64(time.Second))
	warm := time.Duration(*warmFlag * float64(minute))
	measure := time.Duration(*measFlag * float64(minute))
	rate := rateFor(su, m, load)
	base := loadgen.Config{Rate: rate, Duration: warm + measure, Mix: su.mix, StreamShare: *streamF, Seed: seed,
		MaxInFlight: 2048, RequestTimeout: 60 * time.Second, Classes: su.loadClasses(clientClass.key)}
	s := gateways[0]
	direct := base
	direct.URL, direct.Key, direct.Model = s.SimURL, "sim-key-1", deploymentDirect
	// The same plan, classes dealt alike (for per-class baselines), all
	// with the simulator's key.
	direct.Classes = su.loadClasses(func(clientClass) string { return "sim-key-1" })
	// The gateway load, split evenly between the replicas' gateways (the
	// same plan for every mode: the seeds depend on the step only). Each
	// client 429 with a retry time is retried once after it.
	gws := make([]loadgen.Config, len(gateways))
	for i, g := range gateways {
		gws[i] = base
		gws[i].URL, gws[i].Key, gws[i].Model = g.GatewayURL, "client-key-1", su.model
		gws[i].Rate = rate / float64(len(gateways))
		gws[i].Seed = seed + uint64(1000*i)
		gws[i].RetryAfter429 = true
	}
	neighbours := neighbourLoads(su, m, s.SimURL, warm+measure, seed)

	var (
		wg             sync.WaitGroup
		gwRep, dRep    *loadgen.Report
		gwErr, dErr    error
		before, after  sim.Ledger
		errB, errA     error
		ledgerReadings sync.WaitGroup
	)
	start := time.Now()
	reps := make([]*loadgen.Report, len(gws))
	errs := make([]error, len(gws))
	for i := range gws {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i], errs[i] = loadgen.Run(ctx, gws[i]) }()
	}
	nReps := make([]*loadgen.Report, len(neighbours))
	nErrs := make([]error, len(neighbours))
	for i := range neighbours {
		wg.Add(1)
		go func() { defer wg.Done(); nReps[i], nErrs[i] = loadgen.Run(ctx, neighbours[i]) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); dRep, dErr = loadgen.Run(ctx, direct) }()
	// The ledger at the window's edges, read on time (not after the tail).
	ledgerReadings.Add(2)
	time.AfterFunc(time.Until(start.Add(warm)), func() { defer ledgerReadings.Done(); before, errB = readLedger(s) })
	time.AfterFunc(time.Until(start.Add(warm+measure)), func() { defer ledgerReadings.Done(); after, errA = readLedger(s) })
	wg.Wait()
	ledgerReadings.Wait()
	gwErr = errors.Join(append(errs, nErrs...)...)
	if gwErr != nil || dErr != nil {
		t.Fatalf("load: %v %v", gwErr, dErr)
	}
	gwRep = &loadgen.Report{}
	for _, rep := range reps {
		gwRep.Results = append(gwRep.Results, rep.Results...)
	}
	if errB != nil || errA != nil {
		t.Fatalf("could not read the simulator's ledger: %v (processes: %v)", errors.Join(errB, errA), s.Exited())
	}

	r := Result{Profile: su.profile, Mode: mode, Replicas: len(gateways), Load: load, RateRPS: round(rate, 2),
		PTUCapacity: float64(su.ptuTPM) * *measFlag, ByBackend: map[string]int{}}
	inWindow := func(x loadgen.Result) bool { return x.Scheduled >= warm && x.Scheduled < warm+measure }
	offered := clientFigures(&r, gwRep.Results, dRep.Results, inWindow, su, m)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Fields(string(b))[0]
	}

	// The neighbour's share of the ledger's window: requests sent in it
	// (the ledger counts them on arrival; a 429 is answered at once) and
	// tokens of responses completed in it (the ledger counts usage then).
	nb := map[string]neighbourShare{}
	for i, rep := range nReps {
		sh := nb[neighbours[i].Model]
		for _, x := range rep.Results {
			if x.Dropped {
				continue
			}
			if x.Sent >= warm && x.Sent < warm+measure {
				sh.requests++
				if x.Status == 429 {
					sh.throttled++
				}
			}
			if done := x.Sent + x.Latency; x.OK() && done >= warm && done < warm+measure {
				sh.tokens += su.normalized(x)
			}
		}
		nb[neighbours[i].Model] = sh
	}
	for _, sh := range nb {
		r.NeighbourRequests += int(sh.requests)
		r.Neighbour429 += int(sh.throttled)
	}
	r.NeighbourPTUTokens = int64(nb[deploymentPTU].tokens)
	r.NeighbourTPMTokens = int64(nb[deploymentEast2].tokens)

	for _, name := range []string{deploymentPTU, deploymentEast2, deploymentWest3} {
		b, a := before.Deployments[name], after.Deployments[name]
		r.UpstreamAttempt += a.Requests - b.Requests - nb[name].requests
		r.Upstream429 += a.Responses["429"] - b.Responses["429"] - nb[name].throttled
		if name == deploymentPTU {
			r.PTUTokens = a.NormalizedTokens - b.NormalizedTokens - int64(nb[name].tokens)
			r.PTUCachedTokens = a.Usage.CachedTokens - b.Usage.CachedTokens
		} else {
			// In the PTU's normalized tokens, to compare with min_spilled_tokens.
			spilled := float64(a.Usage.PromptTokens-b.Usage.PromptTokens) + su.ratio*float64(a.Usage.CompletionTokens-b.Usage.CompletionTokens)
			r.SpilledTokens += int64(spilled - nb[name].tokens)
		}
	}
	if r.UpstreamAttempt > 0 {
		r.Upstream429Pct = round(100*float64(r.Upstream429)/float64(r.UpstreamAttempt), 2)
	}
	r.PTUUtilization = round(float64(r.PTUTokens+r.NeighbourPTUTokens)/r.PTUCapacity, 3)
	r.PTULeft = r.PTUCapacity - float64(r.NeighbourPTUTokens)
	if r.PTULeft > 0 {
		r.PTUUtilizationLeft = round(float64(r.PTUTokens)/r.PTULeft, 3)
	}
	r.PTUBucketStart = round(before.Deployments[deploymentPTU].Utilization, 3)
	r.PTUBucketEnd = round(after.Deployments[deploymentPTU].Utilization, 3)
	r.OfferedLoad = round(offered/r.PTUCapacity, 3)
	r.OfferedTokens = int64(offered)
	r.CapacityTokens = int64(capacityTokens(su, m, *measFlag, float64(r.NeighbourPTUTokens)))
	r.CapacitySuffices = offered <= float64(r.CapacityTokens)
	r.MinSpilled = int64(math.Max(0, offered-r.PTULeft))
	if r.MinSpilled > 0 {
		r.SpillRatio = round(float64(r.SpilledTokens)/float64(r.MinSpilled), 3)
	}
	return r, classResults(r, su, m, gwRep.Results, dRep.Results, inWindow)
}

// clientFigures fills r's client figures (requests to send_lag_p99_ms,
// docs/scenario.md) from the results of the requests scheduled in the
// window, gw through the gateway and direct the same plan's straight to the
// simulator, and returns the tokens they offered: usage when served, else
// the mix's expectation for the request's size.
func clientFigures(r *Result, gw, direct []loadgen.Result, inWindow func(loadgen.Result) bool, su setup, m meanTokens) (offered float64) {
	if r.ByBackend == nil {
		r.ByBackend = map[string]int{}
	}
	var lat, ttfb, lag, retryAfter []time.Duration
	for _, x := range gw {
		if !inWindow(x) {
			continue
		}
		r.Requests++
		if !x.Dropped {
			lag = append(lag, x.Sent-x.Scheduled)
		}
		switch {
		case x.OK():
			r.Client2xx++
			r.GoodputTokens += int64(x.TotalTokens)
			lat, ttfb = append(lat, x.Latency), append(ttfb, x.TTFB)
		case x.Status == 429:
			r.Client429++
			if x.Attempts == 0 {
				r.Client429Local++
			}
			if x.RetryAfter > 0 {
				r.Client429RetryAfter++
				retryAfter = append(retryAfter, x.RetryAfter)
			}
			if x.Retry != nil {
				r.RetryAfterRetried++
				if x.Retry.OK() {
					r.RetryAfterOK++
				}
			}
		case x.Status/100 == 5:
			r.Client5xx++
		default:
			r.ClientOther++
			if r.Other == nil {
				r.Other = map[string]int{}
			}
			r.Other[strconv.Itoa(x.Status)+" "+x.Err]++
		}
		if x.Backend != "" {
			r.ByBackend[x.Backend]++
		}
		if x.OK() {
			switch x.Tier {
			case "ptu":
				r.ClientPTUTokens += int64(su.normalized(x))
			case "tpm":
				r.ClientSpilledTokens += int64(su.normalized(x))
			}
		}
		// What the request costs: its usage when served, else the mix's
		// expectation for its size.
		if x.OK() && x.UsageKnown {
			offered += su.normalized(x)
		} else {
			offered += m.of(sizeIndex(su.mix, x.Size))
		}
	}
	if len(retryAfter) > 0 {
		slices.Sort(retryAfter)
		r.RetryAfterP50Ms = ms(loadgen.Percentile(retryAfter, 50))
		r.RetryAfterP90Ms = ms(loadgen.Percentile(retryAfter, 90))
	}
	if r.RetryAfterRetried > 0 {
		pct := round(100*float64(r.RetryAfterOK)/float64(r.RetryAfterRetried), 1)
		r.RetryAfterSuccessPct = &pct
	}
	var dLat, dTTFB []time.Duration
	for _, x := range direct {
		if inWindow(x) && x.OK() {
			dLat, dTTFB = append(dLat, x.Latency), append(dTTFB, x.TTFB)
		}
	}
	q, dq := loadgen.QuantilesOf(lat), loadgen.QuantilesOf(dLat)
	r.P50Ms, r.P99Ms, r.BaseP50Ms, r.BaseP99Ms = q.P50, q.P99, dq.P50, dq.P99
	r.P50AddedMs, r.P99AddedMs = round(q.P50-dq.P50, 1), round(q.P99-dq.P99, 1)
	r.TTFBP50Ms, r.BaseTTFBP50Ms = loadgen.QuantilesOf(ttfb).P50, loadgen.QuantilesOf(dTTFB).P50
	r.SendLagP99Ms = loadgen.QuantilesOf(lag).P99
	r.Contended = r.SendLagP99Ms > contendedLag
	return offered
}

// normalized is a response's usage in the PTU's normalized tokens.
func (s setup) normalized(x loadgen.Result) float64 {
	return float64(x.PromptTokens) + s.ratio*float64(x.CompletionTokens)
}

func sizeIndex(mix []loadgen.Size, name string) int {
	for i, s := range mix {
		if s.Name == name {
			return i
		}
	}
	return 0
}

// readLedger reads the ledger; it does not fail the test itself, as it
// runs on a timer's goroutine too.
func readLedger(s *e2etest.Stack) (sim.Ledger, error) {
	var l sim.Ledger
	resp, err := http.Get(s.SimURL + "/_sim/ledger")
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("ledger: status %d", resp.StatusCode)
	}
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

// drain lets the previous step's effects on s pass before the next: at
// least a scaled minute since it ended, for the TPM windows and spillway's
// model of them to roll over, and an empty PTU bucket; then it clears the
// simulator's ledger and state.
func drain(t *testing.T, s *e2etest.Stack, su setup, last time.Time) {
	t.Helper()
	if !last.IsZero() {
		// Time passing is the point here: windows roll over.
		time.Sleep(time.Until(last.Add(time.Duration(su.minute() * float64(time.Second)))))
	}
	if err := s.Exited(); err != nil {
		t.Fatalf("the stack stopped: %v", err)
	}
	e2etest.WaitFor(t, "the PTU's bucket to drain", 2*time.Minute, func() bool {
		l, err := readLedger(s)
		return err == nil && l.Deployments[deploymentPTU].Utilization <= 0
	})
	s.ResetLedger()
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
