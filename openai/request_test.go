package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
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

// decodeWire must give what encoding/json gives, for any body.
func FuzzDecodeWireMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi \"there\" \u00e9"}],"max_tokens":5}`,
		`{"messages":"x"}`, `{"stream_options":null,"messages":[]}`, `{"Model":"a","model":"b","MESSAGES":[1]}`,
		`{"messages":[],"max_tokens":"5","stream":1}`, `{"stream_options":{"include_usage":"yes"},"messages":[1e5,-0.5,true,null,{}]}`,
		`{"input":[1,2],"model":null}`, `{"prompt":"p","store":false,"previous_response_id":"r","max_output_tokens":3,"Prompt":1}`,
		`{"store":"no","messages":[]}`, ` { "messages" : [ ] } `, `{"messages":[01]}`, `{"a\u0041":1}`, `{"messages":[]}x`,
		"{\"messages\":[\"\x01\"]}", `{"max_tokens":1.5,"messages":[]}`, `{"max_tokens":99999999999999999999,"messages":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow chatWire
		errFast := decodeWire(body, &fast)
		errSlow := json.Unmarshal(body, &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: decodeWire error %v, encoding/json error %v", body, errFast, errSlow)
		}
		if errFast != nil {
			var tf, ts *json.UnmarshalTypeError
			if errors.As(errFast, &tf) != errors.As(errSlow, &ts) {
				t.Fatalf("%q: errors differ: %v / %v", body, errFast, errSlow)
			}
			if tf != nil && (tf.Field != ts.Field || tf.Value != ts.Value || tf.Type != ts.Type) {
				t.Fatalf("%q: type errors differ: %+v / %+v", body, tf, ts)
			}
			return
		}
		if normal(fast) != normal(slow) {
			t.Fatalf("%q: decodeWire %+v, encoding/json %+v", body, normal(fast), normal(slow))
		}
	})
}

// normal makes two chatWires comparable: every field, pointers followed,
// raw members as the body has them.
func normal(w chatWire) string {
	var b strings.Builder
	v := reflect.ValueOf(w)
	for i := range v.NumField() {
		f := v.Field(i)
		if raw, ok := f.Interface().(json.RawMessage); ok {
			fmt.Fprintf(&b, "%s=%q;", v.Type().Field(i).Name, raw)
			continue
		}
		if f.IsNil() {
			fmt.Fprintf(&b, "%s=nil;", v.Type().Field(i).Name)
			continue
		}
		fmt.Fprintf(&b, "%s=%+v;", v.Type().Field(i).Name, f.Elem().Interface())
	}
	return b.String()
}

func BenchmarkParseRequest(b *testing.B) {
	msg, _ := json.Marshal(strings.Repeat("the quick brown fox jumps over the lazy dog ", 600))
	body := []byte(`{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":` + string(msg) + `}],"max_tokens":20,"stream":true}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseRequest(ChatCompletions, body); err != nil {
			b.Fatal(err)
		}
	}
}
