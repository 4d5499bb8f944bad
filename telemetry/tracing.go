package telemetry

import (
	"context"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/metadata"
)

// Attribute keys on spillway's spans and metrics. The gen_ai.* keys are the
// OpenTelemetry GenAI semantic conventions'; http.* and error.type are the
// general conventions'; spillway.* are spillway's own.
const (
	AttrOperationName  = attribute.Key("gen_ai.operation.name")
	AttrProviderName   = attribute.Key("gen_ai.provider.name")
	AttrRequestModel   = attribute.Key("gen_ai.request.model")
	AttrResponseModel  = attribute.Key("gen_ai.response.model")
	AttrInputTokens    = attribute.Key("gen_ai.usage.input_tokens")
	AttrOutputTokens   = attribute.Key("gen_ai.usage.output_tokens")
	AttrTokenType      = attribute.Key("gen_ai.token.type")
	AttrInputMessages  = attribute.Key("gen_ai.input.messages")
	AttrOutputMessages = attribute.Key("gen_ai.output.messages")

	AttrStatusCode = attribute.Key("http.response.status_code")
	AttrErrorType  = attribute.Key("error.type")

	AttrBackend     = attribute.Key("spillway.backend")
	AttrTier        = attribute.Key("spillway.tier")
	AttrSpillReason = attribute.Key("spillway.spill_reason")
	AttrAttempts    = attribute.Key("spillway.attempts")
	// AttrAttempt is an attempt span's number among its request's attempts.
	AttrAttempt     = attribute.Key("spillway.attempt")
	AttrQueueWaitMS = attribute.Key("spillway.queue_wait_ms")
	AttrConsumer    = attribute.Key("spillway.consumer")
	// AttrRetryAfterMS is the wait a throttled backend asked for.
	AttrRetryAfterMS = attribute.Key("spillway.retry_after_ms")
	// AttrLocal marks a request spillway answered itself.
	AttrLocal = attribute.Key("spillway.local")
	// AttrOutcome is the outcome of a config reload or a queue wait.
	AttrOutcome = attribute.Key("spillway.outcome")
)

// ProviderAzureOpenAI is gen_ai.provider.name for every backend spillway
// routes to.
const ProviderAzureOpenAI = "azure.ai.openai"

// Operation names (gen_ai.operation.name).
const (
	OperationChat           = "chat"
	OperationTextCompletion = "text_completion"
	OperationEmbeddings     = "embeddings"
)

// Tracer returns spillway's tracer. A nil *Telemetry gives a tracer that
// records nothing.
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(ScopeName)
	}
	return t.tracer
}

// ExtractGRPC returns ctx carrying the remote span context found in a gRPC
// stream's metadata: Envoy's ext_proc filter sends its own span's context
// there as traceparent (and tracestate). ctx is returned unchanged when
// there is none or it is malformed.
func (t *Telemetry) ExtractGRPC(ctx context.Context, md metadata.MD) context.Context {
	if t == nil || md == nil {
		return ctx
	}
	return t.propagator.Extract(ctx, grpcCarrier(md))
}

// ExtractHeaders is ExtractGRPC for HTTP request headers given as a map, as
// the ext_proc filter delivers them; names match in any case.
func (t *Telemetry) ExtractHeaders(ctx context.Context, headers map[string]string) context.Context {
	if t == nil || headers == nil {
		return ctx
	}
	return t.propagator.Extract(ctx, headerCarrier(headers))
}

// InjectHeaders writes ctx's span context into headers (traceparent, and
// tracestate when there is one).
func (t *Telemetry) InjectHeaders(ctx context.Context, headers map[string]string) {
	if t == nil {
		return
	}
	t.propagator.Inject(ctx, headerCarrier(headers))
}

