package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

// azureStream is an Azure-shaped SSE stream: a prompt-filter event with empty
// choices, content deltas, the finish chunk, the usage chunk, [DONE].
const azureStream = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n" +
	"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"index\":0}],\"id\":\"c1\",\"usage\":null}\n\n" +
	"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"index\":0}],\"id\":\"c1\",\"usage\":null}\n\n" +
	"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],\"id\":\"c1\",\"usage\":null}\n\n" +
	"data: {\"choices\":[],\"id\":\"c1\",\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n" +
	"data: [DONE]\n\n"

func TestSSEUsageSplitAtEveryByte(t *testing.T) {
	for _, stream := range []string{azureStream, strings.ReplaceAll(azureStream, "\n", "\r\n")} {
		for cut := 0; cut <= len(stream); cut++ {
			var s SSEUsage
			s.Write([]byte(stream[:cut]))
			s.Write([]byte(stream[cut:]))
			u, ok := s.Usage()
			if !ok || u.PromptTokens != 11 || u.CompletionTokens != 2 || u.TotalTokens != 13 || u.CachedTokens() != 4 || u.ReasoningTokens() != 1 {
				t.Fatalf("cut at %d: usage %+v, found %v", cut, u, ok)
			}
			if !s.Done() || s.Events != 5 {
				t.Fatalf("cut at %d: done=%v events=%d, want true, 5", cut, s.Done(), s.Events)
			}
		}
	}
}

func TestSSEUsageByteByByte(t *testing.T) {
	var s SSEUsage
	for i := 0; i < len(azureStream); i++ {
		s.Write([]byte{azureStream[i]})
	}
	if u, ok := s.Usage(); !ok || u.TotalTokens != 13 {
		t.Fatalf("usage %+v, found %v", u, ok)
	}
}

func TestSSEUsageWithout(t *testing.T) {
	tests := []struct {
		name   string
		stream string
	}{
		{"no usage chunk", strings.Replace(azureStream, `"usage":{"prompt_tokens":11`, `"usage":null,"x":{"prompt_tokens":11`, 1)},
		{"cut before the usage chunk", azureStream[:strings.Index(azureStream, `{"choices":[],"id":"c1"`)]},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s SSEUsage
			s.Write([]byte(tt.stream))
			if u, ok := s.Usage(); ok {
				t.Fatalf("found usage %+v in a stream without one", u)
			}
		})
	}
}

func TestUsageFromJSON(t *testing.T) {
	u, ok := UsageFromJSON([]byte(`{"id":"x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`))
	if !ok || u.PromptTokens != 7 || u.CompletionTokens != 3 || u.TotalTokens != 10 {
		t.Fatalf("got %+v %v", u, ok)
	}
	if _, ok := UsageFromJSON([]byte(`{"error":{}}`)); ok {
		t.Fatal("found usage in an error body")
	}
}

func FuzzSSEUsage(f *testing.F) {
	f.Add([]byte(azureStream), 10)
	f.Add([]byte("data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n"), 3)
	f.Add([]byte("data: {\"usage\":"), 1)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		if cut < 0 {
			cut = -cut
		}
		cut %= len(stream) + 1
		var whole, split SSEUsage
		whole.Write(stream)
		split.Write(stream[:cut])
		split.Write(stream[cut:])
		uw, okw := whole.Usage()
		us, oks := split.Usage()
		if okw != oks || uw.TotalTokens != us.TotalTokens || uw.PromptTokens != us.PromptTokens || whole.Events != split.Events {
			t.Fatalf("split at %d changed the result: whole %+v %v, split %+v %v", cut, uw, okw, us, oks)
		}
	})
}

func TestSSEStripUsage(t *testing.T) {
	want := strings.Replace(azureStream, azureStream[strings.Index(azureStream, `data: {"choices":[],"id":"c1"`):strings.Index(azureStream, "data: [DONE]")], "", 1)
	for cut := 0; cut <= len(azureStream); cut++ {
		s := SSEUsage{Strip: true}
		var out []byte
		out = append(out, s.Write([]byte(azureStream[:cut]))...)
		out = append(out, s.Write([]byte(azureStream[cut:]))...)
		out = append(out, s.Flush()...)
		if string(out) != want {
			t.Fatalf("cut at %d: stripped stream\n%s\nwant\n%s", cut, out, want)
		}
		if u, ok := s.Usage(); !ok || u.TotalTokens != 13 {
			t.Fatalf("cut at %d: usage %+v %v", cut, u, ok)
		}
	}
}

func TestSSEContentForEstimates(t *testing.T) {
	var s SSEUsage
	s.Write([]byte(azureStream))
	if string(s.Content) != "Hello" {
		t.Errorf("content = %q, want %q", s.Content, "Hello")
	}
}

