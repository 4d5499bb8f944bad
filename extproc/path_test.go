package extproc

import (
	"testing"
)

func TestParsePath(t *testing.T) {
	chat, emb, comp := operations["chat/completions"], operations["embeddings"], operations["completions"]
	tests := []struct {
		path string
		want target
		ok   bool
	}{
		{"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", target{op: chat, model: "gpt-4o", query: "api-version=2024-10-21"}, true},
		{"/openai/deployments/gpt-4o/chat/completions", target{op: chat, model: "gpt-4o"}, true},
		{"/openai/deployments/emb/embeddings?api-version=2024-10-21", target{op: emb, model: "emb", query: "api-version=2024-10-21"}, true},
		{"/openai/deployments/instruct/completions?api-version=2024-10-21", target{op: comp, model: "instruct", query: "api-version=2024-10-21"}, true},
		{"/openai/v1/chat/completions", target{op: chat, rest: "chat/completions"}, true},
		{"/v1/chat/completions", target{op: chat, rest: "chat/completions"}, true},
		{"/v1/embeddings", target{op: emb, rest: "embeddings"}, true},
		{"/openai/v1/completions", target{op: comp, rest: "completions"}, true},
		{"/openai/v1/responses", target{op: responsesOp{}, rest: "responses"}, true},
		{"/openai/v1/responses?api-version=preview", target{op: responsesOp{}, rest: "responses", query: "api-version=preview"}, true},
		{"/openai/v1/responses/resp_1", target{op: storedResponseOp{}, rest: "responses/resp_1", id: "resp_1"}, true},
		{"/v1/responses/resp_1/cancel", target{op: storedResponseOp{sub: "cancel"}, rest: "responses/resp_1/cancel", id: "resp_1"}, true},
		{"/openai/v1/responses/resp_1/input_items?limit=5", target{op: storedResponseOp{sub: "input_items"}, rest: "responses/resp_1/input_items", id: "resp_1", query: "limit=5"}, true},
		{"/openai/responses?api-version=2025-04-01-preview", target{op: responsesOp{}, rest: "responses"}, true},
		{"/openai/responses/resp_1/input_items?api-version=2025-04-01-preview&limit=3", target{op: storedResponseOp{sub: "input_items"}, rest: "responses/resp_1/input_items", id: "resp_1", query: "limit=3"}, true},
		{"/openai/chat/completions", target{}, false},
		{"/openai/v1/models", target{op: modelsOp{}, rest: "models"}, true},
		{"/openai/v1/models/gpt-4o", target{op: modelsOp{}, rest: "models/gpt-4o", id: "gpt-4o"}, true},
		{"/openai/v1/responses/resp_1/other", target{}, false},
		{"/openai/v1/responses/", target{op: responsesOp{}, rest: "responses"}, true},
		{"/openai/deployments/gpt-4o/responses", target{}, false}, // Azure serves Responses on v1 only
		{"/openai/deployments//chat/completions", target{}, false},
		{"/openai/deployments/gpt-4o", target{}, false},
		{"/openai/v1/audio/speech", target{}, false},
		{"/openai/v1/batches", target{}, false},
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

// FuzzParsePath: any path either is refused or names an operation whose
// upstream path parses back to the same operation (the upstream phase of a
// retry sees the previous attempt's path), with no panic.
func FuzzParsePath(f *testing.F) {
	for _, p := range []string{"/openai/v1/responses/resp_1/cancel?x=1", "/openai/deployments/d/embeddings?api-version=1",
		"/v1/models/", "/openai/responses?api-version=2025-04-01-preview&a=b", "/openai/v1/responses//"} {
		f.Add(p)
	}
	b := &Backend{Deployment: "dep", APIVersion: "2024-10-21"}
	f.Fuzz(func(t *testing.T, path string) {
		tgt, ok := parsePath(path)
		if !ok {
			return
		}
		if _, local := tgt.op.(localOperation); local {
			return
		}
		up := tgt.op.upstreamPath(b, tgt)
		again, ok := parsePath(up)
		if !ok || again.op != tgt.op || again.id != tgt.id {
			t.Fatalf("%q -> %q -> %+v, %v", path, up, again, ok)
		}
	})
}
