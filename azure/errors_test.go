package azure

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name   string
		err    *Error
		status int
		code   string
		inMsg  string
	}{
		{"context length", ContextLengthExceeded(8192, 10383), 400, "context_length_exceeded", "maximum context length is 8192 tokens. However, your messages resulted in 10383 tokens"},
		{"token rate limit", TokenRateLimited("2024-10-21", 6), 429, "429", "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds"},
		{"call rate limit", CallRateLimited("2024-10-21", 2), 429, "429", "call rate limit"},
		{"short 429", RateLimitShort(2), 429, "429", "Try again in 2 seconds"},
		{"high demand", HighDemand(6), 429, "429", "Please retry after 6 seconds"},
		{"gateway at capacity", GatewayAtCapacity("gpt-4o", "3"), 429, "429", "retry after 3 seconds"},
		{"timeout", Timeout(), 408, "Timeout", "The operation was timeout."},
		{"unauthorized", Unauthorized(), 401, "401", "Access denied"},
		{"not found", DeploymentNotFound("gpt-9"), 404, "DeploymentNotFound", `"gpt-9"`},
		{"too large", TooLarge(1024), 413, "request_too_large", "1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.err.Write(rec)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			var body struct {
				Error struct {
					Code    string  `json:"code"`
					Message string  `json:"message"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %v: %s", err, rec.Body)
			}
			if body.Error.Code != tt.code || !strings.Contains(body.Error.Message, tt.inMsg) {
				t.Errorf("got code %q message %q; want code %q and %q in the message", body.Error.Code, body.Error.Message, tt.code, tt.inMsg)
			}
			if !strings.Contains(rec.Body.String(), `"param":`) {
				t.Errorf("param missing (Azure sends null): %s", rec.Body)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for ms, want := range map[int64]string{0: "1", 1: "1", 999: "1", 1000: "1", 1001: "2", 43: "1", 6000: "6"} {
		if got := RetryAfterSeconds(ms); got != want {
			t.Errorf("RetryAfterSeconds(%d) = %q, want %q", ms, got, want)
		}
	}
}
