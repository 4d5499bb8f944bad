package telemetry

import (
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
)

const (
	testTrace       = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParent      = "00f067aa0ba902b7"
	testTraceparent = "00-" + testTrace + "-" + testParent + "-01"
)

func newTraced(t *testing.T, o Options) (*Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	o.SpanExporter = exp
	return newTest(t, o), exp
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestExtract(t *testing.T) {
	tel := newTest(t, Options{})
	tests := []struct {
		name      string
		extract   func() trace.SpanContext
		wantValid bool
	}{
		{"grpc metadata", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractGRPC(t.Context(), metadata.Pairs("traceparent", testTraceparent)))
		}, true},
		{"grpc metadata, upper-case key as written by hand", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractGRPC(t.Context(), metadata.Pairs("Traceparent", testTraceparent)))
		}, true},
		{"grpc metadata without traceparent", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractGRPC(t.Context(), metadata.Pairs("x-spillway-phase", "router")))
		}, false},
		{"nil metadata", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractGRPC(t.Context(), nil))
		}, false},
		{"malformed traceparent", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractGRPC(t.Context(), metadata.Pairs("traceparent", "00-zz-00f067aa0ba902b7-01")))
		}, false},
		{"http headers, lower case", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractHeaders(t.Context(), map[string]string{"traceparent": testTraceparent}))
		}, true},
		{"http headers, any case", func() trace.SpanContext {
			return trace.SpanContextFromContext(tel.ExtractHeaders(t.Context(), map[string]string{"TraceParent": testTraceparent}))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.extract()
			if sc.IsValid() != tt.wantValid {
				t.Fatalf("valid = %v, want %v", sc.IsValid(), tt.wantValid)
			}
			if tt.wantValid && (sc.TraceID().String() != testTrace || sc.SpanID().String() != testParent || !sc.IsRemote() || !sc.IsSampled()) {
				t.Errorf("extracted %v", sc)
			}
		})
	}
}

func TestInjectHeadersRoundTrip(t *testing.T) {
	tel := newTest(t, Options{})
	ctx, span := tel.StartRequest(tel.ExtractHeaders(t.Context(), map[string]string{"traceparent": testTraceparent}), OperationChat, "gpt-4o")
	defer span.End()
	h := map[string]string{}
	tel.InjectHeaders(ctx, h)
	want := "00-" + testTrace + "-" + span.SpanContext().SpanID().String() + "-01"
	if h["traceparent"] != want {
		t.Errorf("traceparent %q, want %q", h["traceparent"], want)
	}
}

