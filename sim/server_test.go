package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testConfig = `
keys: ["k1", "k2"]
max_body_bytes: 4096
seed: 7
deployments:
  - name: ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 6000
    context_window: 8192
    completion: {mode: fixed, tokens: 20}
    content_filter_phrase: "Forbidden Fruit"
  - name: std
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 1000
    rpm: 60
    completion: {mode: fixed, tokens: 5}
    throttle_headers: retry-after
  - name: emb
    kind: standard
    model: text-embedding-3-small
    region: westus3
    tpm: 100000
`

func newTestSim(t testing.TB, yaml string, opts ...func(*Options)) (*Server, *fakeClock) {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	clock := newFakeClock()
	o := Options{Clock: clock}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clock
}

const chatPath = "/openai/deployments/%s/chat/completions?api-version=2024-10-21"

func chat(dep string) string { return fmt.Sprintf(chatPath, dep) }

const hello = `{"messages":[{"role":"user","content":"hello"}],"max_tokens":100}`

// do sends one request to h; headers are name, value pairs. "api-key: k1" is
// added unless an auth header is given or "noauth" is passed as a name.
func do(t testing.TB, h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	auth := true
	for i := 0; i+1 < len(headers); i += 2 {
		switch headers[i] {
		case "noauth":
			auth = false
		case "api-key", "Authorization":
			auth = false
			r.Header.Set(headers[i], headers[i+1])
		default:
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	if auth {
		r.Header.Set("api-key", "k1")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

type errorBody struct {
	Error struct {
		Code       *string         `json:"code"`
		Message    string          `json:"message"`
		Type       string          `json:"type"`
		Param      *string         `json:"param"`
		InnerError json.RawMessage `json:"innererror"`
	} `json:"error"`
}

func decodeError(t testing.TB, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body is not Azure's JSON shape: %v\n%s", err, rec.Body)
	}
	if e.Error.Message == "" {
		t.Fatalf("error body without message: %s", rec.Body)
	}
	return e
}

func TestRoutesAndErrors(t *testing.T) {
	long := `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		headers  []string
		status   int
		wantCode string // error code, or "" for success
		wantMsg  string
	}{
		{"chat", "POST", chat("std"), hello, nil, 200, "", ""},
		{"embeddings", "POST", "/openai/deployments/emb/embeddings?api-version=2024-10-21", `{"input":"hi"}`, nil, 200, "", ""},
		{"v1 chat", "POST", "/openai/v1/chat/completions", `{"model":"std","messages":[{"role":"user","content":"hi"}]}`, nil, 200, "", ""},
		{"v1 embeddings", "POST", "/openai/v1/embeddings", `{"model":"emb","input":["a","b"]}`, nil, 200, "", ""},
		{"v1 unknown model", "POST", "/openai/v1/chat/completions", `{"model":"nope","messages":[]}`, nil, 404, "DeploymentNotFound", "nope"},
		{"v1 missing model", "POST", "/openai/v1/chat/completions", `{"messages":[]}`, nil, 400, "", "'model' is a required property"},
		{"unknown deployment", "POST", chat("nope"), hello, nil, 404, "DeploymentNotFound", `"nope"`},
		{"missing api-version", "POST", "/openai/deployments/std/chat/completions", hello, nil, 404, "404", "Resource not found"},
		{"unknown operation", "POST", "/openai/deployments/std/audio/speech?api-version=2024-10-21", hello, nil, 404, "404", "Resource not found"},
		{"unknown path", "GET", "/nope", "", nil, 404, "404", "Resource not found"},
		{"GET chat", "GET", chat("std"), "", nil, 405, "405", "not allowed"},
		{"no key", "POST", chat("std"), hello, []string{"noauth", ""}, 401, "401", "Access denied"},
		{"wrong key", "POST", chat("std"), hello, []string{"api-key", "nope"}, 401, "401", "Access denied"},
		{"bearer", "POST", chat("std"), hello, []string{"Authorization", "Bearer k2"}, 200, "", ""},
		{"wrong bearer", "POST", chat("std"), hello, []string{"Authorization", "Bearer k3"}, 401, "401", ""},
		{"too large", "POST", chat("std"), long, nil, 413, "request_too_large", "4096"},
		{"malformed json", "POST", chat("std"), `{"messages":`, nil, 400, "", "could not parse the JSON body"},
		{"missing messages", "POST", chat("std"), `{}`, nil, 400, "", "'messages' is a required property"},
		{"wrong type", "POST", chat("std"), `{"messages":[{"role":"user","content":"x"}],"max_tokens":"9"}`, nil, 400, "", "Invalid type for 'max_tokens'"},
		{"context length", "POST", chat("ptu"), `{"messages":[{"role":"user","content":"hi"}],"max_tokens":8190}`, nil, 400, "context_length_exceeded", "maximum context length is 8192 tokens"},
		{"content filter", "POST", chat("ptu"), `{"messages":[{"role":"user","content":"I want the forbidden FRUIT"}]}`, nil, 400, "content_filter", "content management policy"},
		{"usage on an old api-version", "POST", "/openai/deployments/std/chat/completions?api-version=2024-06-01",
			`{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`, nil, 400, "", "stream_options"},
		{"bad fault header", "POST", chat("std"), hello, []string{FaultHeader, "teapot"}, 400, "", "x-sim-fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestSim(t, testConfig)
			rec := do(t, s, tt.method, tt.path, tt.body, tt.headers...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if tt.status == 200 {
				var v map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
					t.Fatalf("body: %v", err)
				}
				return
			}
			e := decodeError(t, rec)
			code := ""
			if e.Error.Code != nil {
				code = *e.Error.Code
			}
			if code != tt.wantCode {
				t.Errorf("code %q, want %q", code, tt.wantCode)
			}
			if !strings.Contains(e.Error.Message, tt.wantMsg) {
				t.Errorf("message %q, want %q", e.Error.Message, tt.wantMsg)
			}
		})
	}
}

func TestNoKeysMeansNoAuth(t *testing.T) {
	s, _ := newTestSim(t, strings.Replace(testConfig, `keys: ["k1", "k2"]`, "keys: []", 1))
	if rec := do(t, s, "POST", chat("std"), hello, "noauth", ""); rec.Code != 200 {
		t.Errorf("status %d without keys configured", rec.Code)
	}
}

func TestSuccessHeaders(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	t.Run("standard", func(t *testing.T) {
		rec := do(t, s, "POST", chat("std"), hello, "x-ms-client-request-id", "client-1")
		want := map[string]string{
			"X-Ratelimit-Limit-Requests":     "10", // 60 RPM -> 10 per 10 s
			"X-Ratelimit-Limit-Tokens":       "1000",
			"X-Ratelimit-Remaining-Requests": "9",
			"X-Ratelimit-Remaining-Tokens":   "900", // charged max_tokens
			"X-Ms-Region":                    "eastus2",
			"X-Ms-Client-Request-Id":         "client-1",
			"X-Sim-Deployment":               "std",
		}
		for h, v := range want {
			if got := rec.Header().Get(h); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
		if id := rec.Header().Get("Apim-Request-Id"); len(id) != 36 {
			t.Errorf("apim-request-id %q", id)
		}
		if rec.Header().Get("Azure-Openai-Deployment-Utilization") != "" {
			t.Errorf("standard deployment sent the utilization header")
		}
	})
	t.Run("provisioned", func(t *testing.T) {
		rec := do(t, s, "POST", chat("ptu"), hello)
		// Approx prompt: 3 + (3 + 1 + 2) = 9 tokens, completion 20: 29 / 6000.
		if got := rec.Header().Get("Azure-Openai-Deployment-Utilization"); got != "0.5%" {
			t.Errorf("utilization %q, want 0.5%%", got)
		}
		if rec.Header().Get("X-Ms-Region") != "eastus" || rec.Header().Get("X-Ratelimit-Remaining-Tokens") != "" {
			t.Errorf("headers %v", rec.Header())
		}
	})
	t.Run("provisioned errors carry utilization", func(t *testing.T) {
		rec := do(t, s, "POST", chat("ptu"), `{}`)
		if rec.Code != 400 || rec.Header().Get("Azure-Openai-Deployment-Utilization") == "" {
			t.Errorf("status %d headers %v", rec.Code, rec.Header())
		}
	})
}

func TestStandardTokenThrottling(t *testing.T) {
	tests := []struct {
		name     string
		estimate string
		body     string
		cost     int64 // charged per request
	}{
		{"max_tokens rule", EstimateMaxTokens, `{"messages":[{"role":"user","content":"hello"}],"max_tokens":300}`, 300},
		{"max_tokens rule, missing max_tokens charges 16", EstimateMaxTokens, `{"messages":[{"role":"user","content":"hello"}]}`, 16},
		{"prompt plus max_tokens rule", EstimatePromptPlusMaxTokens, `{"messages":[{"role":"user","content":"hello"}],"max_tokens":300}`, 309},
		{"n multiplies max_tokens", EstimateMaxTokens, `{"messages":[{"role":"user","content":"hello"}],"max_tokens":100,"n":3}`, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newTestSim(t, strings.Replace(testConfig, "rpm: 60", "rpm: 6000\n    estimate: "+tt.estimate, 1))
			// Admitted while the minute's total is below 1000 tokens.
			admitted := (1000 + tt.cost - 1) / tt.cost
			for i := range admitted {
				rec := do(t, s, "POST", chat("std"), tt.body)
				if rec.Code != 200 {
					t.Fatalf("request %d: status %d %s", i, rec.Code, rec.Body)
				}
				if got, want := rec.Header().Get("X-Ratelimit-Remaining-Tokens"), strconv.FormatInt(max(0, 1000-(i+1)*tt.cost), 10); got != want {
					t.Errorf("request %d: remaining tokens %s, want %s", i, got, want)
				}
			}
			clock.Advance(30 * time.Second)
			rec := do(t, s, "POST", chat("std"), tt.body)
			if rec.Code != 429 {
				t.Fatalf("status %d after %d requests, want 429", rec.Code, admitted)
			}
			if got := rec.Header().Get("Retry-After"); got != "30" {
				t.Errorf("retry-after %q, want 30 (the first charges leave the minute window)", got)
			}
			if e := decodeError(t, rec); !strings.Contains(e.Error.Message, "token rate limit") || !strings.Contains(e.Error.Message, "2024-10-21") {
				t.Errorf("message %q", e.Error.Message)
			}
			if got := rec.Header().Get("X-Ratelimit-Remaining-Tokens"); got != "0" {
				t.Errorf("remaining tokens on 429 = %q", got)
			}
			clock.Advance(30 * time.Second)
			if rec := do(t, s, "POST", chat("std"), tt.body); rec.Code != 200 {
				t.Errorf("status %d a minute later, want 200", rec.Code)
			}
			l := s.Ledger().Deployments["std"]
			if l.ChargedTokens != (admitted+1)*tt.cost || l.Responses["429"] != 1 || l.Requests != admitted+2 {
				t.Errorf("ledger %+v", l)
			}
		})
	}
}

func TestStandardRequestThrottling(t *testing.T) {
	s, clock := newTestSim(t, strings.Replace(strings.Replace(testConfig, "rpm: 60", "rpm: 12", 1), "tpm: 1000", "tpm: 100000", 1))
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`
	for i := range 2 {
		if rec := do(t, s, "POST", chat("std"), body); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		clock.Advance(time.Second)
	}
	rec := do(t, s, "POST", chat("std"), body)
	if rec.Code != 429 {
		t.Fatalf("third request in 10 s: %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "8" {
		t.Errorf("retry-after %q, want 8", got)
	}
	if e := decodeError(t, rec); !strings.Contains(e.Error.Message, "call rate limit") {
		t.Errorf("message %q", e.Error.Message)
	}
	if rec.Header().Get("X-Ratelimit-Remaining-Requests") != "0" || rec.Header().Get("X-Ratelimit-Limit-Requests") != "2" {
		t.Errorf("headers %v", rec.Header())
	}
	clock.Advance(8 * time.Second)
	if rec := do(t, s, "POST", chat("std"), body); rec.Code != 200 {
		t.Errorf("after the window: %d", rec.Code)
	}
	if l := s.Ledger().Deployments["std"]; l.ChargedTokens != 3 {
		t.Errorf("a request throttled by the request window must not be charged tokens: %+v", l)
	}
}

func TestProvisionedBucket(t *testing.T) {
	s, clock := newTestSim(t, testConfig)
	big := `{"messages":[{"role":"user","content":"hello"}],"max_tokens":4000}` // 9 + 4000 charged on arrival
	util := func(rec *httptest.ResponseRecorder) string {
		return rec.Header().Get("Azure-Openai-Deployment-Utilization")
	}

	rec := do(t, s, "POST", chat("ptu"), big)
	if rec.Code != 200 {
		t.Fatalf("first: %d", rec.Code)
	}
	// Corrected to the real cost on completion: 9 prompt + 20 completion.
	if got := util(rec); got != "0.5%" {
		t.Errorf("utilization after correction %q, want 0.5%%", got)
	}
	if l := s.Ledger().Deployments["ptu"]; l.ChargedTokens != 4009 || l.Usage.TotalTokens != 29 || l.Utilization != 29.0/6000 {
		t.Errorf("ledger %+v", l)
	}

	// Streams stay charged at the estimate until they finish; simulate two
	// in-flight estimates by charging through admit directly.
	d := s.deployments["ptu"]
	if _, ok, _, _ := d.admit(clock.Now(), 6000); !ok {
		t.Fatalf("admit below 100 %% refused")
	}
	rec = do(t, s, "POST", chat("ptu"), hello)
	if rec.Code != 429 {
		t.Fatalf("over 100 %%: %d, want 429", rec.Code)
	}
	// 29 + 6000 tokens in a 6000-per-minute bucket: 29 over = 290 ms, +1 ms.
	if got := rec.Header().Get("Retry-After-Ms"); got != "291" {
		t.Errorf("retry-after-ms %q, want 291", got)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("retry-after %q, want 1", got)
	}
	if got := util(rec); got != "100.5%" {
		t.Errorf("utilization on 429 %q, want 100.5%%", got)
	}
	clock.Advance(291 * time.Millisecond)
	if rec := do(t, s, "POST", chat("ptu"), hello); rec.Code != 200 {
		t.Errorf("after retry-after-ms: %d", rec.Code)
	}
	l := s.Ledger().Deployments["ptu"]
	if l.Responses["200"] != 2 || l.Responses["429"] != 1 || l.Requests != 3 || l.RemainingRequests != -1 {
		t.Errorf("ledger %+v", l)
	}
}

func TestLegacyAPIVersionThrottlesWith424(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	s.deployments["ptu"].admit(s.clock.Now(), 7000) // over 100 %
	rec := do(t, s, "POST", "/openai/deployments/ptu/chat/completions?api-version=2023-03-15-preview", hello)
	if rec.Code != 424 {
		t.Fatalf("status %d, want 424", rec.Code)
	}
	if e := decodeError(t, rec); !strings.Contains(e.Error.Message, "2023-03-15-preview") {
		t.Errorf("message %q", e.Error.Message)
	}
	if rec := do(t, s, "POST", chat("ptu"), hello); rec.Code != 429 {
		t.Errorf("current api-version: %d, want 429", rec.Code)
	}
}

func TestTimeScale(t *testing.T) {
	s, clock := newTestSim(t, "time_scale: 0.1\n"+testConfig)
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000}`
	if rec := do(t, s, "POST", chat("std"), body); rec.Code != 200 {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := do(t, s, "POST", chat("std"), body)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "6" {
		t.Fatalf("status %d retry-after %q, want 429 and 6 (a minute is 6 s)", rec.Code, rec.Header().Get("Retry-After"))
	}
	clock.Advance(6 * time.Second)
	if rec := do(t, s, "POST", chat("std"), body); rec.Code != 200 {
		t.Errorf("after a scaled minute: %d", rec.Code)
	}
	// The PTU drains 6000 tokens per 6 s.
	d := s.deployments["ptu"]
	d.admit(clock.Now(), 9000)
	rec = do(t, s, "POST", chat("ptu"), hello)
	if rec.Code != 429 || rec.Header().Get("Retry-After-Ms") != "3001" {
		t.Errorf("status %d retry-after-ms %q, want 429 and 3001", rec.Code, rec.Header().Get("Retry-After-Ms"))
	}
}

func TestHeaderFaults(t *testing.T) {
	tests := []struct {
		fault    string
		dep      string
		status   int
		wantCode string
		ledger   string
	}{
		{"408", "std", 408, "Timeout", "408"},
		{"500", "std", 500, "", "500"},
		{"502", "std", 502, "", "502"},
		{"503", "ptu", 503, "", "503"},
		{"504", "std", 504, "", "504"},
		{"429", "std", 429, "429", "429"},
		{"424", "std", 424, "429", "424"},
		{"503@ptu", "std", 200, "", "200"},
		{"503@std", "std", 503, "", "503"},
		{"slow-first-byte=10@std, 502@ptu,500@std", "std", 500, "", "500"},
	}
	for _, tt := range tests {
		t.Run(tt.fault+" on "+tt.dep, func(t *testing.T) {
			s, _ := newTestSim(t, testConfig)
			rec := do(t, s, "POST", chat(tt.dep), hello, FaultHeader, tt.fault)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				e := decodeError(t, rec)
				code := ""
				if e.Error.Code != nil {
					code = *e.Error.Code
				}
				if code != tt.wantCode {
					t.Errorf("code %q, want %q", code, tt.wantCode)
				}
			}
			if tt.status >= 500 {
				if e := decodeError(t, rec); e.Error.Type != "server_error" {
					t.Errorf("type %q", e.Error.Type)
				}
			}
			l := s.Ledger().Deployments[tt.dep]
			if l.Requests != 1 || l.Responses[tt.ledger] != 1 {
				t.Errorf("ledger %+v, want 1 request answered %s", l, tt.ledger)
			}
		})
	}
	t.Run("429 fault uses the deployment's form", func(t *testing.T) {
		s, _ := newTestSim(t, testConfig)
		rec := do(t, s, "POST", chat("std"), hello, FaultHeader, "429")
		if rec.Header().Get("Retry-After") != "1" || rec.Header().Get("Retry-After-Ms") != "" {
			t.Errorf("std is configured retry-after only: %v", rec.Header())
		}
		rec = do(t, s, "POST", chat("ptu"), hello, FaultHeader, "429")
		if rec.Header().Get("Retry-After-Ms") != "1000" || rec.Header().Get("Azure-Openai-Deployment-Utilization") == "" {
			t.Errorf("ptu: %v", rec.Header())
		}
		if l := s.Ledger().Deployments["std"]; l.ChargedTokens != 0 {
			t.Errorf("a fault must not charge: %+v", l)
		}
	})
	t.Run("slow first byte", func(t *testing.T) {
		s, clock := newTestSim(t, testConfig)
		start := clock.Now()
		rec := do(t, s, "POST", chat("std"), hello, FaultHeader, "slow-first-byte=1500,slow-first-byte=500@std,slow-first-byte=99@ptu")
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		if got := clock.Now().Sub(start); got != 2*time.Second {
			t.Errorf("delayed %v, want 2s", got)
		}
	})
}

// startHTTP serves s on a real loopback socket (resets need a TCP connection).
func startHTTP(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func postHTTP(t *testing.T, url, body string, headers ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("api-key", "k1")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return (&http.Client{Transport: tr}).Do(req)
}

func isReset(err error) bool {
	var ne *net.OpError
	return err != nil && (errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF"))
}

func TestResetFaults(t *testing.T) {
	t.Run("reset before any response", func(t *testing.T) {
		s, _ := newTestSim(t, testConfig)
		srv := startHTTP(t, s)
		resp, err := postHTTP(t, srv.URL+chat("std"), hello, FaultHeader, "reset@std")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got a response %d, want a reset", resp.StatusCode)
		}
		if !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("error %v, want a connection reset", err)
		}
		if l := s.Ledger().Deployments["std"]; l.Responses["reset"] != 1 || l.Requests != 1 {
			t.Errorf("ledger %+v", l)
		}
	})
	t.Run("reset mid-stream", func(t *testing.T) {
		s, _ := newTestSim(t, testConfig)
		srv := startHTTP(t, s)
		resp, err := postHTTP(t, srv.URL+chat("std"), `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, FaultHeader, "reset-mid-stream")
		if err != nil {
			t.Fatalf("want headers first, got %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
			t.Fatalf("status %d %v", resp.StatusCode, resp.Header)
		}
		b, err := io.ReadAll(resp.Body)
		if !isReset(err) {
			t.Fatalf("read err %v, want a reset", err)
		}
		if n := strings.Count(string(b), "data: "); n != resetMidStreamEvents {
			t.Errorf("%d events before the reset, want %d:\n%s", n, resetMidStreamEvents, b)
		}
		if strings.Contains(string(b), "[DONE]") {
			t.Errorf("stream finished despite the reset")
		}
		if l := s.Ledger().Deployments["std"]; l.Responses["reset"] != 1 || l.Usage.TotalTokens != 0 || l.ChargedTokens != 16 {
			t.Errorf("ledger %+v", l)
		}
	})
	t.Run("reset mid-body", func(t *testing.T) {
		s, _ := newTestSim(t, testConfig)
		srv := startHTTP(t, s)
		resp, err := postHTTP(t, srv.URL+chat("ptu"), hello, FaultHeader, "reset-mid-stream@ptu")
		if err != nil {
			t.Fatalf("want headers first, got %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Ms-Region") != "eastus" {
			t.Fatalf("status %d %v", resp.StatusCode, resp.Header)
		}
		b, err := io.ReadAll(resp.Body)
		if !isReset(err) {
			t.Fatalf("read err %v, want a reset", err)
		}
		if len(b) == 0 || int64(len(b)) >= resp.ContentLength {
			t.Errorf("read %d of %d bytes, want a part", len(b), resp.ContentLength)
		}
		l := s.Ledger().Deployments["ptu"]
		if l.Responses["reset"] != 1 || l.Usage.TotalTokens != 0 {
			t.Errorf("ledger %+v", l)
		}
		// The arrival charge is corrected to the prompt only: nothing was delivered.
		if l.Utilization != 9.0/6000 {
			t.Errorf("utilization %v, want the prompt's 9 tokens", l.Utilization)
		}
	})
}

func TestProbabilisticFaultsAreSeeded(t *testing.T) {
	cfg := strings.Replace(testConfig, "throttle_headers: retry-after", "throttle_headers: retry-after\n    faults: {probability: 0.3, kinds: [503, 500]}", 1)
	run := func() string {
		s, _ := newTestSim(t, cfg)
		var sb strings.Builder
		for range 200 {
			rec := do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`)
			sb.WriteString(strconv.Itoa(rec.Code))
			sb.WriteByte(' ')
		}
		return sb.String()
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("same seed, different fault sequences")
	}
	n := strings.Count(a, "503") + strings.Count(a, "500")
	if n < 30 || n > 90 {
		t.Errorf("%d faults in 200 requests at p=0.3", n)
	}
	if !strings.Contains(a, "503") || !strings.Contains(a, "500") {
		t.Errorf("both kinds should occur: %s", a)
	}
}

func TestDeterministicResponses(t *testing.T) {
	cfg := strings.Replace(testConfig, "completion: {mode: fixed, tokens: 5}", "completion: {mode: random, min: 1, max: 50}", 1)
	run := func() []string {
		s, _ := newTestSim(t, cfg)
		var out []string
		for range 5 {
			rec := do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`)
			rec = do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"hi"}]}`)
			out = append(out, rec.Header().Get("Apim-Request-Id")+rec.Body.String())
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("response %d differs for the same seed:\n%s\n%s", i, a[i], b[i])
		}
	}
	if a[0] == a[1] {
		t.Errorf("consecutive responses are identical")
	}
}

func TestLatencyModel(t *testing.T) {
	cfg := strings.Replace(testConfig, "completion: {mode: fixed, tokens: 5}", "completion: {mode: fixed, tokens: 5}\n    latency: {first_token_ms: 100, tokens_per_second: 10}", 1)
	tests := []struct {
		name string
		body string
		want time.Duration
	}{
		// 100 ms to the first token, then 5 tokens at 10/s.
		{"non-stream", hello, 600 * time.Millisecond},
		// The first content token is sent at first-token time; the fifth 400 ms later.
		{"stream", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newTestSim(t, cfg)
			start := clock.Now()
			if rec := do(t, s, "POST", chat("std"), tt.body); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if got := clock.Now().Sub(start); got != tt.want {
				t.Errorf("took %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("client gone", func(t *testing.T) {
		s, _ := newTestSim(t, cfg)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := httptest.NewRequestWithContext(ctx, "POST", chat("ptu"), strings.NewReader(hello))
		r.Header.Set("api-key", "k1")
		s.ServeHTTP(httptest.NewRecorder(), r)
		// The client is gone before the response: counted as 499, nothing reported.
		r = httptest.NewRequestWithContext(ctx, "POST", chat("std"), strings.NewReader(hello))
		r.Header.Set("api-key", "k1")
		s.ServeHTTP(httptest.NewRecorder(), r)
		if l := s.Ledger().Deployments["std"]; l.Responses[statusClientClosed] != 1 || l.Usage.TotalTokens != 0 {
			t.Errorf("ledger %+v", l)
		}
	})
}

func TestPromptCounterInjection(t *testing.T) {
	tests := []struct {
		name    string
		counter PromptCounter
		want    int64
	}{
		{"exact counter", func(model string, body []byte) (int, error) {
			if model != "gpt-4o" {
				return 0, fmt.Errorf("model %q", model)
			}
			return 1234, nil
		}, 1234},
		{"failing counter falls back to the approximation", func(string, []byte) (int, error) { return 0, errors.New("boom") }, 9},
		{"negative count falls back to the approximation", func(string, []byte) (int, error) { return -1, nil }, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestSim(t, testConfig, func(o *Options) { o.PromptCounter = tt.counter })
			rec := do(t, s, "POST", chat("std"), hello)
			var v struct {
				Usage struct {
					Prompt int64 `json:"prompt_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Usage.Prompt != tt.want {
				t.Errorf("prompt tokens %d (%v), want %d", v.Usage.Prompt, err, tt.want)
			}
		})
	}
}

