package sim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// chatDecodeSeeds exercise the fast decoder's accepted shape and every reason
// to hand a body over to encoding/json.
var chatDecodeSeeds = []string{
	`{"messages":[{"role":"user","content":"hi"}],"max_tokens":10}`,
	` { "model" : "gpt-4o" , "messages" : [ { "role" : "system" , "content" : "be \"brief\"\n" , "name" : "x" } , {"role":"user","content":null} ] , "stream" : false , "n" : 2 } `,
	`{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]}],"tools":[{"type":"function"}],"functions":null}`,
	`{"messages":[],"max_tokens":null,"max_completion_tokens":-5,"stream":null,"model":null}`,
	`{"messages":null}`,
	`{}`,
	`{"temperature":0.7,"top_p":1e-3,"stop":["a","b"],"user":"u","logit_bias":{"1":-100},"seed":-0,"messages":[{"role":"user","content":"\u00e9\ud83d\ude00"}]}`,
	`{"messages":[{"role":"user","content":"caf\xc3\xa9 \xff"}]}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}`,
	`{"messages":[{"role":"user","content":"a"}],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"Messages":[{"role":"user","content":"a"}]}`,
	`{"messages":[{"Role":"user","content":"a"}]}`,
	`{"messages":[{"role":"user","content":"a"}],"messages":[]}`,
	`{"messages":[{"role":"user","role":"system","content":"a"}]}`,
	`{"mess\u0061ges":[]}`,
	`{"max_tokens":1.0}`, `{"max_tokens":1e2}`, `{"max_tokens":01}`, `{"max_tokens":99999999999999999999}`, `{"max_tokens":"1"}`,
	`{"messages":[1]}`, `{"messages":[null]}`, `{"messages":{}}`, `{"messages":[{"role":5}]}`,
	`{"a":1,}`, `{"a" 1}`, `{"a":1}x`, `{"a":tru}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`,
	`[]`, `null`, ``, `{`, `"x"`, `{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"n":1,"n":2}`, `{"tools":[1,{"a":[true,false,null]}]}`, `{"ſtream":true}`, `{"K":1}`,
}

func TestDecodeChatBodyMatchesEncodingJSON(t *testing.T) {
	fast := 0
	for _, s := range chatDecodeSeeds {
		t.Run(s, func(t *testing.T) {
			if checkChatDecode(t, []byte(s)) {
				fast++
			}
		})
	}
	if fast < 6 {
		t.Errorf("only %d seeds took the fast path", fast)
	}
}

func TestDecodeChatBodyFastPath(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"plain request", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":10}`, true},
		{"unknown fields skipped", `{"temperature":0.2,"messages":[{"role":"user","content":"hi","x":{"y":[1]}}]}`, true},
		{"content parts go to encoding/json", `{"messages":[{"role":"user","content":[]}]}`, false},
		{"stream_options go to encoding/json", `{"messages":[],"stream":true,"stream_options":{}}`, false},
		{"upper-case key goes to encoding/json", `{"MAX_TOKENS":1}`, false},
		{"duplicate key goes to encoding/json", `{"n":1,"n":2}`, false},
		{"invalid JSON", `{"messages":[}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in chatBody
			if got := decodeChatBody([]byte(tt.body), &in); got != tt.want {
				t.Errorf("fast path = %v, want %v", got, tt.want)
			}
		})
	}
}

// checkChatDecode fails when the fast decoder accepts a body that
// encoding/json decodes differently or rejects. It reports whether the fast
// path was taken.
func checkChatDecode(t *testing.T, b []byte) bool {
	t.Helper()
	var fast chatBody
	if !decodeChatBody(b, &fast) {
		return false
	}
	var ref chatBody
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", b, err)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fast path and encoding/json differ for %q:\nfast %s\nref  %s", b, dumpChatBody(fast), dumpChatBody(ref))
	}
	return true
}

func dumpChatBody(c chatBody) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// FuzzDecodeChatBody is the differential fuzz test of the fast decoder against
// encoding/json: `go test ./sim -run '^$' -fuzz FuzzDecodeChatBody`.
func FuzzDecodeChatBody(f *testing.F) {
	for _, s := range chatDecodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkChatDecode(t, b)
	})
}
