package telemetry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. The gen_ai.* ones are the OpenTelemetry GenAI semantic
// conventions' own; docs/telemetry.md describes each with its attributes and
// its Prometheus name.
const (
	MetricTokenUsage       = "gen_ai.client.token.usage"
	MetricRequestDuration  = "gen_ai.server.request.duration"
	MetricTimeToFirstToken = "gen_ai.server.time_to_first_token"

	MetricRequests         = "spillway.requests"
	MetricUpstreamAttempts = "spillway.upstream.attempts"
	MetricUpstreamThrottle = "spillway.upstream.throttled"
	MetricSpillovers       = "spillway.spillovers"
	MetricRetries          = "spillway.retries"
	MetricQueueWait        = "spillway.queue.wait"
	MetricUtilization      = "spillway.backend.utilization"
	MetricRemainingTokens  = "spillway.backend.remaining_tokens"
	MetricCooldown         = "spillway.backend.cooldown"
	MetricEffective        = "spillway.backend.effective_capacity"
	MetricConfigReloads    = "spillway.config.reloads"
)

// Token types (gen_ai.token.type).
const (
	TokenInput  = "input"
	TokenOutput = "output"
)

// Spill reasons (spillway.spill_reason): why a request moved on from a
// backend.
const (
	SpillThrottled   = "throttled"    // the backend answered 429 or 424
	SpillServerError = "server_error" // 5xx or 408
	SpillReset       = "reset"        // no response: reset, refused, timeout
	SpillCapacity    = "capacity"     // spillway skipped it: the capacity model said it was full or cooling down
	SpillUnhealthy   = "unhealthy"    // spillway skipped it: in a health cooldown after failures
)

// OutcomeCancelled marks a request the client cancelled before any
// response (spillway.outcome on spillway.requests, error.type on the
// duration histogram).
const OutcomeCancelled = "cancelled"

// Reload outcomes (outcome attribute of spillway.config.reloads).
const (
	ReloadApplied  = "applied"
	ReloadRejected = "rejected"
)

// Queue outcomes (outcome attribute of spillway.queue.wait).
const (
	QueueAdmitted = "admitted" // capacity became free; the request went on
	QueueTimeout  = "timeout"  // the wait bound passed; the request was answered 429
	QueueCanceled = "canceled" // the client went away
)

// Bucket boundaries advised by the GenAI semantic conventions.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	queueBuckets    = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// RequestInfo is one client request as the gateway saw it when it ended.
type RequestInfo struct {
	// Operation is gen_ai.operation.name (OperationChat, ...); empty if
	// the request was refused before its path was understood.
	Operation string
	// Model is the model the client asked for (gen_ai.request.model).
	Model string
	// ResponseModel is the model the backend said it used, if known.
	ResponseModel string
	Consumer      string
	// Backend and Tier served the final attempt; empty for local replies.
	Backend string
	Tier    string
	// Status is the HTTP status sent to the client; 0 if none started.
	Status int
	// Attempts is how many upstream attempts were made (0 for local replies).
	Attempts int
	// InputTokens and OutputTokens are the response's usage; recorded only
	// when UsageKnown.
	InputTokens  int
	OutputTokens int
	UsageKnown   bool
	// Local is true when spillway answered without calling a backend.
	Local bool
	// Cancelled is true when the client went away before any response:
	// recorded with spillway.outcome=cancelled and error.type=cancelled.
	Cancelled bool
	// Duration is from the request's headers to the end of its response.
	Duration time.Duration
	// TimeToFirstToken is from the request's headers to the first byte of
	// a streamed completion; 0 when not measured (not recorded then).
	TimeToFirstToken time.Duration
	// QueueWait is the time held waiting for capacity (span attribute
	// only: the histogram is fed by RecordQueueWait).
	QueueWait time.Duration
	// SpillReason is why the first-choice backend did not serve the
	// request; empty when it did.
	SpillReason string
}

// AttemptInfo is one upstream attempt.
type AttemptInfo struct {
	Backend string
	Tier    string
	// Model is the model the backend serves (gen_ai.request.model).
	Model string
	// Number is Envoy's attempt count for the request, from 1.
	Number int
	// Status is the backend's HTTP status; 0 when no response arrived.
	Status int
	// RetryAfter is the wait a throttled backend asked for (span
	// attribute only); 0 if none.
	RetryAfter time.Duration
}