func TestUsageFromJSONForms(t *testing.T) {
	tests := []struct {
		name                    string
		body                    string
		prompt, completion, tot int
		cached, reasoning       int
	}{
		{"chat", `{"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`, 9, 4, 13, 0, 0},
		{"embeddings", `{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}`, 5, 0, 5, 0, 0},
		{"responses", `{"id":"resp_1","usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":3},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}`, 11, 6, 17, 3, 2},
		{"responses without total", `{"usage":{"input_tokens":1,"output_tokens":2}}`, 1, 2, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := UsageFromJSON([]byte(tt.body))
			if !ok || u.PromptTokens != tt.prompt || u.CompletionTokens != tt.completion || u.TotalTokens != tt.tot || u.CachedTokens() != tt.cached || u.ReasoningTokens() != tt.reasoning {
				t.Fatalf("got %+v %v", u, ok)
			}
		})
	}
	if id, u, ok := ResponseFromJSON([]byte(`{"id":"resp_9","status":"queued","usage":null}`)); id != "resp_9" || ok || u.TotalTokens != 0 {
		t.Errorf("a background response: id %q usage %+v %v", id, u, ok)
	}
}

// TestSSECompletionsText: legacy completions stream text in choices[].text,
// counted for a cut stream's estimate.
func TestSSECompletionsText(t *testing.T) {
	var s SSEUsage
	s.Write([]byte("data: {\"choices\":[{\"text\":\"Hel\",\"index\":0}]}\n\ndata: {\"choices\":[{\"text\":\"lo\",\"index\":0}]}\n\n"))
	if string(s.Content) != "Hello" {
		t.Fatalf("content %q", s.Content)
	}
}

// The events without usage are read by a scanner, not a JSON decoder: what it
// collects must be what decoding the event gives.
func TestSSEContentQuickMatchesDecoder(t *testing.T) {
	events := []string{
		`{"choices":[{"delta":{"content":"Hel\"lo\n\u00e9"},"index":0}],"usage":null}`,
		`{"choices":[{"delta":{"role":"assistant","content":""},"index":0}]}`,
		`{"choices":[{"delta":{"content":"a"},"index":0},{"delta":{"content":"b"},"index":1}],"id":"content"}`,
		`{"id":"x \"content\":\"no\"","choices":[{"delta":{"content" : "yes"}}]}`,
		`{"choices":[{"delta":{},"finish_reason":"stop","index":0}],"usage":null}`,
		`{"choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false}}}]}`,
		`{"choices":[{"text":"Hel\tlo","index":0,"logprobs":null}]}`,
	}
	for _, ev := range events {
		var quick SSEUsage
		quick.Write([]byte("data: " + ev + "\n\n"))
		var c usageChunk
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatal(err)
		}
		var want string
		for _, ch := range c.Choices {
			want += ch.Delta.Content + ch.Text
		}
		if string(quick.Content) != want {
			t.Errorf("%s: content %q, want %q", ev, quick.Content, want)
		}
		if _, ok := quick.Usage(); ok {
			t.Errorf("%s: usage found", ev)
		}
	}
}

func BenchmarkSSEUsage(b *testing.B) {
	chunk := []byte("data: {\"choices\":[{\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}},\"delta\":{\"content\":\" hello\"},\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp\",\"usage\":null}\n\n")
	b.SetBytes(int64(len(chunk)))
	var s SSEUsage
	for b.Loop() {
		s.Write(chunk)
		if len(s.Content) > 1<<16 {
			s.Content = s.Content[:0]
		}
	}
}

// UsageFromJSON decodes only the usage member: it must agree with decoding
// the whole body.
func FuzzUsageFromJSON(f *testing.F) {
	f.Add([]byte(`{"id":"x","choices":[{"message":{"content":"a \"b\""}}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`))
	f.Add([]byte(`{"Usage":{"total_tokens":1},"usage":null}`))
	f.Add([]byte(`{"usage":{"total_tokens":"x"}}`))
	f.Add([]byte(`{"usage":{"total_tokens":1}} x`))
	f.Add([]byte(`{"id":"resp_1","usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":3},"output_tokens":6}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := UsageFromJSON(body)
		var w struct {
			Usage *usageWire `json:"usage"`
		}
		err := json.Unmarshal(body, &w)
		wantOK := err == nil && w.Usage != nil
		var want Usage
		if wantOK {
			want = w.Usage.usage()
		}
		if ok != wantOK || got.TotalTokens != want.TotalTokens || got.PromptTokens != want.PromptTokens || got.CompletionTokens != want.CompletionTokens || got.CachedTokens() != want.CachedTokens() {
			t.Fatalf("%q: got %+v %v, encoding/json %+v (err %v)", body, got, ok, want, err)
		}
	})
}

func BenchmarkUsageFromJSON(b *testing.B) {
	body := []byte(`{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"` + strings.Repeat("lorem ipsum dolor ", 40) + `","refusal":null,"role":"assistant"}}],"created":1733000000,"id":"chatcmpl-abc","model":"gpt-4o-2024-11-20","object":"chat.completion","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],"system_fingerprint":"fp_1","usage":{"completion_tokens":20,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":1015,"prompt_tokens_details":{"cached_tokens":0},"total_tokens":1035}}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, ok := UsageFromJSON(body); !ok {
			b.Fatal("no usage")
		}
	}
}
