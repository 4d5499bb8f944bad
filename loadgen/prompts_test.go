package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestReadPrompts(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     int
		errs     []string
	}{
		{"two lines and a blank", `{"messages":[{"role":"user","content":"a"}]}` + "\n\n" + `{"messages":[{"role":"user","content":"b"}],"max_tokens":5}` + "\n", 2, nil},
		{"not JSON", "{\"messages\":[{}]}\nnope\n", 1, []string{"line 2: not a JSON object"}},
		{"no messages", `{"messages":[]}` + "\n" + `{"prompt":"x"}`, 0, []string{"line 1: messages: required", "line 2: messages: required"}},
		{"empty file", "\n \n", 0, []string{"no requests"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadPrompts(strings.NewReader(c.in))
			if len(got) != c.want {
				t.Errorf("%d requests, want %d", len(got), c.want)
			}
			if (err != nil) != (len(c.errs) > 0) {
				t.Fatalf("error = %v, want %q", err, c.errs)
			}
			for _, e := range c.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error = %v, want it to contain %q", err, e)
				}
			}
		})
	}
}

func TestPromptBody(t *testing.T) {
	for _, c := range []struct {
		name, in   string
		stream     bool
		wantStream bool
		want       string
	}{
		{"as it is", `{"messages":[1],"max_tokens":3}`, false, false, `{"messages":[1],"max_tokens":3}`},
		{"made to stream", `{"messages":[1]}`, true, true, `{"messages":[1],"stream":true,"stream_options":{"include_usage":true}}`},
		{"streams by itself, asks for usage", `{"messages":[1],"stream":true,"stream_options":{"x":1}}`, false, true, `{"messages":[1],"stream":true,"stream_options":{"include_usage":true,"x":1}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, stream, err := promptBody(json.RawMessage(c.in), c.stream)
			if err != nil || stream != c.wantStream || string(b) != c.want {
				t.Errorf("promptBody = %s, %v, %v; want %s, %v", b, stream, err, c.want, c.wantStream)
			}
		})
	}
}

func TestRunSendsPrompts(t *testing.T) {
	f := &fakeGateway{}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body chatRequest
		b, _ := readAll(r)
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		seen[body.Messages[1].Content]++
		mu.Unlock()
		r.Body = readCloser(b)
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	prompts, err := ReadPrompts(strings.NewReader(
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"one two three"}],"max_tokens":7}` + "\n" +
			`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"four"}],"max_tokens":2,"stream":true}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv.URL)
	cfg.Rate, cfg.Duration, cfg.Requests, cfg.Concurrency, cfg.StreamShare = 0, 0, 6, 2, 0
	cfg.Prompts = prompts
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t)
	if seen["one two three"] != 3 || seen["four"] != 3 {
		t.Errorf("prompts sent: %v, want each line 3 times", seen)
	}
	for i, r := range rep.Results {
		// The fake answers a stream with 3 completion tokens, a JSON body with max_tokens.
		wantStream, wantSize, wantUsage := i%2 == 1, []string{"prompt-1", "prompt-2"}[i%2], []int{7, 3}[i%2]
		if !r.OK() || r.Stream != wantStream || r.Size != wantSize || r.CompletionTokens != wantUsage {
			t.Errorf("result %d = %+v", i, r)
		}
	}
}

func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
