// Package telemetry is spillway's OpenTelemetry: the tracer and meter
// providers, the instruments every routing decision is recorded with, the
// Prometheus handler the admin server serves at /metrics, and the
// propagation helpers that join spillway's spans to Envoy's trace.
//
// Nothing here touches OpenTelemetry's global state: New returns the
// providers and the propagator on a *Telemetry, and the gateway passes that
// value where it is needed.
//
// Export follows the standard OTEL_* environment variables (see
// docs/telemetry.md): OTLP over gRPC or HTTP when an endpoint is configured,
// nothing otherwise. Prometheus text is always available through
// MetricsHandler.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of spillway's tracer and meter.
const ScopeName = "github.com/spillway-gw/spillway"

// Options configure New. The zero value is usable.
type Options struct {
	// ServiceName is the default service.name; OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it. Empty means "spillway".
	ServiceName string
	// ServiceVersion is service.version.
	ServiceVersion string
	// Logger receives export problems and the exporter choice. Nil
	// discards.
	Logger *slog.Logger
	// RecordContent allows prompt and completion text on spans (see
	// RecordMessages). Off by default: text is never recorded otherwise.
	RecordContent bool

	// SpanExporter, when set, replaces the OTLP trace exporter the
	// environment would choose; spans are exported synchronously as they
	// end. For tests (tracetest.NewInMemoryExporter) and embedding.
	SpanExporter sdktrace.SpanExporter
	// MetricReader, when set, replaces the OTLP metric exporter the
	// environment would choose (sdkmetric.NewManualReader in tests). The
	// Prometheus handler is served either way.
	MetricReader sdkmetric.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Telemetry holds spillway's providers and instruments. Its methods are safe
// for concurrent use. On a nil *Telemetry the Record* methods,
// RegisterBackendState, Tracer, StartRequest, StartAttempt, Extract*,
// InjectHeaders and Shutdown do nothing, so code paths can hold an optional
// one without checks.
type Telemetry struct {
	log           *slog.Logger
	recordContent bool
	now           func() time.Time

	tp         *sdktrace.TracerProvider
	mp         *sdkmetric.MeterProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	metrics    http.Handler

	inst     instruments
	backends atomic.Pointer[func() []BackendGauge]

	requestSets setCache[requestKey, requestSets]
	attemptSets setCache[attemptKey, attemptSets]
	queueSets   setCache[queueKey, metric.MeasurementOption]
}

// New builds the providers, the exporters the environment asks for and the
// instruments. Call Shutdown to flush and stop them.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	t := &Telemetry{
		log:           o.Logger,
		recordContent: o.RecordContent,
		now:           o.Now,
		propagator:    propagation.TraceContext{},
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	env, err := exportConfigFromEnv(lookupEnv)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, o)
	if err != nil {
		return nil, err
	}

	// Traces.
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	switch {
	case o.SpanExporter != nil:
		topts = append(topts, sdktrace.WithSyncer(o.SpanExporter))
	case env.traces.enabled():
		exp, err := newSpanExporter(ctx, env.traces.protocol)
		if err != nil {
			return nil, err
		}
		topts = append(topts, sdktrace.WithBatcher(&loggingSpanExporter{SpanExporter: exp, log: newExportLog(t.log, "traces", t.now)}))
		t.log.Info("exporting traces", slog.String("protocol", env.traces.protocol), slog.String("endpoint", env.traces.endpoint))
	}
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.tracer = t.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(o.ServiceVersion))
	if o.SpanExporter == nil && !env.traces.enabled() {
		// Spans would be built, timed and dropped: with nowhere to send
		// them, start none (a remote parent's context still passes on).
		t.tracer = noop.NewTracerProvider().Tracer(ScopeName)
	}

	// Metrics: Prometheus pull always, OTLP push when configured.
	reg := prometheus.NewRegistry()
	if err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		_ = t.tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: prometheus collectors: %w", err)
	}
	prom, err := promexporter.New(
		promexporter.WithRegisterer(reg),
		promexporter.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		promexporter.WithoutScopeInfo(),
	)
	if err != nil {
		_ = t.tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{t.log}})
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	switch {
	case o.MetricReader != nil:
		mopts = append(mopts, sdkmetric.WithReader(o.MetricReader))
	case env.metrics.enabled():
		exp, err := newMetricExporter(ctx, env.metrics.protocol)
		if err != nil {
			_ = t.tp.Shutdown(ctx)
			return nil, err
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(
			&loggingMetricExporter{Exporter: exp, log: newExportLog(t.log, "metrics", t.now)})))
		t.log.Info("exporting metrics", slog.String("protocol", env.metrics.protocol), slog.String("endpoint", env.metrics.endpoint))
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)

	if err := t.inst.init(t.mp.Meter(ScopeName, metric.WithInstrumentationVersion(o.ServiceVersion)), t.observeBackends); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	return t, nil
}

// Shutdown flushes what is buffered and stops the exporters. It is safe to
// call more than once.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if err := t.tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("telemetry: tracer provider: %w", err))
	}
	if err := t.mp.Shutdown(ctx); err != nil && !errors.Is(err, sdkmetric.ErrReaderShutdown) {
		errs = append(errs, fmt.Errorf("telemetry: meter provider: %w", err))
	}
	return errors.Join(errs...)
}

// TracerProvider returns the provider spillway's spans come from.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the provider spillway's instruments come from.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace-context propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// RecordsContent reports whether prompt and completion text may be put on
// spans.
func (t *Telemetry) RecordsContent() bool { return t != nil && t.recordContent }

// MetricsHandler serves every instrument in the Prometheus text format, from
// a registry of its own, with the Go runtime's and the process's metrics
// (go_*, process_*).
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// newResource describes this process: the defaults from Options first, then
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win.
func newResource(ctx context.Context, o Options) (*resource.Resource, error) {
	name := o.ServiceName
	if name == "" {
		name = "spillway"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource (check OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	return res, nil
}

// slogPromLogger sends promhttp's errors to the injected logger.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Warn("metrics handler", slog.String("error", fmt.Sprint(v...)))
}
