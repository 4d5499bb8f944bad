package extproc

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"go.opentelemetry.io/otel/trace"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/xds"
)

// Attempt is one upstream attempt as the upstream phase saw it.
type Attempt struct {
	RequestID string
	Backend   *Backend
	// Number is Envoy's attempt count for this request, starting at 1.
	Number int
	// Status is the backend's status; 0 if no response headers arrived
	// (reset, timeout), in which case Envoy retries without telling us.
	Status int
	// RateLimit holds the rate-limit headers the backend sent.
	RateLimit map[string]string
}

// rateLimitHeaders are the headers Azure uses to say how much capacity is
// left or when to come back; every attempt's values are observed.
var rateLimitHeaders = []string{
	"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
	"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
	"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens",
	"retry-after", "retry-after-ms", "x-ms-retry-after-ms",
	"azure-openai-deployment-utilization", "x-ms-region",
}

// upstreamPhase handles the upstream filter's stream for one attempt.
type upstreamPhase struct {
	s *Server
	t *Table

	attempt  Attempt
	reported bool
	// res is the request's reservation (capacity routing), moved to this
	// attempt's backend; nil in reactive mode.
	res *capacity.Reservation
	// header of the response, kept when the body is needed to observe it.
	header headers
	// rewrite is the operation whose attempts carry their own body; nil
	// when the client's body goes as it is.
	rewrite operation
	flight  *flight
	span    trace.Span
}

func (p *upstreamPhase) handle(_ context.Context, req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	switch r := req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return p.requestHeaders(req)
	case *extprocsvc.ProcessingRequest_RequestBody:
		return p.requestBody(req, r.RequestBody)
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return p.responseHeaders(req)
	case *extprocsvc.ProcessingRequest_ResponseBody:
		p.observe(r.ResponseBody.Body)
		return continueResponse(req, nil)
	}
	return continueResponse(req, nil)
}

func (p *upstreamPhase) requestHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	h := headerMap(req)
	p.attempt.RequestID = h.get("x-request-id")
	p.attempt.Number, _ = strconv.Atoi(h.get("x-envoy-attempt-count"))
	name := backendFromAttributes(req.GetAttributes())
	b := p.t.backends[name]
	var m mutation
	// The client's credentials are for spillway, never for a backend.
	m.remove("api-key", "authorization")
	m.remove(h.spillwayKeys()...)
	if b == nil {
		// Cannot happen with a consistent snapshot: the endpoint carries a
		// backend name the table knows. Let the attempt fail visibly.
		p.s.log.Error("attempt to an endpoint with no known backend", slog.String("request_id", p.attempt.RequestID), slog.String("backend", name))
		return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
	}
	p.attempt.Backend = b
	if p.flight = p.s.flights.get(p.attempt.RequestID); p.flight != nil {
		if p.res = p.flight.reservation(); p.res != nil {
			// Envoy moved on to this backend: so does the request's charge.
			p.res.Move(b.Name)
		}
	} else if p.s.capacity != nil {
		// The router phase ran on another replica: its reservation and
		// trace context are in the shared store, if there is one.
		if res, meta, ok := p.s.capacity.Attach(p.attempt.RequestID, b.Name); ok {
			p.res = res
			p.flight = &flight{span: parseTraceparent(meta), res: res}
			p.s.log.Debug("attempt attached to another replica's reservation",
				slog.String("request_id", p.attempt.RequestID), slog.Int("attempt", p.attempt.Number), slog.String("backend", b.Name))
		}
	}
	if p.flight != nil {
		parent := trace.ContextWithRemoteSpanContext(context.Background(), p.flight.span)
		_, p.span = p.s.tel.StartAttempt(parent, p.attemptInfo())
	}
	tgt, ok := parsePath(h.get(":path"))
	if ok {
		m.set(":path", tgt.op.upstreamPath(b, tgt))
	}
	p.setCredential(&m, b)
	resp := continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
	if ok && tgt.op.perAttemptBody() && !req.GetRequestHeaders().GetEndOfStream() {
		// This attempt's body differs from the client's (the Responses API
		// names the deployment in it): have Envoy send it. The router
		// hands each attempt a fresh copy of the client's body, so the
		// rewrite for one backend never reaches the next.
		p.rewrite = tgt.op
		resp.ModeOverride = &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		}
	}
	return resp
}

// requestBody rewrites the attempt's body for its backend.
func (p *upstreamPhase) requestBody(req *extprocsvc.ProcessingRequest, b *extprocsvc.HttpBody) *extprocsvc.ProcessingResponse {
	if p.rewrite == nil || p.attempt.Backend == nil {
		return continueResponse(req, nil)
	}
	body, err := p.rewrite.attemptBody(p.attempt.Backend, b.Body)
	if err != nil || body == nil {
		// The router phase validated the body: this does not happen. The
		// attempt goes as the client sent it, and the backend answers.
		p.s.log.Error("attempt body not rewritten", slog.String("request_id", p.attempt.RequestID), slog.String("backend", p.attempt.Backend.Name), slog.Any("error", err))
		return continueResponse(req, nil)
	}
	var m mutation
	m.set("content-length", strconv.Itoa(len(body)))
	return continueResponse(req, &extprocsvc.CommonResponse{
		HeaderMutation: m.get(),
		BodyMutation:   &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: body}},
	})
}

