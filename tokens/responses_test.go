package tokens

import (
	"errors"
	"testing"
)

// TestCountResponsesAsChat: a Responses request counts exactly as the chat
// request it stands for (instructions = system message, input = messages,
// flat function tools = wrapped ones).
func TestCountResponsesAsChat(t *testing.T) {
	const params = `{"type":"object","properties":{"location":{"type":"string","description":"The city"},"unit":{"type":"string","enum":["c","f"]}}}`
	tests := []struct {
		name, responses, chat string
	}{
		{"input string",
			`{"model":"m","input":"Tell me a three sentence bedtime story about a unicorn."}`,
			`{"messages":[{"role":"user","content":"Tell me a three sentence bedtime story about a unicorn."}]}`},
		{"instructions and items",
			`{"model":"m","instructions":"You are a helpful assistant.","input":[{"role":"user","content":"Knock knock."},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Who's there?"}]},{"role":"user","content":[{"type":"input_text","text":"Orange."}]}]}`,
			`{"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Knock knock."},{"role":"assistant","content":[{"type":"text","text":"Who's there?"}]},{"role":"user","content":[{"type":"text","text":"Orange."}]}]}`},
		{"function tools",
			`{"model":"m","input":"weather in Paris?","tools":[{"type":"function","name":"get_weather","description":"Get the weather.","parameters":` + params + `}]}`,
			`{"messages":[{"role":"user","content":"weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather.","parameters":` + params + `}}]}`},
		{"low-detail image",
			`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"what is it?"},{"type":"input_image","image_url":"https://example.com/a.png","detail":"low"}]}]}`,
			`{"messages":[{"role":"user","content":[{"type":"text","text":"what is it?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}}]}]}`},
	}
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		m := mustModel(t, model)
		for _, tt := range tests {
			t.Run(model+"/"+tt.name, func(t *testing.T) {
				r, err := CountResponses(m, []byte(tt.responses))
				if err != nil {
					t.Fatal(err)
				}
				c, err := CountChat(m, []byte(tt.chat))
				if err != nil {
					t.Fatal(err)
				}
				if r.Prompt != c.Prompt || r.Tools != c.Tools || r.Images != c.Images {
					t.Fatalf("responses %+v, chat %+v", r, c)
				}
			})
		}
	}
}

func TestCountResponses(t *testing.T) {
	m := mustModel(t, "gpt-4o")
	enc := m.Encoding
	call := m.PerMessage + enc.CountString("get_weather") + enc.CountString(`{"location":"Paris"}`)
	output := m.PerMessage + enc.CountString(`{"temp":21}`)
	tests := []struct {
		name    string
		body    string
		prompt  int
		max     int
		maxSet  bool
		wantErr bool
	}{
		{name: "function call round trip",
			body:   `{"model":"m","input":[{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"location\":\"Paris\"}","status":"completed"},{"type":"function_call_output","call_id":"call_1","output":"{\"temp\":21}"}],"max_output_tokens":50}`,
			prompt: call + output + m.Reply, max: 50, maxSet: true},
		{name: "no input (previous response only)", body: `{"model":"m","previous_response_id":"resp_1"}`, prompt: m.Reply},
		{name: "built-in tool", body: `{"model":"m","input":"x","tools":[{"type":"web_search_preview","search_context_size":"low"}]}`,
			prompt: m.PerMessage + enc.CountString("user") + enc.CountString("x") + m.Reply + enc.CountString("low")},
		{name: "instructions not a string", body: `{"model":"m","instructions":3}`, wantErr: true},
		{name: "input a number", body: `{"model":"m","input":3}`, wantErr: true},
		{name: "item a number", body: `{"model":"m","input":[3]}`, wantErr: true},
		{name: "bad max_output_tokens", body: `{"model":"m","max_output_tokens":1.5}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CountResponses(m, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRequest) {
					t.Fatalf("err = %v, want ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Prompt != tt.prompt || c.MaxTokens != tt.max || c.MaxTokensSet != tt.maxSet {
				t.Fatalf("got prompt %d max %d/%v; want %d %d/%v", c.Prompt, c.MaxTokens, c.MaxTokensSet, tt.prompt, tt.max, tt.maxSet)
			}
		})
	}
}
