package test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/telemetry/metricstest"
	"github.com/spillway-gw/spillway/telemetry/otlptest"
)

// TestTelemetry proves the trace of a spilled request holds Envoy's spans,
// spillway's request span and one span per attempt, all in the client's
// trace; and that /metrics counts exactly what the simulator's ledger saw.
func TestTelemetry(t *testing.T) {
	otlp := otlptest.Start(t)
	// spillway exports by the standard variables; Envoy by the config.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.GRPCEndpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	gateway := strings.Replace(threeBackends, "routing: reactive", "routing: reactive\ntracing:\n  otlp_grpc: "+otlp.Addr(), 1)
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: gateway})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("one trace holds Envoy's spans, the request and both attempts", func(t *testing.T) {
		traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
		r := s.chat(ctx, hello, map[string]string{
			"x-sim-fault": "429@" + deploymentPTU,
			"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01",
		})
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "2")

		spans := otlp.WaitFor(t, 20*time.Second, "spillway's and Envoy's spans of the trace", func(all []otlptest.Span) bool {
			tr := otlptest.Trace(all, traceID)
			req, ok := otlptest.SpanByName(tr, "chat gpt-4o")
			return ok && len(otlptest.ChildrenOf(tr, req)) == 2 && hasService(tr, "envoy")
		})
		tr := otlptest.Trace(spans, traceID)
		req, _ := otlptest.SpanByName(tr, "chat gpt-4o")
		want := map[string]string{
			"gen_ai.operation.name": "chat",
			"gen_ai.provider.name":  "azure.ai.openai",
			"gen_ai.request.model":  "gpt-4o",
			"spillway.backend":      backendEast2,
			"spillway.tier":         "tpm",
			"spillway.spill_reason": "throttled",
			"spillway.attempts":     "2",
			"spillway.consumer":     "team-a",
		}
		for k, v := range want {
			if got := attr(req, k); got != v {
				t.Errorf("request span %s = %q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"} {
			if attr(req, k) == "" {
				t.Errorf("request span has no %s", k)
			}
		}
		byBackend := map[string]otlptest.Span{}
		for _, a := range otlptest.ChildrenOf(tr, req) {
			byBackend[attr(a, "spillway.backend")] = a
		}
		if a := byBackend[backendPTU]; attr(a, "http.response.status_code") != "429" || attr(a, "spillway.retry_after_ms") == "" {
			t.Errorf("PTU attempt span: status %q, retry_after_ms %q", attr(a, "http.response.status_code"), attr(a, "spillway.retry_after_ms"))
		}
		if a := byBackend[backendEast2]; attr(a, "http.response.status_code") != "200" {
			t.Errorf("TPM attempt span: status %q", attr(a, "http.response.status_code"))
		}
		if hex.EncodeToString(req.GetParentSpanId()) == "" {
			t.Error("the request span has no parent: it did not join the client's trace")
		}
		for _, sp := range tr {
			for _, kv := range sp.GetAttributes() {
				if strings.Contains(kv.GetValue().GetStringValue(), "Say hello") {
					t.Errorf("span %s records prompt text in %s", sp.GetName(), kv.GetKey())
				}
			}
		}
	})

	t.Run("a stream records its time to first token", func(t *testing.T) {
		before := metricstest.ScrapeURL(t, s.e.SpillAdmin+"/metrics")
		r := s.chat(ctx, `{"messages":[{"role":"user","content":"Stream please."}],"stream":true}`, nil)
		expectStatus(t, r, 200)
		waitFor(t, "the time to first token", 5*time.Second, func() bool {
			after := metricstest.ScrapeURL(t, s.e.SpillAdmin+"/metrics")
			return delta(before, after, "gen_ai_server_time_to_first_token_seconds", map[string]string{"gen_ai_operation_name": "chat"}) == 1
		})
	})

	t.Run("metrics count what reached each backend", func(t *testing.T) {
		before := metricstest.ScrapeURL(t, s.e.SpillAdmin+"/metrics")
		s.resetLedger()
		for i := 0; i < 20; i++ {
			r := s.chat(ctx, hello, map[string]string{"x-sim-fault": "429@" + deploymentPTU})
			expectStatus(t, r, 200)
		}
		l := s.ledger()
		var after metricstest.Metrics
		waitFor(t, "the request metrics of all twenty", 5*time.Second, func() bool {
			after = metricstest.ScrapeURL(t, s.e.SpillAdmin+"/metrics")
			return delta(before, after, "spillway_requests_total", map[string]string{"http_response_status_code": "200"}) == 20
		})
		checks := []struct {
			what   string
			metric string
			labels map[string]string
			want   int64
		}{
			{"PTU 429s", "spillway_upstream_throttled_total", map[string]string{"spillway_backend": backendPTU}, l.Deployments[deploymentPTU].Responses["429"]},
			{"attempts on the PTU", "spillway_upstream_attempts_total", map[string]string{"spillway_backend": backendPTU}, l.Deployments[deploymentPTU].Requests},
			{"attempts on eastus2", "spillway_upstream_attempts_total", map[string]string{"spillway_backend": backendEast2}, l.Deployments[deploymentE2].Requests},
			{"spillovers from the PTU", "spillway_spillovers_total", map[string]string{"spillway_backend": backendPTU, "spillway_spill_reason": "throttled"}, l.Deployments[deploymentPTU].Responses["429"]},
			{"client 200s served by TPM", "spillway_requests_total", map[string]string{"spillway_tier": "tpm", "http_response_status_code": "200"}, l.Deployments[deploymentE2].Responses["200"]},
		}
		for _, c := range checks {
			if got := delta(before, after, c.metric, c.labels); got != c.want {
				t.Errorf("%s: %s%v grew by %d, the ledger says %d", c.what, c.metric, c.labels, got, c.want)
			}
		}
		if l.Deployments[deploymentPTU].Responses["429"] != 20 {
			t.Errorf("ledger: PTU answered %d 429s, want 20", l.Deployments[deploymentPTU].Responses["429"])
		}
		if got := delta(before, after, "gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "output", "spillway_tier": "tpm"}); got != 20 {
			t.Errorf("token usage recorded for %d requests, want 20", got)
		}
		if got := int64(after.Sum("gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "output"}) - before.Sum("gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "output"})); got != l.Deployments[deploymentE2].Usage.CompletionTokens {
			t.Errorf("output tokens in metrics %d, ledger %d", got, l.Deployments[deploymentE2].Usage.CompletionTokens)
		}
	})
}

func delta(before, after metricstest.Metrics, name string, labels map[string]string) int64 {
	return int64(after.Value(name, labels) - before.Value(name, labels))
}

func attr(s otlptest.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() != key {
			continue
		}
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			return v.GetStringValue()
		case v.GetIntValue() != 0:
			return strings.TrimSpace(strings.Replace(v.String(), "int_value:", "", 1))
		default:
			return v.String()
		}
	}
	return ""
}

func hasService(spans []otlptest.Span, name string) bool {
	for _, s := range spans {
		for _, kv := range s.Resource.GetAttributes() {
			if kv.GetKey() == "service.name" && kv.GetValue().GetStringValue() == name {
				return true
			}
		}
	}
	return false
}
