package extproc

import (
	"context"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/telemetry"
)

// startSpan starts the request's span. Its parent is Envoy's ext_proc span
// when Envoy traces (Envoy puts that span's traceparent in the gRPC
// stream's metadata), else the client's own traceparent, so Envoy's spans,
// spillway's and the client's join one trace.
func (p *routerPhase) startSpan(ctx context.Context, h headers) {
	tel := p.s.tel
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("traceparent")) > 0 {
		ctx = tel.ExtractGRPC(ctx, md)
	} else if tp := h.get("traceparent"); tp != "" {
		ctx = tel.ExtractHeaders(ctx, map[string]string{"traceparent": tp, "tracestate": h.get("tracestate")})
	}
	op := ""
	if tgt, ok := parsePath(h.get(":path")); ok {
		op = tgt.op.name()
	}
	// The span lives as long as this stream, not the gRPC call's context.
	_, p.span = tel.StartRequest(context.WithoutCancel(ctx), op, "")
}

func (p *routerPhase) endSpan() {
	r := telemetry.RequestInfo{
		Operation: p.req.Operation,
		Model:     p.req.Model,
		Consumer:  p.req.Consumer,
		Backend:   p.req.Backend,
		Tier:      p.req.Tier,
		Status:    p.req.Status,
		Attempts:  p.req.Attempts,
		Local:     p.req.Local,
		Duration:  p.req.Duration,
		QueueWait: p.req.QueueWait,
	}
	if p.req.UsageKnown {
		r.UsageKnown, r.InputTokens, r.OutputTokens = true, p.req.Usage.PromptTokens, p.req.Usage.CompletionTokens
	}
	if p.isSSE && !p.firstByte.IsZero() {
		r.TimeToFirstToken = p.firstByte.Sub(p.start)
	}
	p.req.TimeToFirstToken = r.TimeToFirstToken
	r.SpillReason = p.spillReason()
	p.req.SpillReason = r.SpillReason
	telemetry.EndRequest(p.span, r)
}

// spillReason says why a request served by pay-as-you-go did not stay on
// the PTU: a failed attempt before (throttled, server_error, reset), or the
// capacity model sending it elsewhere first.
func (p *routerPhase) spillReason() string {
	if p.req.Tier != string(config.TPM) || p.model == nil || !p.model.hasPTU() {
		return ""
	}
	if p.flight != nil {
		if r := p.flight.reason(); r != "" {
			return r
		}
	}
	return telemetry.SpillCapacity
}

// spanName is the request span's name: the operation and the model.
func spanName(op operation, model string) string {
	if n := op.name(); n != "" {
		return n + " " + model
	}
	return model
}

// retryAfterOf is the wait a throttled attempt's headers ask for, for its span.
func retryAfterOf(h headers) time.Duration {
	if ms := retryAfterMillis(h); ms >= 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return 0
}
