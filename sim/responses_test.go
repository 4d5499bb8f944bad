package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Two deployments standing for two Azure resources, each with its own key.
const responsesConfig = `
keys: ["global"]
seed: 3
deployments:
  - name: east
    kind: provisioned
    model: gpt-4o
    capacity_tpm: 100000
    completion: {mode: fixed, tokens: 6}
    keys: ["east-key"]
  - name: west
    kind: standard
    model: gpt-4o
    tpm: 100000
    completion: {mode: fixed, tokens: 6}
    keys: ["west-key"]
`

type simResponse struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	Status             string  `json:"status"`
	PreviousResponseID *string `json:"previous_response_id"`
	Output             []struct {
		Type    string `json:"type"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"output"`
	Usage struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
	} `json:"usage"`
}

// doR is do with the top-level key unless the call names one.
func doR(t *testing.T, s http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	if len(headers) == 0 {
		headers = []string{"api-key", "global"}
	}
	return do(t, s, method, path, body, headers...)
}

func decodeResponse(t *testing.T, body []byte) simResponse {
	t.Helper()
	var r simResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not a response object: %v\n%s", err, body)
	}
	return r
}

func TestResponsesStoredPerDeployment(t *testing.T) {
	s, _ := newTestSim(t, responsesConfig)
	create := doR(t, s, "POST", "/openai/v1/responses", `{"model":"east","input":"Tell me a story.","max_output_tokens":50}`, "api-key", "east-key")
	if create.Code != 200 {
		t.Fatalf("create: %d %s", create.Code, create.Body)
	}
	first := decodeResponse(t, create.Body.Bytes())
	if !strings.HasPrefix(first.ID, "resp_") || first.Object != "response" || first.Status != "completed" || first.Usage.OutputTokens != 6 ||
		first.Usage.InputTokens <= 0 || first.Usage.TotalTokens != first.Usage.InputTokens+6 || len(first.Output) != 1 || first.Output[0].Content[0].Type != "output_text" {
		t.Fatalf("response: %+v", first)
	}

	t.Run("a follow-up on the deployment that stored it carries the conversation", func(t *testing.T) {
		rec := doR(t, s, "POST", "/openai/v1/responses", `{"model":"east","input":"Tell me a story.","previous_response_id":"`+first.ID+`"}`, "api-key", "east-key")
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		r := decodeResponse(t, rec.Body.Bytes())
		if r.PreviousResponseID == nil || *r.PreviousResponseID != first.ID {
			t.Errorf("previous_response_id = %v", r.PreviousResponseID)
		}
		if want := first.Usage.TotalTokens + first.Usage.InputTokens; r.Usage.InputTokens != want {
			t.Errorf("input tokens %d, want %d (the previous turn's input and output, then this input)", r.Usage.InputTokens, want)
		}
	})
	t.Run("a follow-up on another deployment is a 404", func(t *testing.T) {
		rec := doR(t, s, "POST", "/openai/v1/responses", `{"model":"west","input":"more","previous_response_id":"`+first.ID+`"}`)
		if rec.Code != 404 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if e := decodeError(t, rec); e.Error.Param == nil || *e.Error.Param != "previous_response_id" || !strings.Contains(e.Error.Message, first.ID) {
			t.Errorf("error %+v", e)
		}
	})
	t.Run("GET with the storing resource's key", func(t *testing.T) {
		rec := doR(t, s, "GET", "/openai/v1/responses/"+first.ID, "", "api-key", "east-key")
		if rec.Code != 200 || decodeResponse(t, rec.Body.Bytes()).ID != first.ID {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		rec = doR(t, s, "GET", "/openai/v1/responses/"+first.ID+"/input_items", "", "api-key", "east-key")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Tell me a story."`) || !strings.Contains(rec.Body.String(), `"object":"list"`) {
			t.Fatalf("input_items: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("GET with another resource's key is a 404", func(t *testing.T) {
		for _, path := range []string{"/openai/v1/responses/" + first.ID, "/openai/v1/responses/" + first.ID + "/input_items"} {
			if rec := doR(t, s, "GET", path, "", "api-key", "west-key"); rec.Code != 404 {
				t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
			}
		}
		if rec := doR(t, s, "DELETE", "/openai/v1/responses/"+first.ID, "", "api-key", "west-key"); rec.Code != 404 {
			t.Errorf("DELETE: %d", rec.Code)
		}
	})
	t.Run("another resource's key cannot call a deployment", func(t *testing.T) {
		if rec := doR(t, s, "POST", "/openai/v1/responses", `{"model":"east","input":"x"}`, "api-key", "west-key"); rec.Code != 401 {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
		if rec := doR(t, s, "POST", chat("east"), hello, "api-key", "west-key"); rec.Code != 401 {
			t.Errorf("chat: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("methods", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"POST", "/openai/v1/responses/" + first.ID},
			{"GET", "/openai/v1/responses/" + first.ID + "/cancel"},
			{"GET", "/openai/v1/responses"},
		} {
			if rec := doR(t, s, c.method, c.path, ""); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d", c.method, c.path, rec.Code)
			}
		}
	})
	t.Run("delete forgets it", func(t *testing.T) {
		if rec := doR(t, s, "DELETE", "/openai/v1/responses/"+first.ID, "", "api-key", "east-key"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if rec := doR(t, s, "GET", "/openai/v1/responses/"+first.ID, "", "api-key", "global"); rec.Code != 404 {
			t.Errorf("after delete: %d", rec.Code)
		}
	})
	t.Run("store false keeps nothing", func(t *testing.T) {
		rec := doR(t, s, "POST", "/openai/v1/responses", `{"model":"west","input":"x","store":false}`)
		r := decodeResponse(t, rec.Body.Bytes())
		if rec := doR(t, s, "GET", "/openai/v1/responses/"+r.ID, ""); rec.Code != 404 {
			t.Errorf("GET of an unstored response: %d", rec.Code)
		}
	})
	t.Run("validation", func(t *testing.T) {
		for _, body := range []string{`{"model":"east"}`, `{"model":"east","input":5}`, `{"model":"east","input":"x","max_output_tokens":0}`, `{"model":"east","input":[{"content":"no role"}]}`} {
			if rec := doR(t, s, "POST", "/openai/v1/responses", body); rec.Code != 400 {
				t.Errorf("%s: %d %s", body, rec.Code, rec.Body)
			}
		}
	})
	l := s.Ledger()
	if l.Deployments["east"].Responses["200"] < 3 || l.Deployments["west"].Responses["404"] < 1 {
		t.Errorf("ledger %+v", l.Deployments)
	}
}

func TestResponsesStream(t *testing.T) {
	s, _ := newTestSim(t, responsesConfig)
	rec := doR(t, s, "POST", "/openai/v1/responses", `{"model":"west","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"stream":true}`)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var types []string
	var text strings.Builder
	var completed simResponse
	for _, ev := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n") {
		lines := strings.SplitN(ev, "\n", 2)
		typ := strings.TrimPrefix(lines[0], "event: ")
		var data struct {
			Type     string          `json:"type"`
			Delta    string          `json:"delta"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &data); err != nil || data.Type != typ {
			t.Fatalf("event %q: %v", ev, err)
		}
		types = append(types, typ)
		text.WriteString(data.Delta)
		if typ == "response.completed" {
			completed = decodeResponse(t, data.Response)
		}
	}
	if types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Fatalf("events %v", types)
	}
	if completed.Usage.OutputTokens != 6 || completed.Usage.InputTokens <= 0 || completed.Output[0].Content[0].Text != text.String() {
		t.Fatalf("completed %+v, streamed %q", completed, text.String())
	}
	if rec := doR(t, s, "GET", "/openai/v1/responses/"+completed.ID, ""); rec.Code != 200 {
		t.Errorf("a streamed response is stored: GET %d", rec.Code)
	}
}

func TestCompletions(t *testing.T) {
	s, _ := newTestSim(t, testConfig)
	tests := []struct {
		name, path, body string
		status           int
		prompt           int64 // -1: any > 0
		completion       int64
	}{
		{"text", "/openai/deployments/std/completions?api-version=2024-10-21", `{"prompt":"Say this is a test","max_tokens":3}`, 200, -1, 3},
		{"token arrays, n", "/openai/v1/completions", `{"model":"ptu","prompt":[[1,2,3],[4,5]],"max_tokens":4,"n":2}`, 200, 5, 16},
		{"missing prompt", "/openai/v1/completions", `{"model":"ptu"}`, 400, 0, 0},
		{"bad best_of", "/openai/v1/completions", `{"model":"ptu","prompt":"x","n":3,"best_of":2}`, 400, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, s, "POST", tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tt.status != 200 {
				return
			}
			var r struct {
				Object  string `json:"object"`
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
				Usage struct {
					PromptTokens     int64 `json:"prompt_tokens"`
					CompletionTokens int64 `json:"completion_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Object != "text_completion" || len(r.Choices) == 0 || r.Choices[0].Text == "" {
				t.Fatalf("%v %s", err, rec.Body)
			}
			if (tt.prompt >= 0 && r.Usage.PromptTokens != tt.prompt) || (tt.prompt < 0 && r.Usage.PromptTokens <= 0) || r.Usage.CompletionTokens != tt.completion {
				t.Errorf("usage %+v", r.Usage)
			}
		})
	}
	t.Run("stream with usage", func(t *testing.T) {
		rec := do(t, s, "POST", "/openai/v1/completions", `{"model":"std","prompt":"x","max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, `"text":"`) || !strings.Contains(body, `"completion_tokens":2`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Fatalf("%d %s", rec.Code, body)
		}
	})
}
