package extproctel

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/extproc"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/telemetry/metricstest"
)

var (
	ptu = &extproc.Backend{Name: "ptu-eastus", Model: "gpt-4o", Tier: config.Kind("ptu")}
	tpm = &extproc.Backend{Name: "tpm-westus", Model: "gpt-4o", Tier: config.Kind("tpm")}
)

func attempt(id string, b *extproc.Backend, n, status int) extproc.Attempt {
	return extproc.Attempt{RequestID: id, Backend: b, Number: n, Status: status}
}

func served(id string, b *extproc.Backend, attempts int) extproc.Request {
	return extproc.Request{
		ID: id, Consumer: "team-a", Model: "gpt-4o", Status: 200, Backend: b.Name, Tier: string(b.Tier), Attempts: attempts,
		Usage: openai.Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}, UsageKnown: true, Duration: time.Second,
	}
}

// recorder is the next observer in the chain.
type recorder struct {
	attempts []extproc.Attempt
	requests []extproc.Request
}

func (r *recorder) ObserveAttempt(a extproc.Attempt) { r.attempts = append(r.attempts, a) }
func (r *recorder) ObserveRequest(q extproc.Request) { r.requests = append(r.requests, q) }

type event struct {
	attempt *extproc.Attempt
	request *extproc.Request
}

func a(x extproc.Attempt) event { return event{attempt: &x} }
func r(x extproc.Request) event { return event{request: &x} }

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func TestObserver(t *testing.T) {
	allThrottled := extproc.Request{ID: "r1", Consumer: "team-a", Model: "gpt-4o", Status: 429, Backend: "tpm-westus", Tier: "tpm", Attempts: 2, Duration: time.Second}
	envoy503 := extproc.Request{ID: "r1", Consumer: "team-a", Model: "gpt-4o", Status: 503, Duration: time.Second}
	tests := []struct {
		name   string
		events []event
		wants  []want
	}{
		{
			name:   "PTU throttled, TPM served",
			events: []event{a(attempt("r1", ptu, 1, 429)), a(attempt("r1", tpm, 2, 200)), r(served("r1", tpm, 2))},
			wants: []want{
				{"spillway_upstream_attempts_total", map[string]string{"spillway_backend": "ptu-eastus", "http_response_status_code": "429"}, 1},
				{"spillway_upstream_attempts_total", map[string]string{"spillway_backend": "tpm-westus", "http_response_status_code": "200"}, 1},
				{"spillway_upstream_throttled_total", map[string]string{"spillway_backend": "ptu-eastus", "spillway_tier": "ptu"}, 1},
				{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "throttled", "spillway_backend": "ptu-eastus", "gen_ai_request_model": "gpt-4o"}, 1},
				{"spillway_spillovers_total", nil, 1},
				{"spillway_retries_total", map[string]string{"spillway_backend": "tpm-westus"}, 1},
				{"spillway_requests_total", map[string]string{"http_response_status_code": "200", "spillway_tier": "tpm", "spillway_consumer": "team-a"}, 1},
				{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "input", "spillway_tier": "tpm"}, 1},
			},
		},
		{
			name:   "every backend throttled: the last 429 is not a spillover",
			events: []event{a(attempt("r1", ptu, 1, 429)), a(attempt("r1", tpm, 2, 429)), r(allThrottled)},
			wants: []want{
				{"spillway_upstream_throttled_total", nil, 2},
				{"spillway_spillovers_total", map[string]string{"spillway_backend": "ptu-eastus"}, 1},
				{"spillway_spillovers_total", nil, 1},
				{"spillway_requests_total", map[string]string{"http_response_status_code": "429"}, 1},
				{"gen_ai_client_token_usage", nil, 0},
			},
		},
		{
			name:   "reset, then served",
			events: []event{a(attempt("r1", ptu, 1, 0)), a(attempt("r1", tpm, 2, 200)), r(served("r1", tpm, 2))},
			wants: []want{
				{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "reset", "spillway_backend": "ptu-eastus"}, 1},
				{"spillway_upstream_throttled_total", nil, 0},
				{"spillway_upstream_attempts_total", map[string]string{"http_response_status_code": "0"}, 1},
			},
		},
		{
			name:   "server error, then served",
			events: []event{a(attempt("r1", ptu, 1, 503)), a(attempt("r1", tpm, 2, 200)), r(served("r1", tpm, 2))},
			wants:  []want{{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "server_error"}, 1}},
		},
		{
			name:   "Envoy's own 503 after two resets: the first one spilled",
			events: []event{a(attempt("r1", ptu, 1, 0)), a(attempt("r1", tpm, 2, 0)), r(envoy503)},
			wants: []want{
				{"spillway_spillovers_total", map[string]string{"spillway_backend": "ptu-eastus"}, 1},
				{"spillway_spillovers_total", nil, 1},
				{"spillway_requests_total", map[string]string{"http_response_status_code": "503", "spillway_tier": ""}, 1},
			},
		},
		{
			name: "interleaved requests are kept apart",
			events: []event{
				a(attempt("r1", ptu, 1, 429)), a(attempt("r2", ptu, 1, 200)), a(attempt("r1", tpm, 2, 200)),
				r(served("r2", ptu, 1)), r(served("r1", tpm, 2)),
			},
			wants: []want{
				{"spillway_spillovers_total", nil, 1},
				{"spillway_requests_total", map[string]string{"spillway_tier": "ptu"}, 1},
				{"spillway_requests_total", map[string]string{"spillway_tier": "tpm"}, 1},
			},
		},
		{
			name: "capacity: the planner sent it past the PTU",
			events: []event{a(attempt("r1", tpm, 1, 200)), r(func() extproc.Request {
				q := served("r1", tpm, 1)
				q.SpillReason = "capacity"
				return q
			}())},
			wants: []want{
				{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "capacity", "spillway_tier": "ptu", "gen_ai_request_model": "gpt-4o"}, 1},
				{"spillway_spillovers_total", nil, 1},
				{"spillway_retries_total", nil, 0},
			},
		},
		{
			name: "throttled spill reported by the request too: counted once",
			events: []event{a(attempt("r1", ptu, 1, 429)), a(attempt("r1", tpm, 2, 200)), r(func() extproc.Request {
				q := served("r1", tpm, 2)
				q.SpillReason = "throttled"
				return q
			}())},
			wants: []want{
				{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "throttled", "spillway_backend": "ptu-eastus"}, 1},
				{"spillway_spillovers_total", nil, 1},
			},
		},
		{
			name:   "local reply",
			events: []event{r(extproc.Request{ID: "r1", Status: 401, Local: true, Duration: time.Millisecond})},
			wants: []want{
				{"spillway_requests_total", map[string]string{"http_response_status_code": "401"}, 1},
				{"spillway_upstream_attempts_total", nil, 0},
				{"spillway_queue_wait_seconds", nil, 0},
			},
		},
		{
			name: "queue waits by outcome",
			events: []event{
				r(extproc.Request{ID: "q1", Model: "gpt-4o", Status: 200, Backend: "ptu-eastus", Tier: "ptu", Attempts: 1, QueueWait: 300 * time.Millisecond}),
				r(extproc.Request{ID: "q2", Model: "gpt-4o", Status: 429, Local: true, QueueWait: 2 * time.Second}),
				r(extproc.Request{ID: "q3", Model: "gpt-4o", Status: 0, QueueWait: time.Second}),
			},
			wants: []want{
				{"spillway_queue_wait_seconds", map[string]string{"spillway_outcome": "admitted", "gen_ai_request_model": "gpt-4o"}, 1},
				{"spillway_queue_wait_seconds", map[string]string{"spillway_outcome": "timeout"}, 1},
				{"spillway_queue_wait_seconds", map[string]string{"spillway_outcome": "canceled"}, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTelemetry(t)
			next := &recorder{}
			o := ObserverFor(tel, next)
			var nA, nR int
			for _, e := range tt.events {
				if e.attempt != nil {
					o.ObserveAttempt(*e.attempt)
					nA++
				} else {
					o.ObserveRequest(*e.request)
					nR++
				}
			}
			m := metricstest.Scrape(t, tel.MetricsHandler())
			for _, w := range tt.wants {
				if got := m.Value(w.name, w.labels); got != w.value {
					t.Errorf("%s%v = %v, want %v (series %v)", w.name, w.labels, got, w.value, m.Labels(w.name, nil))
				}
			}
			if len(next.attempts) != nA || len(next.requests) != nR {
				t.Errorf("next observer saw %d attempts and %d requests, want %d and %d", len(next.attempts), len(next.requests), nA, nR)
			}
			if n := len(o.failed); n != 0 {
				t.Errorf("%d requests' failed attempts still held after every request ended", n)
			}
		})
	}
}

