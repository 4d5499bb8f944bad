package metricstest

import (
	"strings"
	"testing"
)

const text = `# HELP spillway_requests_total Client requests.
# TYPE spillway_requests_total counter
spillway_requests_total{http_response_status_code="200",spillway_tier="ptu"} 3
spillway_requests_total{http_response_status_code="200",spillway_tier="tpm"} 2
spillway_requests_total{http_response_status_code="429",spillway_tier=""} 1
# TYPE spillway_backend_cooldown gauge
spillway_backend_cooldown{spillway_backend="ptu-eastus"} 1
# TYPE gen_ai_client_token_usage histogram
gen_ai_client_token_usage_bucket{gen_ai_token_type="input",le="16"} 1
gen_ai_client_token_usage_bucket{gen_ai_token_type="input",le="+Inf"} 2
gen_ai_client_token_usage_sum{gen_ai_token_type="input"} 40
gen_ai_client_token_usage_count{gen_ai_token_type="input"} 2
`

func TestValue(t *testing.T) {
	m, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"spillway_requests_total", nil, 6},
		{"spillway_requests_total", map[string]string{"http_response_status_code": "200"}, 5},
		{"spillway_requests_total", map[string]string{"spillway_tier": "tpm"}, 2},
		{"spillway_requests_total", map[string]string{"spillway_tier": ""}, 1},
		{"spillway_requests_total", map[string]string{"spillway_tier": "none"}, 0},
		{"spillway_backend_cooldown", map[string]string{"spillway_backend": "ptu-eastus"}, 1},
		{"gen_ai_client_token_usage", map[string]string{"gen_ai_token_type": "input"}, 2},
		{"no_such_metric", nil, 0},
	} {
		if got := m.Value(c.name, c.match); got != c.want {
			t.Errorf("Value(%s, %v) = %v, want %v", c.name, c.match, got, c.want)
		}
	}
	if got := m.Sum("gen_ai_client_token_usage", nil); got != 40 {
		t.Errorf("Sum = %v, want 40", got)
	}
	if got := m.Series("spillway_requests_total", map[string]string{"http_response_status_code": "200"}); got != 2 {
		t.Errorf("Series = %d, want 2", got)
	}
}

func TestParseError(t *testing.T) {
	if _, err := Parse(strings.NewReader("not { prometheus")); err == nil {
		t.Fatal("Parse accepted garbage")
	}
}
