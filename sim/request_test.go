package sim

import (
	"strings"
	"testing"
)

func TestParseChatRequest(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r chatRequest)
	}{
		{"minimal", `{"messages":[{"role":"user","content":"hi"}]}`, func(t *testing.T, r chatRequest) {
			if len(r.messages) != 1 || r.messages[0].text != "hi" || r.maxTokens != 0 || r.n != 1 || r.stream {
				t.Errorf("got %+v", r)
			}
		}},
		{"max_tokens", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":42}`, func(t *testing.T, r chatRequest) {
			if r.maxTokens != 42 {
				t.Errorf("maxTokens = %d", r.maxTokens)
			}
		}},
		{"max_completion_tokens", `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7}`, func(t *testing.T, r chatRequest) {
			if r.maxTokens != 7 {
				t.Errorf("maxTokens = %d", r.maxTokens)
			}
		}},
		{"null max_tokens is absent", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":null}`, func(t *testing.T, r chatRequest) {
			if r.maxTokens != 0 {
				t.Errorf("maxTokens = %d", r.maxTokens)
			}
		}},
		{"stream with usage", `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, func(t *testing.T, r chatRequest) {
			if !r.stream || !r.includeUsage {
				t.Errorf("stream %v includeUsage %v", r.stream, r.includeUsage)
			}
		}},
		{"parts, images, name, tool calls", `{"model":"m","n":2,"tools":[{"type":"function"}],"messages":[
			{"role":"system","content":"be brief","name":"boss"},
			{"role":"user","content":[{"type":"text","text":"look "},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},{"type":"text","text":"here"}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]},
			{"role":"tool","content":"42"}]}`, func(t *testing.T, r chatRequest) {
			if r.model != "m" || r.n != 2 || r.toolsBytes == 0 {
				t.Errorf("model %q n %d toolsBytes %d", r.model, r.n, r.toolsBytes)
			}
			m := r.messages[1]
			if m.text != "look here" || len(m.images) != 1 || m.images[0] != "low" {
				t.Errorf("message 1 = %+v", m)
			}
			if r.messages[0].name != "boss" || r.messages[2].extra == 0 {
				t.Errorf("messages = %+v", r.messages)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseChatRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tt.check(t, r)
		})
	}
}

func TestParseChatRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   string
	}{
		{"not json", `{"messages":`, "", "could not parse the JSON body"},
		{"not an object", `[1,2]`, "", "could not parse the JSON body"},
		{"empty body", ``, "", "could not parse the JSON body"},
		{"missing messages", `{"model":"x"}`, "messages", "'messages' is a required property"},
		{"null messages", `{"messages":null}`, "messages", "'messages' is a required property"},
		{"empty messages", `{"messages":[]}`, "messages", "too short"},
		{"messages wrong type", `{"messages":"hi"}`, "messages", "Invalid type for 'messages'"},
		{"message not an object", `{"messages":[1]}`, "messages", "Invalid type"},
		{"missing role", `{"messages":[{"content":"hi"}]}`, "messages[0].role", "Missing required parameter"},
		{"bad role", `{"messages":[{"role":"wizard","content":"hi"}]}`, "messages[0].role", "Invalid value: 'wizard'"},
		{"content number", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content", "Invalid type for 'messages[0].content'"},
		{"content object", `{"messages":[{"role":"user","content":{"a":1}}]}`, "messages[0].content", "Invalid type"},
		{"bad part type", `{"messages":[{"role":"user","content":[{"type":"audio"}]}]}`, "messages[0].content[0].type", "Invalid value: 'audio'"},
		{"image without url", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "messages[0].content[0].image_url", "Missing required parameter"},
		{"max_tokens string", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":"10"}`, "max_tokens", "Invalid type for 'max_tokens'"},
		{"max_tokens float", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}`, "max_tokens", "Invalid type"},
		{"max_tokens zero", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, "max_tokens", "below minimum value"},
		{"max_completion_tokens negative", `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-3}`, "max_completion_tokens", "below minimum value"},
		{"stream string", `{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}`, "stream", "Invalid type for 'stream'"},
		{"stream_options without stream", `{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, "stream_options", "only allowed when 'stream' is enabled"},
		{"n too big", `{"messages":[{"role":"user","content":"hi"}],"n":1000}`, "n", "Invalid 'n'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseChatRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("parse succeeded")
			}
			if err.Status != 400 || err.Type != "invalid_request_error" {
				t.Errorf("status %d type %q, want 400 invalid_request_error", err.Status, err.Type)
			}
			param := ""
			if err.Param != nil {
				param = *err.Param
			}
			if param != tt.wantParam {
				t.Errorf("param = %q, want %q", param, tt.wantParam)
			}
			if !strings.Contains(err.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", err.Message, tt.wantMsg)
			}
		})
	}
}

func TestParseEmbeddingsRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantCount int
		wantTok   int64
		wantErr   string
	}{
		{"string", `{"input":"hello world"}`, 1, 0, ""},
		{"strings", `{"input":["a","b","c"]}`, 3, 0, ""},
		{"token ids", `{"input":[1,2,3,4]}`, 1, 4, ""},
		{"token arrays", `{"input":[[1,2],[3]]}`, 2, 3, ""},
		{"base64 and dimensions", `{"input":"x","encoding_format":"base64","dimensions":8}`, 1, 0, ""},
		{"missing input", `{}`, 0, 0, "'input' is a required property"},
		{"empty list", `{"input":[]}`, 0, 0, "must not be empty"},
		{"wrong type", `{"input":{"a":1}}`, 0, 0, "Invalid type for 'input'"},
		{"bad format", `{"input":"x","encoding_format":"hex"}`, 0, 0, "encoding_format"},
		{"bad dimensions", `{"input":"x","dimensions":0}`, 0, 0, "dimensions"},
		{"not json", `nope`, 0, 0, "could not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseEmbeddingsRequest([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Message, tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.count != tt.wantCount || r.tokenCount != tt.wantTok {
				t.Errorf("count %d tokens %d, want %d %d", r.count, r.tokenCount, tt.wantCount, tt.wantTok)
			}
		})
	}
}
