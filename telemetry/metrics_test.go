package telemetry

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/telemetry/metricstest"
)

func newTest(t *testing.T, o Options) *Telemetry {
	t.Helper()
	// No OTLP exporter may start from the developer's environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func check(t *testing.T, m metricstest.Metrics, wants []want) {
	t.Helper()
	for _, w := range wants {
		if got := m.Value(w.name, w.labels); got != w.value {
			t.Errorf("%s%v = %v, want %v (series: %v)", w.name, w.labels, got, w.value, m.Labels(w.name, nil))
		}
	}
}

func TestRecordRequest(t *testing.T) {
	ok := RequestInfo{
		Operation: OperationChat, Model: "gpt-4o", Consumer: "team-a", Backend: "ptu-eastus", Tier: "ptu",
		Status: 200, Attempts: 1, InputTokens: 12, OutputTokens: 30, UsageKnown: true,
		Duration: 1500 * time.Millisecond, TimeToFirstToken: 200 * time.Millisecond,
	}
	spilled := ok
	spilled.Backend, spilled.Tier, spilled.Attempts, spilled.TimeToFirstToken = "tpm-westus", "tpm", 2, 0
	throttled := RequestInfo{Operation: OperationChat, Model: "gpt-4o", Consumer: "team-a", Backend: "tpm-westus", Tier: "tpm", Status: 429, Attempts: 2, Duration: time.Second}
	local := RequestInfo{Consumer: "", Status: 401, Local: true, Duration: time.Millisecond}

	tests := []struct {
		name  string
		reqs  []RequestInfo
		wants []want
	}{
		{
			name: "served by the PTU",
			reqs: []RequestInfo{ok, ok},
			wants: []want{
				{"spillway_requests_total", map[string]string{"http_response_status_code": "200", "spillway_tier": "ptu", "spillway_backend": "ptu-eastus", "gen_ai_request_model": "gpt-4o", "spillway_consumer": "team-a"}, 2},
				{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "input", "spillway_tier": "ptu", "gen_ai_provider_name": "azure.ai.openai", "gen_ai_operation_name": "chat"}, 2},
				{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "output", "spillway_consumer": "team-a"}, 2},
				{"gen_ai_server_request_duration_seconds", map[string]string{"spillway_tier": "ptu"}, 2},
				{"gen_ai_server_request_duration_seconds", map[string]string{"error_type": "200"}, 0},
				{"gen_ai_server_time_to_first_token_seconds", nil, 2},
			},
		},
		{
			name: "tokens by tier, no TTFT when not measured",
			reqs: []RequestInfo{ok, spilled, spilled},
			wants: []want{
				{"spillway_requests_total", map[string]string{"spillway_tier": "tpm"}, 2},
				{"spillway_requests_total", map[string]string{"spillway_tier": "ptu"}, 1},
				{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "input", "spillway_tier": "tpm", "spillway_backend": "tpm-westus"}, 2},
				{"gen_ai_server_time_to_first_token_seconds", nil, 1},
			},
		},
		{
			name: "429 to the client: no usage, error.type",
			reqs: []RequestInfo{throttled},
			wants: []want{
				{"spillway_requests_total", map[string]string{"http_response_status_code": "429"}, 1},
				{"gen_ai_client_token_usage", nil, 0},
				{"gen_ai_server_request_duration_seconds", map[string]string{"error_type": "429"}, 1},
			},
		},
		{
			name: "local reply",
			reqs: []RequestInfo{local},
			wants: []want{
				{"spillway_requests_total", map[string]string{"http_response_status_code": "401", "spillway_tier": ""}, 1},
				{"gen_ai_server_request_duration_seconds", map[string]string{"error_type": "401", "gen_ai_operation_name": ""}, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTest(t, Options{})
			for _, r := range tt.reqs {
				tel.RecordRequest(t.Context(), r)
			}
			check(t, metricstest.Scrape(t, tel.MetricsHandler()), tt.wants)
		})
	}
}

func TestRecordRequestTokenSums(t *testing.T) {
	tel := newTest(t, Options{})
	for _, n := range []int{10, 20, 30} {
		tel.RecordRequest(t.Context(), RequestInfo{Model: "gpt-4o", Tier: "ptu", Status: 200, InputTokens: n, OutputTokens: 2 * n, UsageKnown: true, Duration: time.Duration(n) * time.Millisecond})
	}
	m := metricstest.Scrape(t, tel.MetricsHandler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		sum    float64
	}{
		{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "input"}, 60},
		{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "output"}, 120},
		{"gen_ai_server_request_duration_seconds", nil, 0.06},
	} {
		if got := m.Sum(c.name, c.labels); got < c.sum-1e-9 || got > c.sum+1e-9 {
			t.Errorf("sum %s%v = %v, want %v", c.name, c.labels, got, c.sum)
		}
	}
}

