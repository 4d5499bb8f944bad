package tokens

import (
	"errors"
	"testing"
)

func TestCheckContext(t *testing.T) {
	cases := []struct {
		name    string
		window  int
		c       ChatCount
		wantErr string
	}{
		{"fits", 8192, ChatCount{Prompt: 8000, MaxTokens: 192, MaxTokensSet: true, N: 1}, ""},
		{"fits without max", 8192, ChatCount{Prompt: 8192, N: 1}, ""},
		{"unknown window", 0, ChatCount{Prompt: 1 << 30}, ""},
		{"n does not multiply", 100, ChatCount{Prompt: 50, MaxTokens: 50, MaxTokensSet: true, N: 4}, ""},
		{
			"prompt too long", 8192, ChatCount{Prompt: 10383, N: 1},
			"This model's maximum context length is 8192 tokens. However, your messages resulted in 10383 tokens. Please reduce the length of the messages.",
		},
		{
			"prompt plus completion too long", 4097, ChatCount{Prompt: 200, MaxTokens: 4000, MaxTokensSet: true, N: 1},
			"This model's maximum context length is 4097 tokens. However, you requested 4200 tokens (200 in the messages, 4000 in the completion). Please reduce the length of the messages or completion.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckContext(tc.window, tc.c)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var ce *ContextError
			if !errors.As(err, &ce) || err.Error() != tc.wantErr {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestArrival(t *testing.T) {
	c := ChatCount{Prompt: 100, N: 2}
	if got := c.Arrival(16); got != 132 {
		t.Errorf("Arrival without max = %d, want 132", got)
	}
	c.MaxTokens, c.MaxTokensSet = 50, true
	if got := c.Arrival(16); got != 200 {
		t.Errorf("Arrival with max = %d, want 200", got)
	}
}
