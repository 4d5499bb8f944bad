package openai

import (
	"errors"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name      string
		op        Operation
		body      string
		want      Request
		wantParam string // "" with wantErr false: no error
		wantErr   bool
		// storeFalse: the body says store: false (every other want has Store set).
		storeFalse bool
	}{
		{name: "minimal chat", body: `{"messages":[{"role":"user","content":"hi"}]}`},
		{name: "routing fields", body: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_tokens":50,"max_completion_tokens":60,"messages":[]}`,
			want: Request{Model: "gpt-4o", Stream: true, IncludeUsage: true, HasStreamOptions: true, MaxTokens: 50, MaxCompletionTokens: 60}},
		{name: "empty body", body: ``, wantErr: true},
		{name: "malformed", body: `{"messages":[`, wantErr: true},
		{name: "not an object", body: `[1,2]`, wantErr: true},
		{name: "messages missing", body: `{"model":"gpt-4o"}`, wantErr: true, wantParam: "messages"},
		{name: "messages null", body: `{"messages":null}`, wantErr: true, wantParam: "messages"},
		{name: "messages a string", body: `{"messages":"hi"}`, wantErr: true, wantParam: "messages"},
		{name: "max_tokens a string", body: `{"messages":[],"max_tokens":"5"}`, wantErr: true, wantParam: "max_tokens"},
		{name: "max_tokens negative", body: `{"messages":[],"max_tokens":-1}`, wantErr: true, wantParam: "max_tokens"},
		{name: "stream a string", body: `{"messages":[],"stream":"yes"}`, wantErr: true, wantParam: "stream"},
		{name: "embeddings need input", op: Embeddings, body: `{"model":"x"}`, wantErr: true, wantParam: "input"},
		{name: "embeddings", op: Embeddings, body: `{"input":"hello"}`},
		{name: "embeddings token arrays", op: Embeddings, body: `{"input":[[1,2],[3]],"dimensions":256}`},
		{name: "completions need prompt", op: Completions, body: `{"model":"x"}`, wantErr: true, wantParam: "prompt"},
		{name: "completions", op: Completions, body: `{"prompt":["a","b"],"max_tokens":7,"stream":true}`, want: Request{MaxTokens: 7, Stream: true}},
		{name: "responses need model", op: Responses, body: `{"input":"hi"}`, wantErr: true, wantParam: "model"},
		{name: "responses", op: Responses, body: `{"model":"gpt-4o","input":"hi","previous_response_id":"resp_1","max_output_tokens":30,"stream":true}`,
			want: Request{Model: "gpt-4o", PreviousResponseID: "resp_1", MaxOutputTokens: 30, Stream: true}},
		{name: "responses not stored", op: Responses, body: `{"model":"gpt-4o","input":"hi","store":false}`, want: Request{Model: "gpt-4o"}, storeFalse: true},
		{name: "responses max_output_tokens negative", op: Responses, body: `{"model":"m","max_output_tokens":-2}`, wantErr: true, wantParam: "max_output_tokens"},
		{name: "responses previous id a number", op: Responses, body: `{"model":"m","previous_response_id":3}`, wantErr: true, wantParam: "previous_response_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.op, []byte(tt.body))
			if tt.wantErr {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *RequestError", err)
				}
				if re.Param != tt.wantParam {
					t.Errorf("param = %q, want %q (message %q)", re.Param, tt.wantParam, re.Message)
				}
				if re.Message == "" {
					t.Error("empty message")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tt.want.Store = !tt.storeFalse
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`))
	f.Add([]byte(`{"messages":"x"}`))
	f.Add([]byte(`{"stream_options":null,"messages":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []Operation{ChatCompletions, Embeddings} {
			_, err := ParseRequest(op, body)
			var re *RequestError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
	})
}

func TestRequestUsage(t *testing.T) {
	tests := []struct{ name, body string }{
		{"no stream_options", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{"leading space", `  { "stream":true, "messages":[] }`},
		{"include_usage false", `{"stream":true,"stream_options":{"include_usage":false},"messages":[]}`},
		{"other option", `{"stream":true,"stream_options":{"x":1},"messages":[]}`},
		{"empty object", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(noRequiredFields, []byte(tt.body)) // no required fields
			if err != nil {
				t.Fatal(err)
			}
			out, err := RequestUsage([]byte(tt.body), r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequest(noRequiredFields, out)
			if err != nil {
				t.Fatalf("result does not parse: %v\n%s", err, out)
			}
			if !got.IncludeUsage || got.Stream != r.Stream {
				t.Errorf("got %+v from %s", got, out)
			}
		})
	}
}

// noRequiredFields is an operation ParseRequest requires nothing of.
const noRequiredFields = Operation(99)
