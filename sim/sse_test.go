package sim

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

type sseEvent struct {
	raw     string
	ID      string            `json:"id"`
	Model   string            `json:"model"`
	Object  string            `json:"object"`
	Choices []json.RawMessage `json:"choices"`
	Usage   json.RawMessage   `json:"usage"`
	Filter  json.RawMessage   `json:"prompt_filter_results"`
}

func readSSE(t *testing.T, body string) ([]sseEvent, bool) {
	t.Helper()
	var events []sseEvent
	done := false
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		if done {
			t.Fatalf("event after [DONE]")
		}
		ev := sseEvent{raw: data}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, data)
		}
		events = append(events, ev)
	}
	return events, done
}

func TestStreaming(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		wantTokens   int
		includeUsage bool
		wantFinish   string
	}{
		{"without usage", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, 5, false, "stop"},
		{"with usage", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, 5, true, "stop"},
		{"cut by max_tokens", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":3,"stream_options":{"include_usage":true}}`, 3, true, "length"},
		{"usage false", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false}}`, 5, false, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestSim(t, testConfig)
			rec := do(t, s, "POST", chat("std"), tt.body)
			if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			if rec.Header().Get("X-Ratelimit-Remaining-Tokens") == "" {
				t.Errorf("stream without rate-limit headers")
			}
			events, done := readSSE(t, rec.Body.String())
			if !done {
				t.Fatalf("no [DONE]")
			}
			first := events[0]
			if first.ID != "" || first.Model != "" || len(first.Choices) != 0 || len(first.Filter) == 0 {
				t.Errorf("first event is not the prompt-filter event: %s", first.raw)
			}
			var text strings.Builder
			var finish string
			var usage *struct {
				Prompt     int `json:"prompt_tokens"`
				Completion int `json:"completion_tokens"`
				Total      int `json:"total_tokens"`
			}
			for i, ev := range events[1:] {
				if ev.Object != "chat.completion.chunk" || !strings.HasPrefix(ev.ID, "chatcmpl-") || ev.Model != "gpt-4o" {
					t.Errorf("event %d: %s", i+1, ev.raw)
				}
				nullUsage := string(ev.Usage) == "null"
				if len(ev.Choices) == 0 {
					if usage != nil || !tt.includeUsage {
						t.Errorf("unexpected usage event: %s", ev.raw)
					}
					if err := json.Unmarshal(ev.Usage, &usage); err != nil || usage == nil {
						t.Fatalf("usage event: %s", ev.raw)
					}
					continue
				}
				if tt.includeUsage != nullUsage {
					t.Errorf("event %d: include_usage %v but usage %q", i+1, tt.includeUsage, ev.Usage)
				}
				var c struct {
					Delta struct {
						Content *string `json:"content"`
						Role    string  `json:"role"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				}
				if err := json.Unmarshal(ev.Choices[0], &c); err != nil {
					t.Fatal(err)
				}
				if i == 0 && c.Delta.Role != "assistant" {
					t.Errorf("second event has no assistant role: %s", ev.raw)
				}
				if c.Delta.Content != nil {
					text.WriteString(*c.Delta.Content)
				}
				if c.FinishReason != nil {
					finish = *c.FinishReason
				}
			}
			if got := len(strings.Fields(text.String())); got != tt.wantTokens {
				t.Errorf("%d content tokens, want %d", got, tt.wantTokens)
			}
			if finish != tt.wantFinish {
				t.Errorf("finish_reason %q, want %q", finish, tt.wantFinish)
			}
			if tt.includeUsage {
				if usage == nil || usage.Completion != tt.wantTokens || usage.Total != usage.Prompt+usage.Completion {
					t.Errorf("usage %+v", usage)
				}
				if last := events[len(events)-1]; len(last.Choices) != 0 {
					t.Errorf("usage must be the last event before [DONE]")
				}
			}
			l := s.Ledger().Deployments["std"]
			if l.Usage.CompletionTokens != int64(tt.wantTokens) || l.Responses["200"] != 1 {
				t.Errorf("ledger %+v", l)
			}
		})
	}
}

