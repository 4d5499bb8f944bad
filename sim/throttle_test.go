package sim

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestThrottleForms(t *testing.T) {
	tests := []struct {
		name     string
		headers  string
		message  string
		th       throttle
		want     map[string]string // header -> value; "" means must be absent
		wantBody string
	}{
		{"retry-after", HeadersRetryAfter, MessageRateLimit,
			throttle{status: 429, retryAfter: 1500 * time.Millisecond, apiVersion: "2024-10-21"},
			map[string]string{"Retry-After": "2", "Retry-After-Ms": ""},
			"have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds"},
		{"retry-after-ms", HeadersRetryAfterMs, MessageRateLimit,
			throttle{status: 429, retryAfter: 37 * time.Millisecond},
			map[string]string{"Retry-After-Ms": "37", "Retry-After": ""}, "API version v1"},
		{"x-ms-retry-after-ms", HeadersXMsRetryAfter, MessageRateLimit,
			throttle{status: 429, retryAfter: 37*time.Millisecond + 1},
			map[string]string{"X-Ms-Retry-After-Ms": "38", "Retry-After": ""}, "retry after 1 seconds"},
		{"both", HeadersBoth, MessageRateLimit,
			throttle{status: 429, retryAfter: 6 * time.Second, reason: reasonRequests, apiVersion: "2024-10-21"},
			map[string]string{"Retry-After": "6", "Retry-After-Ms": "6000"}, "exceeded call rate limit"},
		{"reset tokens", HeadersReset, MessageRateLimit,
			throttle{status: 429, retryAfter: 3 * time.Second},
			map[string]string{"X-Ratelimit-Reset-Tokens": "3", "Policy-Id": "DeploymentRatelimit-Token", "Retry-After": ""}, "token rate limit"},
		{"reset requests", HeadersReset, MessageRateLimit,
			throttle{status: 429, retryAfter: 3 * time.Second, reason: reasonRequests},
			map[string]string{"X-Ratelimit-Reset-Requests": "3", "Policy-Id": "DeploymentRatelimit-Call"}, "call rate limit"},
		{"reset misspelt", HeadersResetMisspelt, MessageShort,
			throttle{status: 429, retryAfter: 2 * time.Second},
			map[string]string{"X-Rate-Limit-Reset-Tokens": "2"}, "Rate limit is exceeded. Try again in 2 seconds."},
		{"none", HeadersNone, MessageHighDemand,
			throttle{status: 429, retryAfter: 6 * time.Second},
			map[string]string{"Retry-After": "", "Retry-After-Ms": "", "X-Ratelimit-Reset-Tokens": ""}, "high demand"},
		{"huge", HeadersHuge, MessageRateLimit,
			throttle{status: 429, retryAfter: time.Second},
			map[string]string{"Retry-After": "86400", "Retry-After-Ms": "86400000"}, "Please retry after 86400 seconds"},
		{"bare (throttle_headers_missing)", HeadersBoth, MessageRateLimit,
			throttle{status: 429, retryAfter: 2 * time.Second, bare: true},
			map[string]string{"Retry-After": "", "Retry-After-Ms": ""}, "Please retry after 2 seconds"},
		{"424 legacy", HeadersBoth, MessageRateLimit,
			throttle{status: 424, retryAfter: time.Second, apiVersion: "2023-03-15-preview"},
			map[string]string{"Retry-After": "1"}, "API version 2023-03-15-preview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testStandard("a")
			d.ThrottleHeaders, d.ThrottleMessage = tt.headers, tt.message
			rec := httptest.NewRecorder()
			tt.th.write(rec, &d)
			if rec.Code != tt.th.status {
				t.Errorf("status %d, want %d", rec.Code, tt.th.status)
			}
			for h, want := range tt.want {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			var body struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if body.Error.Code != "429" || !strings.Contains(body.Error.Message, tt.wantBody) {
				t.Errorf("body %+v, want code 429 and %q", body.Error, tt.wantBody)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

const sparseConfig = `
keys: ["k1"]
deployments:
  - name: ptu
    kind: provisioned
    capacity_tpm: 100
    no_utilization_header: true
    throttle_headers_missing: 0.5
  - name: std
    kind: standard
    tpm: 100
    rpm: 600
    no_rate_limit_headers: true
    throttle_headers_missing: 0.25
`

// TestSparseHeaders: the options that leave headers out, for deployments
// that do not send them.
func TestSparseHeaders(t *testing.T) {
	s, _ := newTestSim(t, sparseConfig)
	for _, tt := range []struct {
		dep  string
		bare []bool // per 429, in order: no retry header
	}{
		{"ptu", []bool{false, true, false, true, false, true}},
		{"std", []bool{false, false, false, true, false, false, false, true}},
	} {
		t.Run(tt.dep, func(t *testing.T) {
			var got []bool
			for len(got) < len(tt.bare) {
				rec := do(t, s, "POST", chat(tt.dep), hello)
				for _, h := range []string{"Azure-Openai-Deployment-Utilization", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Limit-Tokens",
					"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Limit-Requests"} {
					if v := rec.Header().Get(h); v != "" {
						t.Errorf("%d response has %s: %s", rec.Code, h, v)
					}
				}
				if rec.Code != 429 {
					continue
				}
				if !strings.Contains(rec.Body.String(), "Please retry after") {
					t.Errorf("429 body without the retry text: %s", rec.Body)
				}
				got = append(got, rec.Header().Get("Retry-After") == "" && rec.Header().Get("Retry-After-Ms") == "")
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.bare) {
				t.Errorf("429s without a retry header: %v, want %v", got, tt.bare)
			}
		})
	}
}
