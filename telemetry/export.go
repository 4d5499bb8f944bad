package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP protocols spillway exports with (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	protocolGRPC = "grpc"
	protocolHTTP = "http/protobuf"
)

// signalExport is what the environment asks for one signal.
type signalExport struct {
	otlp     bool // OTEL_<SIGNAL>_EXPORTER names otlp (the default)
	endpoint string
	protocol string
}

// enabled reports whether an OTLP exporter is to be started: only when
// asked for and an endpoint is configured, so an unconfigured spillway
// never retries a collector that is not there.
func (s signalExport) enabled() bool { return s.otlp && s.endpoint != "" }

type exportConfig struct {
	traces, metrics signalExport
}

func lookupEnv(k string) string { return strings.TrimSpace(os.Getenv(k)) }

// exportConfigFromEnv reads the OTEL_* variables that decide which OTLP
// exporters run. The exporters themselves read the rest (headers, timeouts,
// TLS, compression) in the standard way.
func exportConfigFromEnv(env func(string) string) (exportConfig, error) {
	var c exportConfig
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return c, nil
	}
	var err error
	if c.traces, err = signalFromEnv(env, "TRACES", "traces"); err != nil {
		return c, err
	}
	if c.metrics, err = signalFromEnv(env, "METRICS", "metrics"); err != nil {
		return c, err
	}
	return c, nil
}

func signalFromEnv(env func(string) string, signal, lower string) (signalExport, error) {
	var s signalExport
	exporterVar := "OTEL_" + signal + "_EXPORTER"
	exporters := env(exporterVar)
	if exporters == "" {
		exporters = "otlp"
	}
	for _, e := range strings.Split(exporters, ",") {
		switch e = strings.TrimSpace(e); e {
		case "otlp":
			s.otlp = true
		case "none", "":
		case "prometheus":
			if signal != "METRICS" {
				return s, fmt.Errorf("telemetry: %s=%q: prometheus is for metrics; use otlp or none", exporterVar, exporters)
			}
			// Served at /metrics whatever this says.
		default:
			return s, fmt.Errorf("telemetry: %s=%q: spillway exports %s with otlp (or none)", exporterVar, exporters, lower)
		}
	}
	if strings.Contains(exporters, "none") {
		s.otlp = false
	}
	s.endpoint = env("OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT")
	if s.endpoint == "" {
		s.endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	protoVar := "OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"
	s.protocol = env(protoVar)
	if s.protocol == "" {
		protoVar = "OTEL_EXPORTER_OTLP_PROTOCOL"
		s.protocol = env(protoVar)
	}
	switch s.protocol {
	case "":
		s.protocol = protocolHTTP // the specification's default
	case protocolGRPC, protocolHTTP:
	default:
		return s, fmt.Errorf("telemetry: %s=%q: use grpc or http/protobuf", protoVar, s.protocol)
	}
	return s, nil
}

func newSpanExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp trace exporter (%s): %w", protocol, err)
	}
	return exp, nil
}

func newMetricExporter(ctx context.Context, protocol string) (sdkmetric.Exporter, error) {
	var (
		exp sdkmetric.Exporter
		err error
	)
	if protocol == protocolGRPC {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp metric exporter (%s): %w", protocol, err)
	}
	return exp, nil
}

// exportLog reports export failures to the injected logger, at most once
// a minute per signal, instead of OpenTelemetry's global error handler.
type exportLog struct {
	log    *slog.Logger
	signal string
	now    func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const exportLogEvery = time.Minute

func newExportLog(log *slog.Logger, signal string, now func() time.Time) *exportLog {
	return &exportLog{log: log, signal: signal, now: now}
}

func (l *exportLog) failed(err error) {
	now := l.now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < exportLogEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("telemetry export failed", slog.String("signal", l.signal), slog.String("error", err.Error()), slog.Int("suppressed", suppressed))
}

// loggingSpanExporter logs failed exports and hides them from the batch
// processor, which would otherwise print them through the global handler.
type loggingSpanExporter struct {
	sdktrace.SpanExporter
	log *exportLog
}

func (e *loggingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.log.failed(err)
	}
	return nil
}

type loggingMetricExporter struct {
	sdkmetric.Exporter
	log *exportLog
}

func (e *loggingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if err := e.Exporter.Export(ctx, rm); err != nil {
		e.log.failed(err)
	}
	return nil
}