// StartRequest starts the span of one client request, named as the GenAI
// conventions name inference spans ("chat gpt-4o"). End it with EndRequest.
func (t *Telemetry) StartRequest(ctx context.Context, operation, model string) (context.Context, trace.Span) {
	name := strings.TrimSpace(operation + " " + model)
	if name == "" {
		name = "request"
	}
	attrs := []attribute.KeyValue{AttrProviderName.String(ProviderAzureOpenAI)}
	if operation != "" {
		attrs = append(attrs, AttrOperationName.String(operation))
	}
	if model != "" {
		attrs = append(attrs, AttrRequestModel.String(model))
	}
	return t.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// EndRequest puts what was learnt of the request on its span and ends it.
// A 5xx (or no response) marks the span as an error; so does a 429 sent to
// the client, which means every backend was throttled.
func EndRequest(span trace.Span, r RequestInfo) {
	if r.Operation != "" {
		span.SetAttributes(AttrOperationName.String(r.Operation))
	}
	if r.Model != "" {
		span.SetAttributes(AttrRequestModel.String(r.Model))
	}
	span.SetAttributes(
		AttrConsumer.String(r.Consumer),
		AttrStatusCode.Int(r.Status),
		AttrAttempts.Int(r.Attempts),
	)
	if r.Local {
		span.SetAttributes(AttrLocal.Bool(true))
	}
	if r.Backend != "" {
		span.SetAttributes(AttrBackend.String(r.Backend), AttrTier.String(r.Tier))
	}
	if r.ResponseModel != "" {
		span.SetAttributes(AttrResponseModel.String(r.ResponseModel))
	}
	if r.UsageKnown {
		span.SetAttributes(AttrInputTokens.Int(r.InputTokens), AttrOutputTokens.Int(r.OutputTokens))
	}
	if r.SpillReason != "" {
		span.SetAttributes(AttrSpillReason.String(r.SpillReason))
	}
	if r.QueueWait > 0 {
		span.SetAttributes(AttrQueueWaitMS.Int64(r.QueueWait.Milliseconds()))
	}
	if r.Status == 0 || r.Status >= 400 {
		span.SetAttributes(AttrErrorType.String(strconv.Itoa(r.Status)))
	}
	if r.Status == 0 || r.Status >= 500 || r.Status == 429 {
		span.SetStatus(codes.Error, "status "+strconv.Itoa(r.Status))
	}
	span.End()
}

// StartAttempt starts the span of one upstream attempt ("attempt
// ptu-eastus"). End it with EndAttempt.
func (t *Telemetry) StartAttempt(ctx context.Context, a AttemptInfo) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		AttrProviderName.String(ProviderAzureOpenAI),
		AttrBackend.String(a.Backend),
		AttrTier.String(a.Tier),
		AttrAttempt.Int(a.Number),
	}
	if a.Model != "" {
		attrs = append(attrs, AttrRequestModel.String(a.Model))
	}
	return t.Tracer().Start(ctx, "attempt "+a.Backend, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// EndAttempt puts the attempt's outcome on its span and ends it: the
// backend's status, the spill reason when Envoy will move on, and the
// retry-after the backend asked for.
func EndAttempt(span trace.Span, a AttemptInfo) {
	span.SetAttributes(AttrStatusCode.Int(a.Status))
	if reason := SpillReason(a.Status); reason != "" {
		span.SetAttributes(AttrSpillReason.String(reason), AttrErrorType.String(strconv.Itoa(a.Status)))
		span.SetStatus(codes.Error, reason)
	}
	if a.RetryAfter > 0 {
		span.SetAttributes(AttrRetryAfterMS.Int64(a.RetryAfter.Milliseconds()))
	}
	span.End()
}

// RecordMessages puts prompt and completion text (the GenAI conventions'
// JSON message arrays) on a span, only if Options.RecordContent was set.
// Otherwise it does nothing: text never reaches a span by default.
func (t *Telemetry) RecordMessages(span trace.Span, inputJSON, outputJSON string) {
	if !t.RecordsContent() {
		return
	}
	if inputJSON != "" {
		span.SetAttributes(AttrInputMessages.String(inputJSON))
	}
	if outputJSON != "" {
		span.SetAttributes(AttrOutputMessages.String(outputJSON))
	}
}

// grpcCarrier reads and writes gRPC metadata, whose keys are lower case.
type grpcCarrier metadata.MD

var _ propagation.TextMapCarrier = grpcCarrier(nil)

func (c grpcCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c grpcCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c grpcCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// headerCarrier reads HTTP headers held in a map, whatever the case of the
// names; it writes lower-case names, as HTTP/2 and Envoy use.
type headerCarrier map[string]string

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (c headerCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[strings.ToLower(key)] = value }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
