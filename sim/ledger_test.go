package sim

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestLedgerEndpoint(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	do(t, s, "POST", chat("std"), hello)
	do(t, s, "POST", chat("std"), `{}`)
	do(t, s, "POST", chat("std"), hello, FaultHeader, "503")
	do(t, s, "POST", chat("std"), hello, "api-key", "bad")
	do(t, s, "POST", chat("nope"), hello)

	rec := do(t, s, "GET", "/_sim/ledger", "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("ledger: %d", rec.Code)
	}
	var raw map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("ledger JSON: %v\n%s", err, rec.Body)
	}
	if len(raw) != 1 || len(raw["deployments"]) != 3 {
		t.Fatalf("ledger shape: %s", rec.Body)
	}
	for name, entry := range raw["deployments"] {
		for _, k := range []string{"kind", "region", "requests", "responses", "charged_tokens", "usage", "normalized_tokens", "utilization", "remaining_tokens", "remaining_requests"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("%s lacks %q", name, k)
			}
		}
		if len(entry) != 10 {
			t.Errorf("%s has %d fields, want 10", name, len(entry))
		}
	}
	want := `{"kind":"standard","region":"eastus2","requests":4,"responses":{"200":1,"400":1,"401":1,"503":1},"charged_tokens":100,` +
		`"usage":{"prompt_tokens":9,"cached_tokens":0,"completion_tokens":5,"total_tokens":14},"normalized_tokens":14,"utilization":0,"remaining_tokens":900,"remaining_requests":9}`
	if got := string(raw["deployments"]["std"]["requests"]); got != "4" {
		t.Errorf("requests %s", got)
	}
	b, _ := json.Marshal(s.Ledger().Deployments["std"])
	if string(b) != want {
		t.Errorf("std ledger\n got %s\nwant %s", b, want)
	}

	if rec := do(t, s, "POST", "/_sim/reset", ""); rec.Code != 200 {
		t.Fatalf("reset: %d", rec.Code)
	}
	b, _ = json.Marshal(s.Ledger().Deployments["std"])
	if want := `{"kind":"standard","region":"eastus2","requests":0,"responses":{},"charged_tokens":0,"usage":{"prompt_tokens":0,"cached_tokens":0,"completion_tokens":0,"total_tokens":0},"normalized_tokens":0,"utilization":0,"remaining_tokens":1000,"remaining_requests":10}`; string(b) != want {
		t.Errorf("after reset\n got %s\nwant %s", b, want)
	}
	if rec := do(t, s, "POST", "/_sim/ledger", ""); rec.Code != 405 {
		t.Errorf("POST ledger: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/_sim/reset", ""); rec.Code != 405 {
		t.Errorf("GET reset: %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/_sim/health", ""); rec.Code != 200 {
		t.Errorf("health: %d", rec.Code)
	}
}

func TestResetClearsThrottling(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	s.deployments["ptu"].admit(s.clock.Now(), 10000)
	do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"x"}],"max_tokens":1000}`)
	for _, dep := range []string{"ptu", "std"} {
		if rec := do(t, s, "POST", chat(dep), hello); rec.Code != 429 {
			t.Fatalf("%s: %d before reset, want 429", dep, rec.Code)
		}
	}
	s.Reset()
	for _, dep := range []string{"ptu", "std"} {
		if rec := do(t, s, "POST", chat(dep), hello); rec.Code != 200 {
			t.Errorf("%s: %d after reset", dep, rec.Code)
		}
	}
}

// TestLedgerCountsBeforeTheClientSeesTheEnd checks that a client which has
// read a whole response (or seen the reset) always finds it in the ledger:
// end-to-end tests read the ledger right after their requests.
func TestLedgerCountsBeforeTheClientSeesTheEnd(t *testing.T) {
	s, _ := newTestSim(t, strings.Replace(testConfig, "tpm: 1000\n    rpm: 60", "tpm: 100000000\n    rpm: 100000000", 1))
	srv := startHTTP(t, s)
	cases := []struct {
		name, body, fault, key string
	}{
		{"json", hello, "", "200"},
		{"stream", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, "", "200"},
		{"error", `{}`, "", "400"},
		{"fault", hello, "503", "503"},
		{"reset", hello, "reset", "reset"},
		{"reset mid-stream", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, "reset-mid-stream", "reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			for i := range 30 {
				var headers []string
				if tc.fault != "" {
					headers = []string{FaultHeader, tc.fault}
				}
				if resp, err := postHTTP(t, srv.URL+chat("std"), tc.body, headers...); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if got := s.Ledger().Deployments["std"].Responses[tc.key]; got != int64(i+1) {
					t.Fatalf("after %d responses the ledger has %d %q", i+1, got, tc.key)
				}
			}
		})
	}
}