func TestRecordAttempt(t *testing.T) {
	ptu := func(n, status int) AttemptInfo {
		return AttemptInfo{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Number: n, Status: status}
	}
	tpm := func(n, status int) AttemptInfo {
		return AttemptInfo{Backend: "tpm-westus", Tier: "tpm", Model: "gpt-4o", Number: n, Status: status}
	}
	tests := []struct {
		name     string
		attempts []AttemptInfo
		wants    []want
	}{
		{
			name:     "first attempt served",
			attempts: []AttemptInfo{ptu(1, 200)},
			wants: []want{
				{"spillway_upstream_attempts_total", map[string]string{"spillway_backend": "ptu-eastus", "http_response_status_code": "200"}, 1},
				{"spillway_upstream_throttled_total", nil, 0},
				{"spillway_retries_total", nil, 0},
			},
		},
		{
			name:     "429 then spilled to TPM",
			attempts: []AttemptInfo{ptu(1, 429), tpm(2, 200)},
			wants: []want{
				{"spillway_upstream_attempts_total", nil, 2},
				{"spillway_upstream_throttled_total", map[string]string{"spillway_backend": "ptu-eastus", "http_response_status_code": "429", "spillway_tier": "ptu"}, 1},
				{"spillway_upstream_throttled_total", map[string]string{"spillway_backend": "tpm-westus"}, 0},
				{"spillway_retries_total", map[string]string{"spillway_backend": "tpm-westus", "spillway_tier": "tpm"}, 1},
			},
		},
		{
			name:     "424 counts as throttled, 503 and reset do not",
			attempts: []AttemptInfo{ptu(1, 424), tpm(2, 503), tpm(3, 0)},
			wants: []want{
				{"spillway_upstream_throttled_total", map[string]string{"http_response_status_code": "424"}, 1},
				{"spillway_upstream_throttled_total", nil, 1},
				{"spillway_upstream_attempts_total", map[string]string{"http_response_status_code": "0"}, 1},
				{"spillway_upstream_attempts_total", map[string]string{"http_response_status_code": "503"}, 1},
				{"spillway_retries_total", nil, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTest(t, Options{})
			for _, a := range tt.attempts {
				tel.RecordAttempt(t.Context(), a)
			}
			check(t, metricstest.Scrape(t, tel.MetricsHandler()), tt.wants)
		})
	}
}

func TestSpilloversQueueReloads(t *testing.T) {
	tel := newTest(t, Options{})
	ctx := t.Context()
	tel.RecordSpillover(ctx, Spillover{Reason: SpillThrottled, Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o"})
	tel.RecordSpillover(ctx, Spillover{Reason: SpillThrottled, Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o"})
	tel.RecordSpillover(ctx, Spillover{Reason: SpillCapacity, Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o"})
	tel.RecordSpillover(ctx, Spillover{Reason: SpillReset, Backend: "tpm-westus", Tier: "tpm", Model: "gpt-4o"})
	tel.RecordQueueWait(ctx, QueueWait{Model: "gpt-4o", Consumer: "team-a", Wait: 250 * time.Millisecond, Outcome: QueueAdmitted})
	tel.RecordQueueWait(ctx, QueueWait{Model: "gpt-4o", Consumer: "team-a", Wait: 2 * time.Second, Outcome: QueueTimeout})
	tel.RecordReload(ctx, ReloadApplied)
	tel.RecordReload(ctx, ReloadApplied)
	tel.RecordReload(ctx, ReloadRejected)

	m := metricstest.Scrape(t, tel.MetricsHandler())
	check(t, m, []want{
		{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "throttled", "spillway_backend": "ptu-eastus"}, 2},
		{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "capacity"}, 1},
		{"spillway_spillovers_total", map[string]string{"spillway_spill_reason": "reset", "spillway_tier": "tpm"}, 1},
		{"spillway_spillovers_total", nil, 4},
		{"spillway_queue_wait_seconds", map[string]string{"spillway_outcome": "admitted", "spillway_consumer": "team-a"}, 1},
		{"spillway_queue_wait_seconds", map[string]string{"spillway_outcome": "timeout"}, 1},
		{"spillway_config_reloads_total", map[string]string{"spillway_outcome": "applied"}, 2},
		{"spillway_config_reloads_total", map[string]string{"spillway_outcome": "rejected"}, 1},
	})
	if got := m.Sum("spillway_queue_wait_seconds", nil); got != 2.25 {
		t.Errorf("queue wait sum = %v, want 2.25", got)
	}
}

func TestBackendGauges(t *testing.T) {
	tel := newTest(t, Options{})
	if got := metricstest.Scrape(t, tel.MetricsHandler()).Series("spillway_backend_utilization_ratio", nil); got != 0 {
		t.Fatalf("before RegisterBackendState: %d utilization series, want 0", got)
	}
	var mu sync.Mutex
	state := []BackendGauge{
		{Backend: "ptu-eastus", Tier: "ptu", Model: "gpt-4o", Utilization: 0.75, RemainingTokens: 1500, CoolingDown: false},
		{Backend: "tpm-westus", Tier: "tpm", Model: "gpt-4o", Utilization: 1, RemainingTokens: 0, CoolingDown: true},
	}
	tel.RegisterBackendState(func() []BackendGauge {
		mu.Lock()
		defer mu.Unlock()
		return append([]BackendGauge(nil), state...)
	})
	ptu := map[string]string{"spillway_backend": "ptu-eastus", "spillway_tier": "ptu", "gen_ai_request_model": "gpt-4o"}
	tpm := map[string]string{"spillway_backend": "tpm-westus", "spillway_tier": "tpm"}
	check(t, metricstest.Scrape(t, tel.MetricsHandler()), []want{
		{"spillway_backend_utilization_ratio", ptu, 0.75},
		{"spillway_backend_remaining_tokens", ptu, 1500},
		{"spillway_backend_cooldown", ptu, 0},
		{"spillway_backend_utilization_ratio", tpm, 1},
		{"spillway_backend_remaining_tokens", tpm, 0},
		{"spillway_backend_cooldown", tpm, 1},
	})

	// Every scrape reads the state anew.
	mu.Lock()
	state[0].Utilization, state[0].RemainingTokens, state[0].CoolingDown = 1, 0, true
	mu.Unlock()
	check(t, metricstest.Scrape(t, tel.MetricsHandler()), []want{
		{"spillway_backend_utilization_ratio", ptu, 1},
		{"spillway_backend_remaining_tokens", ptu, 0},
		{"spillway_backend_cooldown", ptu, 1},
	})

	tel.RegisterBackendState(nil)
	if got := metricstest.Scrape(t, tel.MetricsHandler()).Series("spillway_backend_cooldown", nil); got != 0 {
		t.Errorf("after RegisterBackendState(nil): %d cooldown series, want 0", got)
	}
}

func TestSpillReason(t *testing.T) {
	for _, c := range []struct {
		status int
		want   string
	}{
		{0, SpillReset}, {200, ""}, {400, ""}, {404, ""}, {408, SpillServerError}, {424, SpillThrottled},
		{429, SpillThrottled}, {500, SpillServerError}, {503, SpillServerError},
	} {
		if got := SpillReason(c.status); got != c.want {
			t.Errorf("SpillReason(%d) = %q, want %q", c.status, got, c.want)
		}
	}
}

func TestNilTelemetryRecordsNothing(t *testing.T) {
	var tel *Telemetry
	ctx := t.Context()
	tel.RecordRequest(ctx, RequestInfo{Status: 200})
	tel.RecordAttempt(ctx, AttemptInfo{Status: 429})
	tel.RecordSpillover(ctx, Spillover{Reason: SpillThrottled})
	tel.RecordQueueWait(ctx, QueueWait{})
	tel.RecordReload(ctx, ReloadApplied)
	tel.RegisterBackendState(func() []BackendGauge { return nil })
	_, span := tel.StartRequest(ctx, OperationChat, "gpt-4o")
	EndRequest(span, RequestInfo{Status: 200})
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsConcurrent(t *testing.T) {
	tel := newTest(t, Options{})
	tel.RegisterBackendState(func() []BackendGauge { return []BackendGauge{{Backend: "b", Utilization: 0.5}} })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				tel.RecordAttempt(t.Context(), AttemptInfo{Backend: "b", Number: 1 + j%2, Status: 200 + 229*(i%2)})
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			metricstest.Scrape(t, tel.MetricsHandler())
		}
	})
	wg.Wait()
	check(t, metricstest.Scrape(t, tel.MetricsHandler()), []want{
		{"spillway_upstream_attempts_total", nil, 800},
		{"spillway_upstream_throttled_total", nil, 400},
		{"spillway_retries_total", nil, 400},
	})
}
