package extproc

import (
	"testing"

	"github.com/spillway-gw/spillway/openai"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want target
		ok   bool
	}{
		{"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", target{op: openai.ChatCompletions, opPath: "chat/completions", model: "gpt-4o"}, true},
		{"/openai/deployments/gpt-4o/chat/completions", target{op: openai.ChatCompletions, opPath: "chat/completions", model: "gpt-4o"}, true},
		{"/openai/deployments/emb/embeddings?api-version=2024-10-21", target{op: openai.Embeddings, opPath: "embeddings", model: "emb"}, true},
		{"/openai/v1/chat/completions", target{op: openai.ChatCompletions, opPath: "chat/completions"}, true},
		{"/v1/chat/completions", target{op: openai.ChatCompletions, opPath: "chat/completions"}, true},
		{"/v1/embeddings", target{op: openai.Embeddings, opPath: "embeddings"}, true},
		{"/openai/deployments//chat/completions", target{}, false},
		{"/openai/deployments/gpt-4o", target{}, false},
		{"/openai/deployments/gpt-4o/completions", target{}, false},
		{"/v1/models", target{}, false},
		{"/", target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parsePath(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parsePath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestUpstreamPath(t *testing.T) {
	b := &Backend{Deployment: "gpt-4o-ptu", APIVersion: "2024-10-21"}
	if got, want := upstreamPath(b, "chat/completions"), "/openai/deployments/gpt-4o-ptu/chat/completions?api-version=2024-10-21"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