// Spillover is one move of a request from a backend to the next one.
type Spillover struct {
	// Reason is one of the Spill* constants.
	Reason string
	// Backend and Tier are the backend the request left (or skipped).
	Backend string
	Tier    string
	Model   string
}

// QueueWait is one wait for capacity.
type QueueWait struct {
	Model    string
	Consumer string
	Wait     time.Duration
	// Outcome is one of the Queue* constants.
	Outcome string
}

// BackendGauge is one backend's capacity as the gateway's model sees it,
// sampled on every collection (Prometheus scrape or OTLP export).
type BackendGauge struct {
	Backend string
	Tier    string
	Model   string
	// Utilization is the fraction of the backend's capacity in use: 1 is
	// full; it may exceed 1 while over-committed.
	Utilization float64
	// RemainingTokens is the tokens the backend can still take in its
	// current window.
	RemainingTokens int64
	// CoolingDown is true while the backend is skipped after a throttle.
	CoolingDown bool
	// Effective is the share of the configured capacity the model
	// currently assumes usable: below 1 after the backend throttled
	// requests the model had room for (another client uses it).
	Effective float64
}

// SpillReason classifies an attempt's status: the reason a request moved
// on from it, or "" for a status Envoy does not retry.
func SpillReason(status int) string {
	switch {
	case status == 0:
		return SpillReset
	case status == 429 || status == 424:
		return SpillThrottled
	case status == 408 || status >= 500:
		return SpillServerError
	}
	return ""
}

type instruments struct {
	tokenUsage metric.Int64Histogram
	duration   metric.Float64Histogram
	ttft       metric.Float64Histogram
	requests   metric.Int64Counter
	attempts   metric.Int64Counter
	throttled  metric.Int64Counter
	spillovers metric.Int64Counter
	retries    metric.Int64Counter
	queueWait  metric.Float64Histogram
	reloads    metric.Int64Counter
	gauges     gauges
}

type gauges struct {
	util      metric.Float64ObservableGauge
	remaining metric.Int64ObservableGauge
	cooldown  metric.Int64ObservableGauge
	effective metric.Float64ObservableGauge
}