func TestRequestAndAttemptSpans(t *testing.T) {
	tel, exp := newTraced(t, Options{})
	ctx := tel.ExtractGRPC(t.Context(), metadata.Pairs("traceparent", testTraceparent))
	ctx, req := tel.StartRequest(ctx, OperationChat, "gpt-4o")
	attempts := []AttemptInfo{
		{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Number: 1, Status: 429, RetryAfter: 2 * time.Second},
		{Backend: "tpm-westus", Tier: "tpm", Model: "gpt-4o", Number: 2, Status: 200},
	}
	for _, a := range attempts {
		_, span := tel.StartAttempt(ctx, a)
		EndAttempt(span, a)
	}
	EndRequest(req, RequestInfo{Operation: OperationChat, Model: "gpt-4o", Consumer: "team-a", Backend: "tpm-westus", Tier: "tpm",
		Status: 200, Attempts: 2, InputTokens: 5, OutputTokens: 7, UsageKnown: true, SpillReason: SpillThrottled, QueueWait: 1500 * time.Microsecond})

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	r := spans[2]
	if r.Name != "chat gpt-4o" || r.SpanKind != trace.SpanKindServer {
		t.Errorf("request span %q kind %v", r.Name, r.SpanKind)
	}
	if r.Parent.SpanID().String() != testParent || r.SpanContext.TraceID().String() != testTrace {
		t.Errorf("request span parent %v, want the traceparent's span", r.Parent)
	}
	ra := attrs(r)
	for k, want := range map[attribute.Key]attribute.Value{
		AttrOperationName: attribute.StringValue("chat"), AttrProviderName: attribute.StringValue("azure.ai.openai"),
		AttrRequestModel: attribute.StringValue("gpt-4o"), AttrConsumer: attribute.StringValue("team-a"),
		AttrBackend: attribute.StringValue("tpm-westus"), AttrTier: attribute.StringValue("tpm"),
		AttrStatusCode: attribute.IntValue(200), AttrAttempts: attribute.IntValue(2),
		AttrInputTokens: attribute.IntValue(5), AttrOutputTokens: attribute.IntValue(7),
		AttrSpillReason: attribute.StringValue("throttled"), AttrQueueWaitMS: attribute.Int64Value(1),
	} {
		if got := ra[k]; got != want {
			t.Errorf("request %s = %v, want %v", k, got.Emit(), want.Emit())
		}
	}
	if _, ok := ra[AttrErrorType]; ok || r.Status.Code == codes.Error {
		t.Errorf("served request marked as an error: %v %v", ra[AttrErrorType].Emit(), r.Status)
	}
	if _, ok := ra[AttrResponseModel]; ok {
		t.Error("gen_ai.response.model set though unknown")
	}

	ptu, tpm := spans[0], spans[1]
	for _, s := range []tracetest.SpanStub{ptu, tpm} {
		if s.Parent.SpanID() != r.SpanContext.SpanID() || s.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt %q: parent %v kind %v, want the request span, client", s.Name, s.Parent.SpanID(), s.SpanKind)
		}
	}
	pa := attrs(ptu)
	if ptu.Name != "attempt ptu-eastus" || pa[AttrStatusCode].AsInt64() != 429 || pa[AttrSpillReason].AsString() != "throttled" ||
		pa[AttrRetryAfterMS].AsInt64() != 2000 || pa[AttrAttempt].AsInt64() != 1 || pa[AttrErrorType].AsString() != "429" || ptu.Status.Code != codes.Error {
		t.Errorf("PTU attempt %q %v %v", ptu.Name, ptu.Attributes, ptu.Status)
	}
	ta := attrs(tpm)
	if _, ok := ta[AttrSpillReason]; ok || tpm.Status.Code == codes.Error || ta[AttrTier].AsString() != "tpm" {
		t.Errorf("TPM attempt %v %v", tpm.Attributes, tpm.Status)
	}
}

func TestRequestSpanStatus(t *testing.T) {
	for _, tc := range []struct {
		status    int
		local     bool
		wantError bool
		errorType string
	}{
		{200, false, false, ""},
		{400, true, false, "400"},
		{401, true, false, "401"},
		{429, false, true, "429"},
		{503, false, true, "503"},
		{0, false, true, "0"},
	} {
		t.Run("status "+strconv.Itoa(tc.status), func(t *testing.T) {
			tel, exp := newTraced(t, Options{})
			_, span := tel.StartRequest(t.Context(), "", "")
			EndRequest(span, RequestInfo{Status: tc.status, Local: tc.local})
			s := exp.GetSpans()[0]
			if s.Name != "request" {
				t.Errorf("name %q for a request refused before parsing, want request", s.Name)
			}
			if (s.Status.Code == codes.Error) != tc.wantError {
				t.Errorf("status %d: span status %v", tc.status, s.Status)
			}
			if got := attrs(s)[AttrErrorType].AsString(); got != tc.errorType {
				t.Errorf("error.type %q, want %q", got, tc.errorType)
			}
			if got := attrs(s)[AttrLocal].AsBool(); got != tc.local {
				t.Errorf("spillway.local %v", got)
			}
		})
	}
}

func TestContentOnlyWhenAllowed(t *testing.T) {
	const in, out = `[{"role":"user","parts":[{"type":"text","content":"secret prompt"}]}]`, `[{"role":"assistant"}]`
	for _, tc := range []struct {
		name   string
		record bool
	}{{"default: never", false}, {"RecordContent: recorded", true}} {
		t.Run(tc.name, func(t *testing.T) {
			tel, exp := newTraced(t, Options{RecordContent: tc.record})
			_, span := tel.StartRequest(t.Context(), OperationChat, "gpt-4o")
			tel.RecordMessages(span, in, out)
			EndRequest(span, RequestInfo{Status: 200})
			a := attrs(exp.GetSpans()[0])
			_, hasIn := a[AttrInputMessages]
			_, hasOut := a[AttrOutputMessages]
			if hasIn != tc.record || hasOut != tc.record || tel.RecordsContent() != tc.record {
				t.Errorf("input recorded %v, output %v, want %v", hasIn, hasOut, tc.record)
			}
			if tc.record && a[AttrInputMessages].AsString() != in {
				t.Errorf("input %q", a[AttrInputMessages].AsString())
			}
		})
	}
}
