package telemetry

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestExportConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		traces  signalExport
		metrics signalExport
		wantErr string
	}{
		{
			name:    "nothing configured: no exporter",
			traces:  signalExport{otlp: true, protocol: protocolHTTP},
			metrics: signalExport{otlp: true, protocol: protocolHTTP},
		},
		{
			name:    "endpoint, default protocol is http/protobuf",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"},
			traces:  signalExport{otlp: true, endpoint: "http://jaeger:4318", protocol: protocolHTTP},
			metrics: signalExport{otlp: true, endpoint: "http://jaeger:4318", protocol: protocolHTTP},
		},
		{
			name:    "grpc",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			traces:  signalExport{otlp: true, endpoint: "http://jaeger:4317", protocol: protocolGRPC},
			metrics: signalExport{otlp: true, endpoint: "http://jaeger:4317", protocol: protocolGRPC},
		},
		{
			name: "signal-specific endpoint and protocol win",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
			},
			traces:  signalExport{otlp: true, endpoint: "http://jaeger:4318/v1/traces", protocol: protocolHTTP},
			metrics: signalExport{otlp: true, endpoint: "http://collector:4317", protocol: protocolGRPC},
		},
		{
			name:    "metrics only by signal endpoint",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4318/v1/metrics"},
			traces:  signalExport{otlp: true, protocol: protocolHTTP},
			metrics: signalExport{otlp: true, endpoint: "http://collector:4318/v1/metrics", protocol: protocolHTTP},
		},
		{
			name:    "exporters none",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
			traces:  signalExport{endpoint: "http://jaeger:4318", protocol: protocolHTTP},
			metrics: signalExport{endpoint: "http://jaeger:4318", protocol: protocolHTTP},
		},
		{
			name:    "metrics exporter prometheus: pull only",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_METRICS_EXPORTER": "prometheus"},
			traces:  signalExport{otlp: true, endpoint: "http://jaeger:4318", protocol: protocolHTTP},
			metrics: signalExport{endpoint: "http://jaeger:4318", protocol: protocolHTTP},
		},
		{
			name:    "metrics exporter otlp,prometheus",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "otlp, prometheus"},
			traces:  signalExport{otlp: true, endpoint: "http://c:4318", protocol: protocolHTTP},
			metrics: signalExport{otlp: true, endpoint: "http://c:4318", protocol: protocolHTTP},
		},
		{
			name: "sdk disabled",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_SDK_DISABLED": "TRUE"},
		},
		{
			name:    "unknown protocol",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json": use grpc or http/protobuf`,
		},
		{
			name:    "unknown traces exporter",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			wantErr: `OTEL_TRACES_EXPORTER="zipkin": spillway exports traces with otlp (or none)`,
		},
		{
			name:    "prometheus is not a traces exporter",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "prometheus"},
			wantErr: `OTEL_TRACES_EXPORTER="prometheus": prometheus is for metrics`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := exportConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.traces != tt.traces || got.metrics != tt.metrics {
				t.Errorf("got traces %+v metrics %+v, want %+v %+v", got.traces, got.metrics, tt.traces, tt.metrics)
			}
		})
	}
}

func TestNewRejectsBadEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")
	if _, err := New(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("New: %v, want an error naming OTEL_EXPORTER_OTLP_PROTOCOL", err)
	}
}

func TestNoEndpointStartsNoExporter(t *testing.T) {
	var logs bytes.Buffer
	tel := newTest(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, span := tel.StartRequest(t.Context(), OperationChat, "gpt-4o")
	EndRequest(span, RequestInfo{Status: 200})
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("logged with no endpoint configured:\n%s", logs.String())
	}
}

func TestExportFailuresLoggedOncePerMinute(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newExportLog(slog.New(slog.NewTextHandler(&logs, nil)), "traces", func() time.Time { return now })
	boom := errors.New("connection refused")
	l.failed(boom)
	for range 5 {
		now = now.Add(10 * time.Second)
		l.failed(boom)
	}
	if n := strings.Count(logs.String(), "telemetry export failed"); n != 1 {
		t.Fatalf("%d lines in the first minute, want 1:\n%s", n, logs.String())
	}
	now = now.Add(10 * time.Second)
	l.failed(boom)
	out := logs.String()
	if n := strings.Count(out, "telemetry export failed"); n != 2 {
		t.Fatalf("%d lines after a minute, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=5") || !strings.Contains(out, "signal=traces") || !strings.Contains(out, "connection refused") {
		t.Errorf("second line does not say what was suppressed:\n%s", out)
	}
}

func TestUnreachableCollectorDoesNotFailShutdownLoudly(t *testing.T) {
	// A collector that is not there: spans are dropped with one warning,
	// never an error from the gateway's calls.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	var logs bytes.Buffer
	tel, err := New(t.Context(), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.StartRequest(t.Context(), OperationChat, "gpt-4o")
	EndRequest(span, RequestInfo{Status: 200})
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := strings.Count(logs.String(), "telemetry export failed"); n != 1 {
		t.Errorf("%d export warnings, want 1:\n%s", n, logs.String())
	}
}
