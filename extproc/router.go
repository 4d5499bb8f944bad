package extproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/chargeback"
	"github.com/spillway-gw/spillway/jwtauth"
	"github.com/spillway-gw/spillway/limits"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/xds"
)

// Request is what the router phase saw of one client request, reported to
// the Observer when the stream ends.
type Request struct {
	ID       string
	Consumer string
	Model    string
	Stream   bool
	// Status is the status sent to the client; 0 if no response started.
	Status   int
	Backend  string
	Tier     string
	Attempts int
	Usage    openai.Usage
	// UsageKnown is false when no usage was read (errors, cut streams).
	UsageKnown bool
	// UsageEstimated is true when the usage was not reported by the
	// backend (a stream cut short) and was counted from what was streamed.
	UsageEstimated bool
	// PromptTokens is spillway's own count of the prompt, Cost the arrival
	// estimate (prompt + max tokens) it routed and reserved by.
	PromptTokens int
	Cost         int
	// QueueWait is how long the request was held for a backend with room.
	QueueWait time.Duration
	// Operation is gen_ai.operation.name: chat or embeddings; empty when
	// the path was not understood.
	Operation string
	// TimeToFirstToken is from the request's headers to the first bytes of
	// a streamed response; 0 for JSON responses.
	TimeToFirstToken time.Duration
	// SpillReason says why a request served by a TPM backend left the PTU:
	// throttled, server_error, reset (a failed attempt) or capacity.
	SpillReason string
	// Local is true when spillway answered without calling a backend.
	Local bool
	// Cancelled is true when the client went away after the request was
	// routed and before any response reached it: its own outcome, never a
	// backend's failure.
	Cancelled bool
	Duration  time.Duration
}

// routerPhase handles the downstream filter's stream for one client request.
type routerPhase struct {
	s     *Server
	t     *Table
	start time.Time

	target target
	path   string // as the client sent it
	req    Request
	// body reading state for the final response
	sse      *openai.SSEUsage
	jsonBody []byte
	isSSE    bool
	// stripUsage: spillway asked for stream usage the client did not ask
	// for, so the usage event is removed before the client sees it.
	stripUsage bool
	// model and res: the request's model and its reservation (capacity
	// routing), settled with the real usage when the stream ends.
	model *Model
	res   *capacity.Reservation
	// ask is what was asked of the capacity model (capacity routing), to
	// say when a final 429 may be retried.
	ask *capacity.Ask
	// outputShare is the part of the arrival cost that is output tokens
	// (max_tokens): a PTU weighs it by its output ratio.
	outputShare int
	flight      *flight
	flightID    string
	// routed: the decision is made (at headers, for operations without a
	// body to read); a body that follows passes through.
	routed bool
	// recordID: a successful response is stored by its backend; its id is
	// recorded so what continues it goes there. recorded once done.
	recordID, recorded bool

	span      trace.Span
	firstByte time.Time // first response body chunk, for time to first token

	// claims are the client's validated Entra ID token's, if it sent one.
	claims *jwtauth.Claims
	// limitKey keeps the consumer's limit counters; charge is the
	// request's charge to them, settled when it ends (nil: no limits).
	limitKey string
	charge   *limits.Charge
}

func (p *routerPhase) handle(ctx context.Context, req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	switch r := req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return p.requestHeaders(ctx, req, r.RequestHeaders)
	case *extprocsvc.ProcessingRequest_RequestBody:
		if p.routed {
			return continueResponse(req, nil)
		}
		return p.requestBody(ctx, req, r.RequestBody)
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return p.responseHeaders(req)
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return p.responseBody(ctx, req, r.ResponseBody)
	}
	return continueResponse(req, nil)
}

func (p *routerPhase) reject(e *azure.Error, extra ...[2]string) *extprocsvc.ProcessingResponse {
	p.req.Status, p.req.Local = e.Status, true
	return localReply(e, extra...)
}

