// Package otlptest is an in-process OTLP receiver for tests: a gRPC server
// (TraceService and MetricsService) and an HTTP server (/v1/traces,
// /v1/metrics, protobuf) on loopback ports, keeping every span and metric
// they are sent. Point spillway (OTEL_EXPORTER_OTLP_ENDPOINT) or Envoy's
// OpenTelemetry tracer at it, then wait for spans and read their attributes.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Receiver collects what OTLP exporters send it. Its methods are safe for
// concurrent use.
type Receiver struct {
	grpcAddr string
	httpAddr string

	mu      sync.Mutex
	spans   []Span
	metrics []*metricspb.ResourceMetrics
	changed chan struct{} // closed and replaced on every export
}

// Span is one received span with the resource and scope it came under.
type Span struct {
	*tracepb.Span
	Resource *resourcepb.Resource
	Scope    *commonpb.InstrumentationScope
}

// Start listens on two random loopback ports and stops on t's cleanup.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	g := grpc.NewServer()
	colltracepb.RegisterTraceServiceServer(g, traceService{r: r})
	collmetricspb.RegisterMetricsServiceServer(g, metricsService{r: r})
	go func() { _ = g.Serve(gl) }()
	r.grpcAddr = gl.Addr().String()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		g.Stop()
		t.Fatalf("otlptest: listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.httpTraces)
	mux.HandleFunc("POST /v1/metrics", r.httpMetrics)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	r.httpAddr = hl.Addr().String()

	t.Cleanup(func() {
		g.Stop()
		_ = hs.Close()
	})
	return r
}

// Addr is the gRPC listener's host:port (for Envoy's tracer cluster).
func (r *Receiver) Addr() string { return r.grpcAddr }

// GRPCEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT for OTEL_EXPORTER_OTLP_PROTOCOL=grpc
// (the http scheme tells the exporter not to use TLS).
func (r *Receiver) GRPCEndpoint() string { return "http://" + r.grpcAddr }

// HTTPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT for http/protobuf.
func (r *Receiver) HTTPEndpoint() string { return "http://" + r.httpAddr }

// Spans returns every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// Metrics returns every metrics export received so far.
func (r *Receiver) Metrics() []*metricspb.ResourceMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.metrics)
}

// Reset forgets everything received.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans, r.metrics = nil, nil
}

// SpanByName returns the first span received with that name.
func (r *Receiver) SpanByName(name string) (Span, bool) {
	return SpanByName(r.Spans(), name)
}

// WaitForSpans waits until at least n spans have arrived and returns them
// all; it fails t after timeout.
func (r *Receiver) WaitForSpans(t testing.TB, n int, timeout time.Duration) []Span {
	t.Helper()
	return r.WaitFor(t, timeout, fmt.Sprintf("%d spans", n), func(s []Span) bool { return len(s) >= n })
}

// WaitFor waits until cond holds for the spans received and returns them;
// it fails t after timeout, naming what was awaited (what) and listing the
// spans that did arrive.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans, changed := slices.Clone(r.spans), r.changed
		r.mu.Unlock()
		if cond(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("otlptest: waited %v for %s; received %d spans: %s", timeout, what, len(spans), names(spans))
			return nil
		}
	}
}

// WaitForMetric waits for a metric of that name (the OTel name, e.g.
// spillway.requests) and returns its latest export; it fails t after
// timeout.
func (r *Receiver) WaitForMetric(t testing.TB, name string, timeout time.Duration) *metricspb.Metric {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		m, changed := r.lastMetric(name), r.changed
		r.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("otlptest: waited %v for metric %s", timeout, name)
			return nil
		}
	}
}

func (r *Receiver) lastMetric(name string) *metricspb.Metric {
	for i := len(r.metrics) - 1; i >= 0; i-- {
		for _, sm := range r.metrics[i].GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if m.GetName() == name {
					return m
				}
			}
		}
	}
	return nil
}

