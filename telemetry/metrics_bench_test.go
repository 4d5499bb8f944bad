package telemetry

import (
	"testing"
	"time"
)

// The Record methods run once per request and once per attempt on the
// ext_proc path.

func BenchmarkRecordRequest(b *testing.B) {
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := New(b.Context(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(b.Context())
	r := RequestInfo{Operation: OperationChat, Model: "gpt-4o", Consumer: "team-a", Backend: "ptu-eastus", Tier: "ptu",
		Status: 200, Attempts: 1, InputTokens: 100, OutputTokens: 300, UsageKnown: true, Duration: time.Second}
	b.ReportAllocs()
	for b.Loop() {
		tel.RecordRequest(b.Context(), r)
	}
}

func BenchmarkRecordAttempt(b *testing.B) {
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := New(b.Context(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(b.Context())
	a := AttemptInfo{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Number: 2, Status: 429}
	b.ReportAllocs()
	for b.Loop() {
		tel.RecordAttempt(b.Context(), a)
	}
}

func BenchmarkRequestSpans(b *testing.B) {
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := New(b.Context(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(b.Context())
	r := RequestInfo{Operation: OperationChat, Model: "gpt-4o", Consumer: "team-a", Backend: "tpm-westus", Tier: "tpm",
		Status: 200, Attempts: 2, InputTokens: 100, OutputTokens: 300, UsageKnown: true, SpillReason: SpillThrottled}
	a := AttemptInfo{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Number: 1, Status: 429}
	b.ReportAllocs()
	for b.Loop() {
		ctx, span := tel.StartRequest(b.Context(), OperationChat, "gpt-4o")
		_, as := tel.StartAttempt(ctx, a)
		EndAttempt(as, a)
		EndRequest(span, r)
	}
}