func (p *routerPhase) requestHeaders(ctx context.Context, req *extprocsvc.ProcessingRequest, hh *extprocsvc.HttpHeaders) *extprocsvc.ProcessingResponse {
	p.start = time.Now()
	h := headers(hh.GetHeaders().GetHeaders())
	p.req.ID = h.get("x-request-id")
	p.startSpan(ctx, h)

	consumer, rejected := p.identify(ctx, h)
	if rejected != nil {
		return rejected
	}
	p.req.Consumer = consumer
	if cl := p.t.limits[consumer]; cl != nil {
		p.limitKey = cl.key(consumer, h, p.claims)
	}

	p.path = h.get(":path")
	tgt, ok := parsePath(p.path)
	if !ok {
		return p.reject(azure.MissingAPIVersionOrPath())
	}
	if m := h.get(":method"); !tgt.op.allows(m) {
		return p.reject(azure.MethodNotAllowed(m))
	}
	p.target = tgt
	p.req.Operation = tgt.op.name()
	if lo, ok := tgt.op.(localOperation); ok {
		status, body, e := lo.answer(p.t, tgt)
		if e != nil {
			return p.reject(e)
		}
		p.req.Status, p.req.Local = status, true
		return localJSON(status, body)
	}
	// Headers a client sends under spillway's prefix are dropped: only
	// spillway speaks in that namespace.
	var m mutation
	m.remove(h.spillwayKeys()...)
	if tgt.op.atHeaders() {
		return p.decide(ctx, req, nil, &m)
	}
	if cl := h.get("content-length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > p.t.bodyLimit {
			return p.reject(azure.TooLarge(p.t.bodyLimit))
		}
	}
	if hh.EndOfStream {
		return p.reject(azure.BadRequest("The request body is empty; expected a JSON object.", ""))
	}
	return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
}

// localOperation is an operation spillway answers itself.
type localOperation interface {
	answer(t *Table, tgt target) (status int, body []byte, e *azure.Error)
}

// clientKey is the key a client authenticates with: api-key, as Azure SDKs
// send it, or a Bearer token, as OpenAI SDKs do.
func clientKey(h headers) string {
	if k := h.get("api-key"); k != "" {
		return k
	}
	if a, ok := strings.CutPrefix(h.get("authorization"), "Bearer "); ok {
		return strings.TrimSpace(a)
	}
	return ""
}

func (p *routerPhase) requestBody(ctx context.Context, req *extprocsvc.ProcessingRequest, b *extprocsvc.HttpBody) *extprocsvc.ProcessingResponse {
	if int64(len(b.Body)) > p.t.bodyLimit {
		return p.reject(azure.TooLarge(p.t.bodyLimit))
	}
	return p.decide(ctx, req, b.Body, &mutation{})
}

