package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPrompt(t *testing.T) {
	for _, words := range []int{1, 2, 40, 1600} {
		p := Prompt(5, words)
		if got := len(strings.Fields(p)); got != words+1 { // "Request 5." is two fields for one word
			t.Errorf("Prompt(5, %d) has %d fields, want %d", words, got, words+1)
		}
		if Prompt(5, words) != p {
			t.Errorf("Prompt(5, %d) is not deterministic", words)
		}
	}
	if Prompt(1, 100) == Prompt(2, 100) {
		t.Error("two requests have the same prompt")
	}
}

func TestBody(t *testing.T) {
	size := Size{Name: "s", Words: 10, MaxTokens: 77, Weight: 1}
	for _, c := range []struct {
		name   string
		stream bool
	}{{"json", false}, {"stream asks for usage", true}} {
		t.Run(c.name, func(t *testing.T) {
			var v struct {
				Messages []struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"messages"`
				MaxTokens     int             `json:"max_tokens"`
				Stream        *bool           `json:"stream"`
				StreamOptions json.RawMessage `json:"stream_options"`
			}
			if err := json.Unmarshal(Body(3, size, c.stream), &v); err != nil {
				t.Fatal(err)
			}
			if len(v.Messages) != 2 || v.Messages[1].Role != "user" || v.Messages[1].Content != Prompt(3, 10) || v.MaxTokens != 77 {
				t.Errorf("body = %+v", v)
			}
			if c.stream && (v.Stream == nil || !*v.Stream || string(v.StreamOptions) != `{"include_usage":true}`) {
				t.Errorf("streaming body without stream_options.include_usage: %+v", v)
			}
			if !c.stream && (v.Stream != nil || v.StreamOptions != nil) {
				t.Errorf("non-streaming body has stream fields: %+v", v)
			}
		})
	}
}