func (p *upstreamPhase) responseHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	h := headerMap(req)
	p.attempt.Status, _ = strconv.Atoi(h.get(":status"))
	for _, k := range rateLimitHeaders {
		if v := h.get(k); v != "" {
			if p.attempt.RateLimit == nil {
				p.attempt.RateLimit = map[string]string{}
			}
			p.attempt.RateLimit[k] = v
		}
	}
	var m mutation
	if b := p.attempt.Backend; b != nil {
		m.set(HeaderBackend, b.Name)
		m.set(HeaderTier, string(b.Tier))
		m.set(HeaderAttempts, strconv.Itoa(max(p.attempt.Number, 1)))
	}
	resp := continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
	p.header = h
	if throttled(p.attempt.Status) && !hasRetryHeader(h) {
		// Some 429s say when to come back only in the message text: read
		// the (small) body before observing. Every other response is
		// observed from its headers at once.
		resp.ModeOverride = &extprocv3.ProcessingMode{ResponseBodyMode: extprocv3.ProcessingMode_BUFFERED}
		return resp
	}
	p.observe(nil)
	return resp
}

func throttled(status int) bool { return status == 429 || status == 424 }

func hasRetryHeader(h headers) bool {
	for _, k := range []string{"retry-after-ms", "x-ms-retry-after-ms", "retry-after", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens"} {
		if h.get(k) != "" {
			return true
		}
	}
	return false
}

// observe feeds the attempt's response to the capacity model: through the
// reservation when the request is charged to this backend (it corrects the
// model both ways), directly otherwise.
func (p *upstreamPhase) observe(body []byte) {
	if p.reported || p.attempt.Backend == nil {
		return
	}
	if c := p.s.capacity; c != nil {
		get := p.header.get
		if p.res != nil && p.res.Backend() == p.attempt.Backend.Name {
			p.res.Observe(p.attempt.Status, get, body)
		} else {
			c.Observe(p.attempt.Backend.Name, p.attempt.Status, get, body)
		}
	}
	p.report()
}

func (p *upstreamPhase) attemptInfo() telemetry.AttemptInfo {
	return telemetry.AttemptInfo{
		Backend: p.attempt.Backend.Name,
		Tier:    string(p.attempt.Backend.Tier),
		Model:   p.attempt.Backend.Model,
		Number:  p.attempt.Number,
		Status:  p.attempt.Status,
	}
}

func (p *upstreamPhase) report() {
	if p.reported || p.attempt.Backend == nil {
		return
	}
	p.reported = true
	if p.flight != nil {
		if r := telemetry.SpillReason(p.attempt.Status); r != "" {
			p.flight.setSpillReason(r)
		}
		a := p.attemptInfo()
		a.RetryAfter = retryAfterOf(p.header)
		telemetry.EndAttempt(p.span, a)
	}
	p.s.observer.ObserveAttempt(p.attempt)
	p.s.log.Debug("attempt",
		slog.String("request_id", p.attempt.RequestID),
		slog.String("backend", p.attempt.Backend.Name),
		slog.Int("attempt", p.attempt.Number),
		slog.Int("status", p.attempt.Status),
	)
}

// done reports attempts that ended without response headers (reset,
// connect failure, per-try timeout) with status 0.
func (p *upstreamPhase) done() {
	if p.reported || p.attempt.Backend == nil {
		return
	}
	if p.attempt.Status == 0 && p.s.capacity != nil {
		p.failedWithoutStatus()
	} else if p.attempt.Status != 0 {
		p.observe(nil) // a 429 whose body never came
		return
	}
	p.report()
}

// cancelGrace is how long an attempt that ended without a response waits
// for its request's end before it counts as the backend's failure. A
// client's cancel ends every stream of the request at once; a backend's
// failure leaves the request going (Envoy retries) or ends it with a
// response (Envoy's 503).
const cancelGrace = 50 * time.Millisecond

// failedWithoutStatus reports an attempt that ended with no response:
// the backend's failure (reset, refused, timeout) puts it in a health
// cooldown; the client's cancel is not the backend's fault and changes
// nothing.
func (p *upstreamPhase) failedWithoutStatus() {
	c, backend, f := p.s.capacity, p.attempt.Backend.Name, p.flight
	if f == nil || f.ended == nil {
		c.ObserveFailure(backend)
		return
	}
	go func() {
		t := time.NewTimer(cancelGrace)
		defer t.Stop()
		select {
		case <-f.ended:
			if f.wasCancelled() {
				return
			}
		case <-t.C:
		}
		c.ObserveFailure(backend)
	}()
}

// backendFromAttributes finds the backend Envoy picked from the upstream
// host's address, an internal address of the backend's own listener.
func backendFromAttributes(attrs map[string]*structpb.Struct) string {
	for _, s := range attrs {
		if v, ok := s.GetFields()[xds.UpstreamAddressAttribute]; ok {
			name, _ := xds.BackendFromAddress(v.GetStringValue())
			return name
		}
	}
	return ""
}