// decide reads the request (body nil for operations routed at headers),
// finds its model and the backend a stored response pins it to, counts it,
// plans the backends and hands the order to Envoy. m holds header changes
// already decided.
func (p *routerPhase) decide(ctx context.Context, req *extprocsvc.ProcessingRequest, body []byte, m *mutation) *extprocsvc.ProcessingResponse {
	op := p.target.op
	p.routed = true
	cr, err := op.parse(body)
	if err != nil {
		var re *openai.RequestError
		if errors.As(err, &re) {
			return p.reject(azure.BadRequest(re.Message, re.Param))
		}
		return p.reject(azure.BadRequest(err.Error(), ""))
	}
	name := p.target.model
	if name == "" {
		name = cr.Model
	}
	pinned, e := p.pinnedBackend(ctx, cr, name)
	if e != nil {
		return p.reject(e)
	}
	if pinned != nil {
		name = pinned.Model
	}
	if name == "" {
		return p.reject(azure.BadRequest("Missing required parameter: 'model'.", "model"))
	}
	p.req.Model, p.req.Stream = name, cr.Stream
	p.span.SetName(spanName(op, name))
	model := p.t.models[name]
	if model == nil {
		return p.reject(azure.DeploymentNotFound(name))
	}
	p.model = model
	p.recordID = op.stores(cr)
	policy := p.t.policies[p.req.Consumer]
	view := policy.modelFor(model)
	if len(view.Order) == 0 || pinned != nil && !slices.Contains(view.names, pinned.Name) {
		return p.reject(azure.ConsumerNoBackend(p.req.Consumer, name))
	}

	if !op.atHeaders() {
		// Counted through the memo, in the consumer's scope: history a
		// client resends is counted once (tokens.Memo).
		c, e := op.count(model, model.Tokens.WithMemo(p.s.memo.Scope(p.req.Consumer)), body)
		if e != nil {
			return p.reject(e)
		}
		p.req.PromptTokens, p.req.Cost, p.outputShare = c.prompt, c.cost, c.output
		if cl := p.t.limits[p.req.Consumer]; cl != nil {
			if refused := p.chargeLimits(cl, name); refused != nil {
				return refused
			}
		}
	}
	// The flight ties this request to its attempts, which may reach
	// another replica: its id (x-request-id) names the reservation in a
	// shared store, which also keeps the request's trace context for them.
	p.flight = newFlight(p.span.SpanContext())
	newID := false
	if p.flightID = p.s.flights.add(p.req.ID, p.flight); p.flightID != p.req.ID {
		p.req.ID, newID = p.flightID, true
	}
	var d decision
	if op.atHeaders() {
		// Reading or managing a stored response costs no tokens: it goes
		// to its backend whatever that backend's load, if spillway holds
		// a credential for it.
		if _, _, err = p.s.routable(model.pinnedTo(pinned)); err == nil {
			d = decision{order: []*Backend{pinned}}
		}
	} else {
		planned := view
		if pinned != nil {
			// Only the backend holding the stored response can serve it.
			planned = model.pinnedTo(pinned)
		}
		ask := capacity.Ask{Consumer: p.req.Consumer, Cost: p.req.Cost, Output: p.outputShare, ID: p.flightID, Meta: traceparent(p.flight.span),
			Priority: queuePriority("")}
		if policy != nil {
			ask.Headroom, ask.Priority = policy.headroom, policy.priority
		}
		d, err = p.s.plan(ctx, p.t, ask, planned)
		if d.res != nil {
			ask.Candidates = planned.names
			p.ask = &ask
		}
	}
	p.req.QueueWait = d.queueWait
	if err != nil {
		p.s.flights.remove(p.flightID)
		p.flight = nil
		if errors.Is(err, errNoAuthenticatedBackend) {
			return p.reject(azure.NoAuthenticatedBackend(name), [2]string{"retry-after", "1"})
		}
		var nc *errNoCapacity
		if errors.As(err, &nc) {
			wait := time.Until(nc.retryAt)
			secs := azure.RetryAfterSeconds(wait.Milliseconds())
			e := azure.GatewayAtCapacity(name, secs)
			if pinned != nil {
				id, _ := op.affinity(p.target, cr)
				e = azure.StoredResponseBackendAtCapacity(id, secs)
			}
			return p.reject(e, [2]string{"retry-after", secs}, [2]string{"retry-after-ms", strconv.FormatInt(max(wait.Milliseconds(), 0), 10)})
		}
		// The client went away while its request was held.
		p.s.log.Debug("request abandoned while waiting for capacity", slog.String("request_id", p.req.ID), slog.String("error", err.Error()))
		return p.reject(azure.ServerBusy())
	}
	if d.firstSkipped == capacity.SkipUnhealthy {
		p.flight.setSpillReason(telemetry.SpillUnhealthy)
	}
	if id := reservationID(d.res); id != "" && id != p.flightID {
		// Another replica's request holds this id in the shared store.
		p.s.flights.rename(p.flightID, id)
		p.flightID, p.req.ID, newID = id, id, true
	}
	p.res = d.res
	p.flight.setReservation(d.res)
	if p.s.log.Enabled(ctx, slog.LevelDebug) {
		names := make([]string, len(d.order))
		for i, b := range d.order {
			names[i] = b.Name
		}
		p.s.log.Debug("plan", slog.String("request_id", p.req.ID), slog.Any("order", names), slog.Int("cost", p.req.Cost), slog.Duration("queue_wait", d.queueWait))
	}
	resp := p.route(req, model, d.order, m)
	md := resp.DynamicMetadata.Fields[xds.MetadataNamespace].GetStructValue().Fields
	md["model"] = structpb.NewStringValue(model.Name)
	md["path"] = structpb.NewStringValue(p.path)
	md["consumer"] = structpb.NewStringValue(p.req.Consumer)
	md["cost"] = structpb.NewNumberValue(float64(p.req.Cost))
	md["queue_wait_ms"] = structpb.NewNumberValue(float64(d.queueWait.Milliseconds()))
	common := commonResponse(resp)
	if newID {
		common.HeaderMutation.SetHeaders = append(common.HeaderMutation.SetHeaders, setHeader("x-request-id", p.flightID))
	}
	if op.streamUsage() && cr.Stream && !cr.IncludeUsage && model.StreamUsage {
		// Without usage a stream's cost is a guess; ask for it, and hide
		// the extra event from this client (see responseBody).
		if body, err := openai.RequestUsage(body, cr); err == nil {
			p.stripUsage = true
			common.BodyMutation = &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: body}}
			common.HeaderMutation.SetHeaders = append(common.HeaderMutation.SetHeaders, setHeader("content-length", strconv.Itoa(len(body))))
		}
	}
	return resp
}