func (r *Receiver) addSpans(rss []*tracepb.ResourceSpans) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, Span{Span: s, Resource: rs.GetResource(), Scope: ss.GetScope()})
			}
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver) addMetrics(rms []*metricspb.ResourceMetrics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, rms...)
	close(r.changed)
	r.changed = make(chan struct{})
}

type traceService struct {
	colltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	s.r.addSpans(req.GetResourceSpans())
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	collmetricspb.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(_ context.Context, req *collmetricspb.ExportMetricsServiceRequest) (*collmetricspb.ExportMetricsServiceResponse, error) {
	s.r.addMetrics(req.GetResourceMetrics())
	return &collmetricspb.ExportMetricsServiceResponse{}, nil
}

func (r *Receiver) httpTraces(w http.ResponseWriter, req *http.Request) {
	var m colltracepb.ExportTraceServiceRequest
	if !readProto(w, req, &m) {
		return
	}
	r.addSpans(m.GetResourceSpans())
	writeProto(w, &colltracepb.ExportTraceServiceResponse{})
}

func (r *Receiver) httpMetrics(w http.ResponseWriter, req *http.Request) {
	var m collmetricspb.ExportMetricsServiceRequest
	if !readProto(w, req, &m) {
		return
	}
	r.addMetrics(m.GetResourceMetrics())
	writeProto(w, &collmetricspb.ExportMetricsServiceResponse{})
}

func readProto(w http.ResponseWriter, req *http.Request, m proto.Message) bool {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "otlptest: only application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return false
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		defer z.Close()
		body = z
	}
	b, err := io.ReadAll(body)
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(b))
}

// SpanByName returns the first of spans with that name.
func SpanByName(spans []Span, name string) (Span, bool) {
	for _, s := range spans {
		if s.GetName() == name {
			return s, true
		}
	}
	return Span{}, false
}

// Trace returns the spans of one trace (hex trace id).
func Trace(spans []Span, traceID string) []Span {
	var out []Span
	for _, s := range spans {
		if s.TraceID() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// ChildrenOf returns the spans whose parent is parent.
func ChildrenOf(spans []Span, parent Span) []Span {
	var out []Span
	for _, s := range spans {
		if s.TraceID() == parent.TraceID() && s.ParentSpanID() == parent.SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// TraceID is the span's trace id in hex, as in a traceparent header.
func (s Span) TraceID() string { return hex.EncodeToString(s.GetTraceId()) }

// SpanID is the span's id in hex.
func (s Span) SpanID() string { return hex.EncodeToString(s.GetSpanId()) }

// ParentSpanID is the parent's span id in hex; empty for a root span.
func (s Span) ParentSpanID() string { return hex.EncodeToString(s.GetParentSpanId()) }

// Attr returns the value of the span's attribute key.
func (s Span) Attr(key string) (*commonpb.AnyValue, bool) { return attr(s.GetAttributes(), key) }

// StringAttr is the string attribute key, or "".
func (s Span) StringAttr(key string) string {
	v, _ := s.Attr(key)
	return v.GetStringValue()
}

// IntAttr is the integer attribute key, or 0.
func (s Span) IntAttr(key string) int64 {
	v, _ := s.Attr(key)
	return v.GetIntValue()
}

// BoolAttr is the boolean attribute key, or false.
func (s Span) BoolAttr(key string) bool {
	v, _ := s.Attr(key)
	return v.GetBoolValue()
}

// ResourceAttr is the string resource attribute key (service.name, ...).
func (s Span) ResourceAttr(key string) string {
	v, _ := attr(s.Resource.GetAttributes(), key)
	return v.GetStringValue()
}

// Attrs lists the span's attributes as key=value strings, for failure
// messages.
func (s Span) Attrs() string {
	var b strings.Builder
	for i, kv := range s.GetAttributes() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", kv.GetKey(), valueString(kv.GetValue()))
	}
	return b.String()
}

func attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return nil, false
}

func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	}
	return v.String()
}

func names(spans []Span) string {
	n := make([]string, len(spans))
	for i, s := range spans {
		n[i] = s.GetName()
	}
	return strings.Join(n, ", ")
}
