package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServeHTTP drives the whole handler with arbitrary bodies, paths and
// fault headers: it must never panic (except the deliberate abort of a reset
// fault on a connection that cannot be hijacked), and every answer must be
// Azure's JSON error shape, a chat/embeddings JSON body or an SSE stream.
// Explore with `go test ./sim -run '^$' -fuzz FuzzServeHTTP`.
func FuzzServeHTTP(f *testing.F) {
	f.Add(0, hello, "")
	f.Add(1, `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"n":2}`, "slow-first-byte=5")
	f.Add(2, `{"input":["a","b"],"encoding_format":"base64"}`, "")
	f.Add(3, `{"model":"std","messages":[{"role":"user","content":"hi"}]}`, "503@std")
	f.Add(4, `{"model":"emb","input":"x"}`, "429")
	f.Add(0, `{"messages":[{"role":"user","content":"forbidden fruit"}],"max_tokens":8000}`, "424@ptu,500@std")
	f.Add(0, `{`, "reset")
	f.Add(5, `{"messages":[]}`, "bogus")
	paths := []string{
		chat("std"), chat("ptu"),
		"/openai/deployments/emb/embeddings?api-version=2024-10-21",
		"/openai/v1/chat/completions", "/openai/v1/embeddings",
		"/openai/deployments/std/chat/completions?api-version=2023-03-15-preview",
	}
	s, _ := newTestSim(f, testConfig)
	f.Fuzz(func(t *testing.T, pathIndex int, body, fault string) {
		path := paths[uint(pathIndex)%uint(len(paths))]
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("api-key", "k1")
		if fault != "" && !strings.ContainsAny(fault, "\r\n\x00") {
			r.Header.Set(FaultHeader, fault)
		}
		rec := httptest.NewRecorder()
		aborted := func() (aborted bool) {
			defer func() {
				if p := recover(); p != nil {
					err, ok := p.(error)
					if !ok || !errors.Is(err, http.ErrAbortHandler) {
						panic(p)
					}
					aborted = true
				}
			}()
			s.ServeHTTP(rec, r)
			return false
		}()
		if aborted {
			return
		}
		ct := rec.Header().Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "text/event-stream"):
			if rec.Code != 200 || !strings.HasSuffix(rec.Body.String(), "data: [DONE]\n\n") {
				t.Fatalf("stream status %d without [DONE]", rec.Code)
			}
		case ct == "application/json":
			var v map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("status %d body is not JSON: %v", rec.Code, err)
			}
			if _, isErr := v["error"]; isErr == (rec.Code == 200) {
				t.Fatalf("status %d with body %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d with content type %q", rec.Code, ct)
		}
	})
}
