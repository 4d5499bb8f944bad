package otlptest_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/telemetry/otlptest"
)

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	envoySpan    = "00f067aa0ba902b7"
	traceparent  = "00-" + clientTrace + "-" + envoySpan + "-01"
	waitForSpans = 10 * time.Second
)

// export sends one spilled request's spans (a 429 from the PTU, then a TPM
// that served it) through telemetry configured by OTEL_* variables only.
func export(t *testing.T, endpoint, protocol string) {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
	t.Setenv("OTEL_SERVICE_NAME", "spillway-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000") // only Shutdown's final export
	tel, err := telemetry.New(t.Context(), telemetry.Options{ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tel.ExtractGRPC(t.Context(), metadata.Pairs("traceparent", traceparent, "x-spillway-phase", "router"))
	ctx, req := tel.StartRequest(ctx, telemetry.OperationChat, "gpt-4o")
	for _, a := range []telemetry.AttemptInfo{
		{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Number: 1, Status: 429, RetryAfter: 1500 * time.Millisecond},
		{Backend: "tpm-westus", Tier: "tpm", Model: "gpt-4o", Number: 2, Status: 200},
	} {
		_, span := tel.StartAttempt(ctx, a)
		telemetry.EndAttempt(span, a)
		tel.RecordAttempt(ctx, a)
	}
	r := telemetry.RequestInfo{
		Operation: telemetry.OperationChat, Model: "gpt-4o", ResponseModel: "gpt-4o-2024-11-20", Consumer: "team-a",
		Backend: "tpm-westus", Tier: "tpm", Status: 200, Attempts: 2, InputTokens: 12, OutputTokens: 30, UsageKnown: true,
		Duration: time.Second, QueueWait: 40 * time.Millisecond, SpillReason: telemetry.SpillThrottled,
	}
	telemetry.EndRequest(req, r)
	tel.RecordRequest(ctx, r)
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestReceiverGetsOneTraceOfASpilledRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
		endpoint func(*otlptest.Receiver) string
	}{
		{"grpc", "grpc", (*otlptest.Receiver).GRPCEndpoint},
		{"http/protobuf", "http/protobuf", (*otlptest.Receiver).HTTPEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := otlptest.Start(t)
			export(t, tc.endpoint(rcv), tc.protocol)

			spans := rcv.WaitForSpans(t, 3, waitForSpans)
			if len(spans) != 3 {
				t.Fatalf("got %d spans, want 3", len(spans))
			}
			req, ok := rcv.SpanByName("chat gpt-4o")
			if !ok {
				t.Fatalf("no request span among %v", spans)
			}
			if req.TraceID() != clientTrace || req.ParentSpanID() != envoySpan {
				t.Errorf("request span trace %s parent %s, want %s %s (the traceparent's)", req.TraceID(), req.ParentSpanID(), clientTrace, envoySpan)
			}
			if got := req.ResourceAttr("service.name"); got != "spillway-test" {
				t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", got)
			}
			if got := req.ResourceAttr("service.version"); got != "1.2.3" {
				t.Errorf("service.version = %q", got)
			}
			if got := req.ResourceAttr("deployment.environment.name"); got != "ci" {
				t.Errorf("deployment.environment.name = %q, want OTEL_RESOURCE_ATTRIBUTES's", got)
			}
			for key, want := range map[string]string{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai",
				"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-11-20",
				"spillway.backend": "tpm-westus", "spillway.tier": "tpm", "spillway.spill_reason": "throttled",
				"spillway.consumer": "team-a",
			} {
				if got := req.StringAttr(key); got != want {
					t.Errorf("request %s = %q, want %q", key, got, want)
				}
			}
			for key, want := range map[string]int64{
				"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 30, "spillway.attempts": 2,
				"spillway.queue_wait_ms": 40, "http.response.status_code": 200,
			} {
				if got := req.IntAttr(key); got != want {
					t.Errorf("request %s = %d, want %d", key, got, want)
				}
			}

			attempts := otlptest.ChildrenOf(spans, req)
			if len(attempts) != 2 {
				t.Fatalf("request span has %d children, want 2 attempts", len(attempts))
			}
			ptu, ok := otlptest.SpanByName(attempts, "attempt ptu-eastus")
			if !ok {
				t.Fatalf("no PTU attempt among %v", attempts)
			}
			if got := ptu.IntAttr("http.response.status_code"); got != 429 {
				t.Errorf("PTU attempt status %d, want 429", got)
			}
			if got := ptu.StringAttr("spillway.spill_reason"); got != "throttled" {
				t.Errorf("PTU attempt spill reason %q (%s)", got, ptu.Attrs())
			}
			if got := ptu.IntAttr("spillway.retry_after_ms"); got != 1500 {
				t.Errorf("PTU attempt retry_after_ms %d", got)
			}
			tpm, ok := otlptest.SpanByName(attempts, "attempt tpm-westus")
			if !ok {
				t.Fatalf("no TPM attempt among %v", attempts)
			}
			if got := tpm.IntAttr("spillway.attempt"); got != 2 {
				t.Errorf("TPM attempt number %d, want 2", got)
			}
			if _, ok := tpm.Attr("spillway.spill_reason"); ok {
				t.Errorf("served attempt has a spill reason: %s", tpm.Attrs())
			}

			// Shutdown's final collection went out as OTLP metrics too.
			m := rcv.WaitForMetric(t, "spillway.upstream.throttled", waitForSpans)
			if n := len(m.GetSum().GetDataPoints()); n != 1 || m.GetSum().GetDataPoints()[0].GetAsInt() != 1 {
				t.Errorf("spillway.upstream.throttled over OTLP = %v, want one point of 1", m.GetSum().GetDataPoints())
			}
		})
	}
}

func TestReceiverNothingWhenExportDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"traces exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := otlptest.Start(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.GRPCEndpoint())
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			tel, err := telemetry.New(t.Context(), telemetry.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, span := tel.StartRequest(t.Context(), telemetry.OperationChat, "gpt-4o")
			telemetry.EndRequest(span, telemetry.RequestInfo{Status: 200})
			tel.RecordReload(t.Context(), telemetry.ReloadApplied)
			// Shutdown flushes every exporter there is: anything exported
			// has arrived when it returns.
			if err := tel.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n, m := len(rcv.Spans()), len(rcv.Metrics()); n != 0 || m != 0 {
				t.Errorf("received %d spans and %d metric exports, want none", n, m)
			}
		})
	}
}

func TestWaitForSpansTimesOut(t *testing.T) {
	rcv := otlptest.Start(t)
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rcv.WaitForSpans(ft, 1, 10*time.Millisecond)
	}()
	<-done
	if !ft.failed {
		t.Error("WaitForSpans did not fail t after its timeout with no spans")
	}
}

// fatalRecorder records Fatalf instead of failing, ending the goroutine.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}