func TestConcurrentRequests(t *testing.T) {
	cfg := strings.Replace(testConfig, "tpm: 1000\n    rpm: 60", "tpm: 100000000\n    rpm: 100000000", 1)
	s, _ := newTestSim(t, cfg, func(o *Options) { o.Clock = RealClock{} })
	srv := startHTTP(t, s)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	client := srv.Client()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dep := []string{"std", "ptu"}[w%2]
			for i := range each {
				body := hello
				if i%5 == 0 {
					body = `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`
				}
				req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+chat(dep), strings.NewReader(body))
				req.Header.Set("api-key", "k1")
				if i%7 == 0 {
					req.Header.Set(FaultHeader, "503@"+dep)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 503 && resp.StatusCode != 429 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	// Read the ledger while requests run.
	for range 10 {
		do(t, s, "GET", "/_sim/ledger", "")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l := s.Ledger()
	var total, answered int64
	for _, d := range l.Deployments {
		total += d.Requests
		for _, n := range d.Responses {
			answered += n
		}
	}
	if total != workers*each || answered != total {
		t.Errorf("ledger counted %d requests and %d responses, want %d", total, answered, workers*each)
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, time.Second) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/_sim/health")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v on cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestProvisionedOutputRatio: with output_ratio 4 a provisioned bucket
// charges max_tokens four times on arrival and settles at prompt + 4 ×
// completion, as Azure measures a gpt-4o PTU.
func TestProvisionedOutputRatio(t *testing.T) {
	s, _ := newTestSim(t, strings.Replace(testConfig, "  - name: ptu\n    kind: provisioned\n", "  - name: ptu\n    kind: provisioned\n    output_ratio: 4\n", 1))
	rec := do(t, s, "POST", chat("ptu"), `{"messages":[{"role":"user","content":"hello"}],"max_tokens":100}`) // 9 prompt, 20 completion
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	l := s.Ledger().Deployments["ptu"]
	if l.ChargedTokens != 9+4*100 {
		t.Errorf("charged on arrival %d, want %d (prompt + 4 × max_tokens)", l.ChargedTokens, 9+4*100)
	}
	if want := float64(9+4*20) / 6000; l.Utilization != want || l.Usage.TotalTokens != 29 {
		t.Errorf("utilization %v, want %v (prompt + 4 × completion of 6000); usage %+v", l.Utilization, want, l.Usage)
	}
}
