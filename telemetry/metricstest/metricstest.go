// Package metricstest reads Prometheus text, as spillway's /metrics serves
// it, for tests that check metrics by value: scrape, then sum the series of
// a metric whose labels match.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape, by metric family name (the Prometheus name:
// spillway_requests_total, gen_ai_client_token_usage, ...).
type Metrics map[string]*dto.MetricFamily

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metricstest: parse: %w", err)
	}
	return Metrics(fams), nil
}

// Scrape serves GET /metrics from h and parses the answer.
func Scrape(t testing.TB, h http.Handler) Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body.String())
	}
	m, err := Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ScrapeURL fetches url (a running server's /metrics) and parses it.
func ScrapeURL(t testing.TB, url string) Metrics {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	m, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Value sums the series of metric name whose labels include every pair in
// match (nil matches all): a counter's or gauge's value, a histogram's
// observation count. It is 0 when nothing matches.
func (m Metrics) Value(name string, match map[string]string) float64 {
	var sum float64
	for _, s := range m.series(name, match) {
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum
}

// Sum is the total of the observations of histogram name over the
// matching series (the _sum line).
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var sum float64
	for _, s := range m.series(name, match) {
		sum += s.GetHistogram().GetSampleSum()
	}
	return sum
}

// Series counts the matching series of metric name.
func (m Metrics) Series(name string, match map[string]string) int {
	return len(m.series(name, match))
}

// Labels lists, for each matching series of name, its labels.
func (m Metrics) Labels(name string, match map[string]string) []map[string]string {
	var out []map[string]string
	for _, s := range m.series(name, match) {
		out = append(out, labels(s))
	}
	return out
}

func (m Metrics) series(name string, match map[string]string) []*dto.Metric {
	fam := m[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, s := range fam.GetMetric() {
		ls := labels(s)
		ok := true
		for k, v := range match {
			if ls[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func labels(s *dto.Metric) map[string]string {
	ls := make(map[string]string, len(s.GetLabel()))
	for _, l := range s.GetLabel() {
		ls[l.GetName()] = l.GetValue()
	}
	return ls
}