func TestCompletionFilter(t *testing.T) {
	cfg := strings.Replace(testConfig, "throttle_headers: retry-after", "throttle_headers: retry-after\n    completion_filter_phrase: dark secret\n    completion: {mode: fixed, tokens: 9}", 1)
	cfg = strings.Replace(cfg, "    completion: {mode: fixed, tokens: 5}\n", "", 1)
	s, _ := newTestSim(t, cfg)
	t.Run("non-stream", func(t *testing.T) {
		rec := do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"tell me the DARK secret"}]}`)
		if rec.Code != 200 {
			t.Fatalf("status %d, want 200", rec.Code)
		}
		var v struct {
			Choices []struct {
				FinishReason         string                     `json:"finish_reason"`
				ContentFilterResults map[string]json.RawMessage `json:"content_filter_results"`
				Message              struct{ Content string }   `json:"message"`
			} `json:"choices"`
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		c := v.Choices[0]
		if c.FinishReason != "content_filter" || !strings.Contains(string(c.ContentFilterResults["violence"]), `"filtered":true`) {
			t.Errorf("choice %+v", c)
		}
		if got := len(strings.Fields(c.Message.Content)); got != 4 || v.Usage.CompletionTokens != 4 {
			t.Errorf("%d words, usage %d; want the filter to stop at 4 of 9", got, v.Usage.CompletionTokens)
		}
	})
	t.Run("stream", func(t *testing.T) {
		rec := do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"dark secret"}],"stream":true}`)
		events, done := readSSE(t, rec.Body.String())
		if !done {
			t.Fatal("no [DONE]")
		}
		last := events[len(events)-1]
		if !strings.Contains(last.raw, `"finish_reason":"content_filter"`) || !strings.Contains(last.raw, `"filtered":true`) {
			t.Errorf("last event %s", last.raw)
		}
	})
	t.Run("other prompts are not filtered", func(t *testing.T) {
		rec := do(t, s, "POST", chat("std"), hello)
		if !strings.Contains(rec.Body.String(), `"finish_reason":"stop"`) {
			t.Errorf("body %s", rec.Body)
		}
	})
}

func TestAsyncContentFilterStream(t *testing.T) {
	cfg := strings.Replace(testConfig, "completion: {mode: fixed, tokens: 5}", "completion: {mode: fixed, tokens: 25}\n    async_content_filter: true", 1)
	s, _ := newTestSim(t, cfg)
	rec := do(t, s, "POST", chat("std"), `{"messages":[{"role":"user","content":"hi"}],"stream":true,"n":2}`)
	events, done := readSSE(t, rec.Body.String())
	if !done {
		t.Fatal("no [DONE]")
	}
	type offsets struct{ Check, Start, End int64 }
	var (
		annotations = map[int][]offsets{}
		chars       = map[int]int64{}
		finished    = map[int]bool{}
	)
	for _, ev := range events[1:] {
		var c struct {
			Index   int `json:"index"`
			Offsets *struct {
				Check int64 `json:"check_offset"`
				Start int64 `json:"start_offset"`
				End   int64 `json:"end_offset"`
			} `json:"content_filter_offsets"`
			Results json.RawMessage `json:"content_filter_results"`
			Delta   *struct {
				Content *string `json:"content"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		}
		if len(ev.Choices) != 1 {
			t.Fatalf("event with %d choices: %s", len(ev.Choices), ev.raw)
		}
		if err := json.Unmarshal(ev.Choices[0], &c); err != nil {
			t.Fatal(err)
		}
		switch {
		case c.Offsets != nil:
			if ev.ID != "" || ev.Model != "" || c.Delta != nil || len(c.Results) == 0 {
				t.Errorf("annotation event shape: %s", ev.raw)
			}
			annotations[c.Index] = append(annotations[c.Index], offsets{c.Offsets.Check, c.Offsets.Start, c.Offsets.End})
		case c.Delta != nil && c.Delta.Content != nil && *c.Delta.Content != "":
			if len(c.Results) != 0 {
				t.Errorf("content delta with filter results in async mode: %s", ev.raw)
			}
			if finished[c.Index] {
				t.Errorf("content after finish")
			}
			chars[c.Index] += int64(len(*c.Delta.Content))
		case c.FinishReason != nil:
			finished[c.Index] = true
		}
	}
	for i := range 2 {
		a := annotations[i]
		// 25 tokens: after 10, after 20, and the last one after the finish events.
		if len(a) != 3 {
			t.Fatalf("choice %d: %d annotations, want 3: %+v", i, len(a), a)
		}
		var prev int64
		for _, o := range a {
			if o.Start != prev || o.Check != o.Start || o.End < o.Start {
				t.Errorf("choice %d: annotations not contiguous: %+v", i, a)
			}
			prev = o.End
		}
		if prev != chars[i] {
			t.Errorf("choice %d: annotations end at %d, content has %d characters", i, prev, chars[i])
		}
	}
}