func (in *instruments) init(m metric.Meter, backends metric.Callback) error {
	var errs [14]error
	in.tokenUsage, errs[0] = m.Int64Histogram(MetricTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens used per request, by token type (input or output)."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	in.duration, errs[1] = m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time from a request's headers to the end of its response, as the gateway saw it."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.ttft, errs[2] = m.Float64Histogram(MetricTimeToFirstToken, metric.WithUnit("s"),
		metric.WithDescription("Time from a streamed request's headers to its first response bytes."),
		metric.WithExplicitBucketBoundaries(ttftBuckets...))
	in.requests, errs[3] = m.Int64Counter(MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Client requests, by the status sent to the client and the tier that served them."))
	in.attempts, errs[4] = m.Int64Counter(MetricUpstreamAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Upstream attempts, by backend and the backend's status (0: no response)."))
	in.throttled, errs[5] = m.Int64Counter(MetricUpstreamThrottle, metric.WithUnit("{response}"),
		metric.WithDescription("Upstream attempts a backend throttled (429 or 424), by backend."))
	in.spillovers, errs[6] = m.Int64Counter(MetricSpillovers, metric.WithUnit("{spillover}"),
		metric.WithDescription("Requests moved on from a backend to the next, by reason and by the backend left."))
	in.retries, errs[7] = m.Int64Counter(MetricRetries, metric.WithUnit("{attempt}"),
		metric.WithDescription("Upstream attempts after a request's first, by the backend tried."))
	in.queueWait, errs[8] = m.Float64Histogram(MetricQueueWait, metric.WithUnit("s"),
		metric.WithDescription("Time requests waited for capacity, by outcome."),
		metric.WithExplicitBucketBoundaries(queueBuckets...))
	in.reloads, errs[9] = m.Int64Counter(MetricConfigReloads, metric.WithUnit("{reload}"),
		metric.WithDescription("Config file changes, by outcome (applied or rejected)."))
	var (
		util      metric.Float64ObservableGauge
		remaining metric.Int64ObservableGauge
		cooldown  metric.Int64ObservableGauge
		effective metric.Float64ObservableGauge
	)
	util, errs[10] = m.Float64ObservableGauge(MetricUtilization, metric.WithUnit("1"),
		metric.WithDescription("Fraction of a backend's capacity in use (1 = full) as spillway's capacity model sees it."))
	remaining, errs[11] = m.Int64ObservableGauge(MetricRemainingTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Tokens a backend can still take in its current window."))
	cooldown, errs[12] = m.Int64ObservableGauge(MetricCooldown,
		metric.WithDescription("1 while a backend is cooling down after a throttle, else 0."))
	effective, errs[13] = m.Float64ObservableGauge(MetricEffective, metric.WithUnit("1"),
		metric.WithDescription("Effective capacity / configured capacity: the share of a backend spillway currently assumes usable (below 1 after the backend throttled requests the model had room for, without saying how full it was)."))
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	in.gauges = gauges{util: util, remaining: remaining, cooldown: cooldown, effective: effective}
	_, err := m.RegisterCallback(backends, util, remaining, cooldown, effective)
	return err
}

// RegisterBackendState sets the function the per-backend gauges read on
// every collection. It replaces any earlier one; nil stops the gauges. f
// must be safe for concurrent use and must not block.
func (t *Telemetry) RegisterBackendState(f func() []BackendGauge) {
	if t == nil {
		return
	}
	if f == nil {
		t.backends.Store(nil)
		return
	}
	t.backends.Store(&f)
}

func (t *Telemetry) observeBackends(_ context.Context, o metric.Observer) error {
	f := t.backends.Load()
	if f == nil {
		return nil
	}
	g := t.inst.gauges
	for _, b := range (*f)() {
		set := metric.WithAttributeSet(attribute.NewSet(
			AttrBackend.String(b.Backend), AttrTier.String(b.Tier), AttrRequestModel.String(b.Model)))
		o.ObserveFloat64(g.util, b.Utilization, set)
		o.ObserveInt64(g.remaining, b.RemainingTokens, set)
		var c int64
		if b.CoolingDown {
			c = 1
		}
		o.ObserveInt64(g.cooldown, c, set)
		o.ObserveFloat64(g.effective, b.Effective, set)
	}
	return nil
}

// RecordRequest records a finished client request: spillway.requests,
// gen_ai.server.request.duration, gen_ai.client.token.usage (when usage is
// known) and gen_ai.server.time_to_first_token (when measured).
func (t *Telemetry) RecordRequest(ctx context.Context, r RequestInfo) {
	if t == nil {
		return
	}
	in := &t.inst
	k := requestKey{op: r.Operation, model: r.Model, consumer: r.Consumer, backend: r.Backend, tier: r.Tier, status: r.Status, cancelled: r.Cancelled}
	a := t.requestSets.get(k, k.sets)
	in.requests.Add(ctx, 1, a.requests)
	in.duration.Record(ctx, r.Duration.Seconds(), a.duration)
	if r.TimeToFirstToken > 0 {
		in.ttft.Record(ctx, r.TimeToFirstToken.Seconds(), a.common)
	}
	if r.UsageKnown {
		in.tokenUsage.Record(ctx, int64(r.InputTokens), a.input)
		in.tokenUsage.Record(ctx, int64(r.OutputTokens), a.output)
	}
}

// requestKey is what a request's metric attributes are made of.
type requestKey struct {
	op, model, consumer, backend, tier string
	status                             int
	cancelled                          bool
}

// requestSets are the attribute sets of one requestKey's measurements.
type requestSets struct {
	requests, duration, common, input, output metric.MeasurementOption
}

func (k requestKey) sets() requestSets {
	common := []attribute.KeyValue{
		AttrRequestModel.String(k.model), AttrConsumer.String(k.consumer),
		AttrBackend.String(k.backend), AttrTier.String(k.tier),
	}
	reqAttrs := append(common, AttrStatusCode.Int(k.status))
	if k.cancelled {
		reqAttrs = append(reqAttrs, AttrOutcome.String(OutcomeCancelled))
	}
	gen := append(genAIAttrs(k.op), common...)
	n := len(gen)
	dur := gen[:n:n]
	switch {
	case k.cancelled:
		dur = append(dur, AttrErrorType.String(OutcomeCancelled))
	case k.status == 0 || k.status >= 400:
		dur = append(dur, AttrErrorType.String(strconv.Itoa(k.status)))
	}
	return requestSets{
		requests: metric.WithAttributes(reqAttrs...),
		duration: metric.WithAttributes(dur...),
		common:   metric.WithAttributes(gen...),
		input:    metric.WithAttributes(append(gen[:n:n], AttrTokenType.String(TokenInput))...),
		output:   metric.WithAttributes(append(gen[:n:n], AttrTokenType.String(TokenOutput))...),
	}
}

// RecordAttempt records one upstream attempt: spillway.upstream.attempts,
// spillway.upstream.throttled for 429 and 424, and spillway.retries for
// every attempt after the first.
func (t *Telemetry) RecordAttempt(ctx context.Context, a AttemptInfo) {
	if t == nil {
		return
	}
	in := &t.inst
	k := attemptKey{backend: a.Backend, tier: a.Tier, model: a.Model, status: a.Status}
	sets := t.attemptSets.get(k, k.sets)
	in.attempts.Add(ctx, 1, sets.withStatus)
	if SpillReason(a.Status) == SpillThrottled {
		in.throttled.Add(ctx, 1, sets.withStatus)
	}
	if a.Number > 1 {
		in.retries.Add(ctx, 1, sets.who)
	}
}

// queueKey is what a queue wait's metric attributes are made of.
type queueKey struct{ model, consumer, outcome string }

func (k queueKey) set() metric.MeasurementOption {
	return metric.WithAttributes(AttrRequestModel.String(k.model), AttrConsumer.String(k.consumer), AttrOutcome.String(k.outcome))
}

// attemptKey is what an attempt's metric attributes are made of.
type attemptKey struct {
	backend, tier, model string
	status               int
}

type attemptSets struct{ who, withStatus metric.MeasurementOption }

func (k attemptKey) sets() attemptSets {
	who := []attribute.KeyValue{AttrBackend.String(k.backend), AttrTier.String(k.tier), AttrRequestModel.String(k.model)}
	n := len(who)
	return attemptSets{
		who:        metric.WithAttributes(who...),
		withStatus: metric.WithAttributes(append(who[:n:n], AttrStatusCode.Int(k.status))...),
	}
}

// setCache keeps the attribute sets of recent keys: building a set sorts
// and hashes its attributes, which was a tenth of the request path's own
// CPU when done for every measurement. Keys come from the config (models,
// consumers, backends) and from status codes, so they are few; the bound
// only matters for names a client makes up (an unknown model), past which
// sets are simply built each time.
type setCache[K comparable, V any] struct {
	m sync.Map
	n atomic.Int64
}

const maxCachedSets = 4096

func (c *setCache[K, V]) get(k K, build func() V) V {
	if v, ok := c.m.Load(k); ok {
		return v.(V)
	}
	v := build()
	if c.n.Add(1) <= maxCachedSets {
		c.m.Store(k, v)
	}
	return v
}

// RecordSpillover records that a request left (or skipped) a backend for
// the next one.
func (t *Telemetry) RecordSpillover(ctx context.Context, s Spillover) {
	if t == nil {
		return
	}
	t.inst.spillovers.Add(ctx, 1, metric.WithAttributes(
		AttrSpillReason.String(s.Reason), AttrBackend.String(s.Backend),
		AttrTier.String(s.Tier), AttrRequestModel.String(s.Model)))
}

// RecordQueueWait records one wait for capacity.
func (t *Telemetry) RecordQueueWait(ctx context.Context, q QueueWait) {
	if t == nil {
		return
	}
	k := queueKey{model: q.Model, consumer: q.Consumer, outcome: q.Outcome}
	t.inst.queueWait.Record(ctx, q.Wait.Seconds(), t.queueSets.get(k, k.set))
}

// RecordReload records a config file change: ReloadApplied or
// ReloadRejected.
func (t *Telemetry) RecordReload(ctx context.Context, outcome string) {
	if t == nil {
		return
	}
	t.inst.reloads.Add(ctx, 1, metric.WithAttributes(AttrOutcome.String(outcome)))
}

// genAIAttrs are the attributes the GenAI conventions require on their
// metrics: the provider always, the operation when known.
func genAIAttrs(op string) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 8)
	kv = append(kv, AttrProviderName.String(ProviderAzureOpenAI))
	if op != "" {
		kv = append(kv, AttrOperationName.String(op))
	}
	return kv
}