func TestObserverForgetsRequestsThatNeverEnd(t *testing.T) {
	tel := newTelemetry(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := ObserverFor(tel, nil)
	o.now = func() time.Time { return now }
	o.ObserveAttempt(attempt("lost", ptu, 1, 429))
	now = now.Add(pendingMaxAge - time.Second)
	o.ObserveAttempt(attempt("young", ptu, 1, 429))
	if len(o.failed) != 2 {
		t.Fatalf("held %d requests, want 2", len(o.failed))
	}
	now = now.Add(time.Minute) // sweeps run at most once a minute
	o.ObserveAttempt(attempt("new", ptu, 1, 503))
	if _, ok := o.failed["lost"]; ok || len(o.failed) != 2 {
		t.Errorf("held %v after the max age, want young and new", keys(o.failed))
	}
	// A late end of a forgotten request records the request, no spillover.
	o.ObserveRequest(served("lost", tpm, 2))
	m := metricstest.Scrape(t, tel.MetricsHandler())
	if got := m.Value("spillway_spillovers_total", nil); got != 0 {
		t.Errorf("spillovers = %v, want 0", got)
	}
	if got := m.Value("spillway_requests_total", nil); got != 1 {
		t.Errorf("requests = %v, want 1", got)
	}
}

func TestObserverNilTelemetry(t *testing.T) {
	next := &recorder{}
	o := ObserverFor(nil, next)
	o.ObserveAttempt(attempt("r1", ptu, 1, 429))
	o.ObserveRequest(served("r1", tpm, 2))
	if len(next.attempts) != 1 || len(next.requests) != 1 {
		t.Errorf("next saw %d attempts, %d requests", len(next.attempts), len(next.requests))
	}
}

func newTelemetry(t *testing.T) *telemetry.Telemetry {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := telemetry.New(t.Context(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func keys(m map[string]*pending) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
