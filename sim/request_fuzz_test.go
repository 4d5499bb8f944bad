package sim

import (
	"encoding/json"
	"testing"
)

// FuzzParseChatRequest checks that no body makes the request parser panic, that
// every rejection is a well-formed Azure 400, and that accepted requests count.
// The seed corpus runs in plain `go test`; explore with
// `go test ./sim -run '^$' -fuzz FuzzParseChatRequest`.
func FuzzParseChatRequest(f *testing.F) {
	seeds := []string{
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":10}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u","detail":"high"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"assistant","content":null,"tool_calls":[]}],"n":3,"tools":[]}`,
		`{"messages":[{"role":"user","content":"\u0000\ud800"}],"max_completion_tokens":1}`,
		`{"messages":[{"role":"user","content":5}]}`,
		`{"messages":{}}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"max_tokens":1e400}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseChatRequest(body)
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d for %q", err.Status, body)
			}
			var v map[string]any
			if jerr := json.Unmarshal(err.Body(), &v); jerr != nil {
				t.Fatalf("error body is not JSON: %v", jerr)
			}
			return
		}
		if len(r.messages) == 0 || r.n < 1 || r.maxTokens < 0 {
			t.Fatalf("accepted an invalid request %+v from %q", r, body)
		}
		if n := approxChatTokens(&r); n < approxReplyPrimer {
			t.Fatalf("approx tokens %d < primer", n)
		}
	})
}

func FuzzParseEmbeddingsRequest(f *testing.F) {
	for _, s := range []string{`{"input":"x"}`, `{"input":[[1],[2,3]]}`, `{"input":[1,"a"]}`, `{"input":null}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseEmbeddingsRequest(body)
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d", err.Status)
			}
			return
		}
		if r.count < 1 || r.count > maxEmbeddingInputs {
			t.Fatalf("accepted count %d", r.count)
		}
		_ = appendEmbeddings(nil, &r, `"m"`, 4, 1, approxEmbeddingTokens(&r))
	})
}

// FuzzParseNewAPIs: no Responses or completions body makes the simulator
// panic; every rejection is a well-formed Azure 400, and an accepted
// Responses body yields a JSON chat body for the prompt counter.
func FuzzParseNewAPIs(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi","instructions":"be brief","max_output_tokens":5}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"u"}]},{"type":"function_call","name":"f","arguments":"{}"}],"tools":[{"type":"function","name":"f","parameters":{}}]}`,
		`{"model":"m","previous_response_id":"resp_1"}`,
		`{"prompt":[[1,2],[3]],"n":2,"best_of":3}`, `{"prompt":"x","stream":true,"stream_options":{}}`,
		`{"input":[{"role":5}]}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err interface {
			Body() []byte
		}, status int) {
			if status != 400 {
				t.Fatalf("status %d for %q", status, body)
			}
			var v map[string]any
			if jerr := json.Unmarshal(err.Body(), &v); jerr != nil {
				t.Fatalf("error body is not JSON: %v", jerr)
			}
		}
		if r, err := parseResponsesRequest(body); err != nil {
			check(err, err.Status)
		} else if !json.Valid(r.chat) {
			t.Fatalf("chat body for the counter is not JSON, from %q: %s", body, r.chat)
		}
		if _, err := parseCompletionsRequest(body); err != nil {
			check(err, err.Status)
		}
	})
}