// pinnedBackend finds the backend a request must go to because it names a
// stored response (previous_response_id, or /responses/{id}): only the
// backend that stored it has it. An unknown id is the client's error here,
// never a 404 from a backend that never had the response.
func (p *routerPhase) pinnedBackend(ctx context.Context, cr openai.Request, model string) (*Backend, *azure.Error) {
	id, param := p.target.op.affinity(p.target, cr)
	if id == "" {
		return nil, nil
	}
	name, found, err := p.s.responses.Get(ctx, id)
	if err != nil {
		p.s.log.Error("response affinity lookup failed", slog.String("request_id", p.req.ID), slog.String("error", err.Error()))
		return nil, azure.ServerError(503)
	}
	if !found {
		return nil, azure.ResponseNotFound(id, param)
	}
	b := p.t.backends[name]
	if b == nil || p.t.models[b.Model] == nil {
		return nil, azure.ResponseBackendGone(id, name, param)
	}
	if model != "" && b.Model != model {
		return nil, azure.BadRequest(fmt.Sprintf("Response '%s' was created with model '%s', not '%s'.", id, b.Model, model), param)
	}
	return b, nil
}

// pinnedTo is m with one backend: a request continuing a stored response
// is planned (counted, queued, reserved) on the backend that stored it.
func (m *Model) pinnedTo(b *Backend) *Model {
	c := *m
	c.Order, c.names, c.MaxAttempts = []*Backend{b}, []string{b.Name}, 1
	return &c
}

// route hands the decision to Envoy: the model header selects the model's
// route and cluster (the route cache must be cleared for Envoy to look
// again, which it honours only alongside a header mutation); the ordered
// backend list goes to the cluster's override_host policy as dynamic
// metadata; x-envoy-max-retries stops Envoy at the end of the list.
func (p *routerPhase) route(req *extprocsvc.ProcessingRequest, model *Model, order []*Backend, m *mutation) *extprocsvc.ProcessingResponse {
	m.set(xds.ModelHeader, model.Name)
	m.set("x-envoy-max-retries", strconv.Itoa(len(order)-1))
	resp := continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get(), ClearRouteCache: true})
	resp.DynamicMetadata = hostsMetadata(order)
	return resp
}

func hostsMetadata(order []*Backend) *structpb.Struct {
	var b strings.Builder
	for i, be := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(xds.InternalAddress(be.Name))
	}
	return spillwayMetadata(map[string]*structpb.Value{xds.HostsKey: structpb.NewStringValue(b.String())})
}

// spillwayMetadata is dynamic metadata in spillway's namespace: the
// override_host policy reads the hosts list from it, the access log the rest.
func spillwayMetadata(fields map[string]*structpb.Value) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		xds.MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: fields}),
	}}
}

