package telemetry

import (
	"context"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/telemetry/metricstest"
)

func TestMetricsHandlerServesRuntimeAndResource(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "gw-eu")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=ai,service.name=ignored")
	tel := newTest(t, Options{ServiceName: "spillway", ServiceVersion: "0.1.0"})
	m := metricstest.Scrape(t, tel.MetricsHandler())
	if m.Series("go_goroutines", nil) != 1 {
		t.Error("no go_goroutines")
	}
	if got := m.Value("target_info", map[string]string{"service_name": "gw-eu", "service_version": "0.1.0", "service_namespace": "ai"}); got != 1 {
		t.Errorf("target_info for the resource: %v (%v)", got, m.Labels("target_info", nil))
	}
}

func TestNewRejectsMalformedResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign")
	_, err := New(t.Context(), Options{})
	if err == nil || !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
		t.Fatalf("New: %v, want an error naming OTEL_RESOURCE_ATTRIBUTES", err)
	}
}

func TestShutdownTwice(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := New(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown #%d: %v", i+1, err)
		}
	}
}
