package sim

import "testing"

func TestApproxPromptTokens(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		// 3 primer + per message: 3 + ceil(len(role)/4) + ceil(len(text)/4).
		{"one short message", `{"messages":[{"role":"user","content":"hi"}]}`, 3 + 3 + 1 + 1},
		{"two messages", `{"messages":[{"role":"system","content":"12345678"},{"role":"user","content":"123456789"}]}`,
			3 + (3 + 2 + 2) + (3 + 1 + 3)},
		{"name adds one plus its text", `{"messages":[{"role":"user","name":"bob","content":""}]}`, 3 + 3 + 1 + 1 + 1},
		{"images", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"low"}},{"type":"image_url","image_url":{"url":"u"}}]}]}`,
			3 + 3 + 1 + 85 + 765},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApproxPromptTokens("gpt-4o", []byte(tt.body))
			if err != nil {
				t.Fatalf("ApproxPromptTokens: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("invalid body is an error", func(t *testing.T) {
		if _, err := ApproxPromptTokens("gpt-4o", []byte(`{`)); err == nil {
			t.Errorf("no error")
		}
	})
}

func TestApproxEmbeddingTokens(t *testing.T) {
	r := embeddingsRequest{inputs: []string{"", "12345"}, tokenCount: 7}
	if got := approxEmbeddingTokens(&r); got != 7+1+2 {
		t.Errorf("got %d, want 10", got)
	}
}