func (p *routerPhase) responseHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	h := headerMap(req)
	p.req.Status, _ = strconv.Atoi(h.get(":status"))
	p.req.Backend = h.get(HeaderBackend)
	p.req.Tier = h.get(HeaderTier)
	p.req.Attempts, _ = strconv.Atoi(h.get(HeaderAttempts))

	var m mutation
	if p.charge != nil {
		for _, kv := range p.limitHeaders(p.charge.Remaining()) {
			m.set(kv[0], kv[1])
		}
		if p.req.Status/100 != 2 || strings.HasPrefix(h.get("content-type"), "text/event-stream") {
			// A JSON response's usage is read from its body first.
			m.set(p.t.limitHeaders.ConsumedTokens, p.consumedTokens(p.req.Status))
		}
	}
	if p.req.Status == 429 {
		p.setRetryAfter(h, &m)
	}
	resp := continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
	if p.req.Backend != "" {
		resp.DynamicMetadata = spillwayMetadata(map[string]*structpb.Value{
			"backend": structpb.NewStringValue(p.req.Backend),
			"tier":    structpb.NewStringValue(p.req.Tier),
		})
	}
	if p.req.Status >= 200 && p.req.Status < 300 {
		// Read usage from the body: SSE chunk by chunk as it streams, JSON
		// whole (it is small and usage is at its end).
		p.isSSE = strings.HasPrefix(h.get("content-type"), "text/event-stream")
		mode := extprocv3.ProcessingMode_BUFFERED
		if p.isSSE {
			mode = extprocv3.ProcessingMode_STREAMED
			p.sse = &openai.SSEUsage{Strip: p.stripUsage, Format: p.target.op.streamFormat()}
		}
		resp.ModeOverride = &extprocv3.ProcessingMode{ResponseBodyMode: mode}
	}
	return resp
}

// retryAfterFrom derives whole seconds from retry-after-ms when present.
// setRetryAfter gives a final 429 (every backend tried throttled it) the
// time to come back. The last backend's own time says when it dips below
// its limit, which the requests already held take first: a retry then
// mostly fails again. With capacity routing the model knows better — when
// a backend has room for this request after those held before it — and
// the later of the two is sent. Clients and SDKs back off on retry-after;
// one is always given, even when the last backend sent none.
func (p *routerPhase) setRetryAfter(h headers, m *mutation) {
	if p.ask != nil && p.s.capacity != nil {
		said := retryAfterMillis(h)
		if at := p.s.capacity.RetryAt(*p.ask); !at.IsZero() {
			if ms := time.Until(at).Milliseconds(); ms > said {
				m.set("retry-after", azure.RetryAfterSeconds(ms))
				m.set("retry-after-ms", strconv.FormatInt(ms, 10))
				return
			}
		}
	}
	if h.get("retry-after") == "" {
		m.set("retry-after", retryAfterFrom(h))
	}
}

// retryAfterMillis is the retry time a response said, in milliseconds
// (-1: none).
func retryAfterMillis(h headers) int64 {
	for _, k := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := h.get(k); v != "" { // (a failed parse allocates its error)
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
				return ms
			}
		}
	}
	if v := h.get("retry-after"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return s * 1000
		}
	}
	return -1
}

func retryAfterFrom(h headers) string {
	if ms := retryAfterMillis(h); ms >= 0 {
		return azure.RetryAfterSeconds(ms)
	}
	return "1"
}

func (p *routerPhase) responseBody(ctx context.Context, req *extprocsvc.ProcessingRequest, b *extprocsvc.HttpBody) *extprocsvc.ProcessingResponse {
	if p.firstByte.IsZero() {
		p.firstByte = time.Now()
	}
	if p.isSSE {
		out := p.sse.Write(b.Body)
		p.req.Usage, p.req.UsageKnown = p.sse.Usage()
		p.record(ctx, p.sse.ResponseID)
		if p.stripUsage {
			if b.EndOfStream {
				out = append(out, p.sse.Flush()...)
			}
			if bytes.Equal(out, b.Body) {
				// Nothing removed or held back (most chunks): no need to
				// send the chunk back.
				return continueResponse(req, nil)
			}
			return continueResponse(req, &extprocsvc.CommonResponse{
				BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: out}},
			})
		}
	} else if b.EndOfStream {
		var id string
		p.req.Usage, p.req.UsageKnown, id = p.target.op.usage(b.Body)
		p.record(ctx, id)
		if p.charge != nil {
			// The body was buffered: its headers have not left yet.
			var m mutation
			m.set(p.t.limitHeaders.ConsumedTokens, p.consumedTokens(p.req.Status))
			return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
		}
	}
	return continueResponse(req, nil)
}

// record remembers which backend stored the response id (once, for a
// successful response to a request that asked for it to be stored).
func (p *routerPhase) record(ctx context.Context, id string) {
	if !p.recordID || p.recorded || id == "" || p.req.Backend == "" || p.req.Status/100 != 2 {
		return
	}
	p.recorded = true
	if err := p.s.responses.Put(ctx, id, p.req.Backend, responseTTL); err != nil {
		p.s.log.Error("response affinity not recorded", slog.String("request_id", p.req.ID), slog.String("response_id", id), slog.String("error", err.Error()))
	}
}

func (p *routerPhase) done() {
	if p.start.IsZero() {
		return
	}
	p.req.Duration = time.Since(p.start)
	if !p.req.UsageKnown && p.sse != nil && p.req.Status/100 == 2 && p.model != nil {
		// The stream ended without usage (backend reset, client gone):
		// count what was streamed, and say it is an estimate.
		p.req.Usage = openai.Usage{PromptTokens: p.req.PromptTokens, CompletionTokens: p.model.Tokens.Encoding.Count(p.sse.Content)}
		p.req.Usage.TotalTokens = p.req.Usage.PromptTokens + p.req.Usage.CompletionTokens
		p.req.UsageKnown, p.req.UsageEstimated = true, true
	}
	if p.res != nil {
		if p.req.UsageKnown && p.req.Status/100 == 2 {
			u := p.req.Usage
			p.res.SettleUsage(capacity.Usage{Prompt: u.PromptTokens, Cached: u.CachedTokens(), Output: u.CompletionTokens})
		} else {
			// Throttled, failed or abandoned: Azure charges nothing.
			p.res.Release()
		}
	}
	p.settleLimits()
	if p.req.UsageKnown && p.req.Status/100 == 2 && p.req.Backend != "" {
		u := p.req.Usage
		p.s.ledger.Record(chargeback.Key{Consumer: p.req.Consumer, Model: p.req.Model, Tier: p.req.Tier, Backend: p.req.Backend},
			chargeback.Tokens{Input: int64(u.PromptTokens), Output: int64(u.CompletionTokens), Requests: 1})
	}
	if p.flight != nil {
		p.req.Cancelled = p.req.Status == 0 && !p.req.Local
		p.s.flights.remove(p.flightID)
		p.flight.end(p.req.Cancelled)
	}
	p.endSpan()
	p.s.observer.ObserveRequest(p.req)
	// LogAttrs: the attributes are not boxed one by one, as Info would.
	p.s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", p.req.ID),
		slog.String("consumer", p.req.Consumer),
		slog.String("model", p.req.Model),
		slog.Int("status", p.req.Status),
		slog.String("backend", p.req.Backend),
		slog.String("tier", p.req.Tier),
		slog.Int("attempts", p.req.Attempts),
		slog.Bool("stream", p.req.Stream),
		slog.Bool("local", p.req.Local),
		slog.Bool("cancelled", p.req.Cancelled),
		slog.Int("prompt_tokens", p.req.Usage.PromptTokens),
		slog.Int("completion_tokens", p.req.Usage.CompletionTokens),
		slog.Int("cached_prompt_tokens", p.req.Usage.CachedTokens()),
		slog.Bool("usage_known", p.req.UsageKnown),
		slog.Bool("usage_estimated", p.req.UsageEstimated),
		slog.Int("counted_prompt_tokens", p.req.PromptTokens),
		slog.Int("cost", p.req.Cost),
		slog.Duration("queue_wait", p.req.QueueWait),
		slog.String("spill_reason", p.req.SpillReason),
		slog.Duration("duration", p.req.Duration),
	)
}
