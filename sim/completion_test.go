package sim

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCompletionLength(t *testing.T) {
	tests := []struct {
		name       string
		c          Completion
		maxTokens  int64
		draw       uint64
		wantTokens int64
		wantFinish string
	}{
		{"fixed", Completion{Mode: CompletionFixed, Tokens: 20}, 0, 0, 20, finishStop},
		{"fixed under max_tokens", Completion{Mode: CompletionFixed, Tokens: 20}, 100, 0, 20, finishStop},
		{"fixed cut by max_tokens", Completion{Mode: CompletionFixed, Tokens: 20}, 5, 0, 5, finishLength},
		{"max_tokens mode", Completion{Mode: CompletionMaxTokens, Tokens: 20}, 64, 0, 64, finishLength},
		{"max_tokens mode without max_tokens", Completion{Mode: CompletionMaxTokens, Tokens: 20}, 0, 0, 20, finishStop},
		{"random low", Completion{Mode: CompletionRandom, Min: 10, Max: 19}, 0, 0, 10, finishStop},
		{"random high", Completion{Mode: CompletionRandom, Min: 10, Max: 19}, 0, 9, 19, finishStop},
		{"random wraps", Completion{Mode: CompletionRandom, Min: 10, Max: 19}, 0, 13, 13, finishStop},
		{"random cut", Completion{Mode: CompletionRandom, Min: 10, Max: 19}, 12, 9, 12, finishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, finish := completionLength(&tt.c, tt.maxTokens, tt.draw)
			if n != tt.wantTokens || finish != tt.wantFinish {
				t.Errorf("got %d %q, want %d %q", n, finish, tt.wantTokens, tt.wantFinish)
			}
		})
	}
}

func TestTextSourceIsDeterministic(t *testing.T) {
	a := string(newTextSource(7).appendText(nil, 30))
	b := string(newTextSource(7).appendText(nil, 30))
	c := string(newTextSource(8).appendText(nil, 30))
	if a != b {
		t.Errorf("same seed, different text")
	}
	if a == c {
		t.Errorf("different seeds, same text")
	}
	if got := len(strings.Fields(a)); got != 30 {
		t.Errorf("%d words, want 30", got)
	}
}

func TestChatCompletionBody(t *testing.T) {
	meta := responseMeta{id: chatID(1), created: 1700000000, modelJSON: `"gpt-4o"`}
	b := appendChatCompletion(nil, meta, newTextSource(1), 2, 5, finishLength, 11, 0)
	var v struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Created int64  `json:"created"`
		Choices []struct {
			Index        int    `json:"index"`
			FinishReason string `json:"finish_reason"`
			Message      struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		PromptFilterResults []json.RawMessage `json:"prompt_filter_results"`
		Usage               struct {
			PromptTokens        int64 `json:"prompt_tokens"`
			CompletionTokens    int64 `json:"completion_tokens"`
			TotalTokens         int64 `json:"total_tokens"`
			PromptTokensDetails struct {
				CachedTokens *int64 `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, b)
	}
	if v.Object != "chat.completion" || v.Model != "gpt-4o" || !strings.HasPrefix(v.ID, "chatcmpl-") || v.Created != 1700000000 {
		t.Errorf("header fields: %+v", v)
	}
	if len(v.Choices) != 2 || v.Choices[1].Index != 1 || v.Choices[0].FinishReason != "length" || v.Choices[0].Message.Role != "assistant" {
		t.Errorf("choices: %+v", v.Choices)
	}
	if got := len(strings.Fields(v.Choices[0].Message.Content)); got != 5 {
		t.Errorf("%d words, want 5", got)
	}
	if v.Usage.PromptTokens != 11 || v.Usage.CompletionTokens != 10 || v.Usage.TotalTokens != 21 || v.Usage.PromptTokensDetails.CachedTokens == nil {
		t.Errorf("usage: %+v", v.Usage)
	}
	if len(v.PromptFilterResults) != 1 {
		t.Errorf("prompt_filter_results: %d", len(v.PromptFilterResults))
	}
}

func TestEmbeddingsBody(t *testing.T) {
	decode := func(t *testing.T, b []byte) (vecs [][]float64, usage map[string]int64) {
		t.Helper()
		var v struct {
			Object string `json:"object"`
			Data   []struct {
				Embedding json.RawMessage `json:"embedding"`
				Index     int             `json:"index"`
				Object    string          `json:"object"`
			} `json:"data"`
			Usage map[string]int64 `json:"usage"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		for _, d := range v.Data {
			var f []float64
			if err := json.Unmarshal(d.Embedding, &f); err != nil {
				var s string
				if err := json.Unmarshal(d.Embedding, &s); err != nil {
					t.Fatalf("embedding neither array nor string: %s", d.Embedding)
				}
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatalf("base64: %v", err)
				}
				for i := 0; i+4 <= len(raw); i += 4 {
					bits := uint32(raw[i]) | uint32(raw[i+1])<<8 | uint32(raw[i+2])<<16 | uint32(raw[i+3])<<24
					f = append(f, float64(math.Float32frombits(bits)))
				}
			}
			vecs = append(vecs, f)
		}
		return vecs, v.Usage
	}
	r := embeddingsRequest{inputs: []string{"a", "b", "a"}, count: 3}
	vecs, usage := decode(t, appendEmbeddings(nil, &r, `"emb"`, 8, 42, 3))
	if len(vecs) != 3 || len(vecs[0]) != 8 {
		t.Fatalf("got %d vectors of %d", len(vecs), len(vecs[0]))
	}
	var norm float64
	for _, x := range vecs[0] {
		norm += x * x
	}
	if math.Abs(norm-1) > 1e-4 {
		t.Errorf("norm² = %v, want 1", norm)
	}
	if vecs[0][0] != vecs[2][0] || vecs[0][0] == vecs[1][0] {
		t.Errorf("same input must give the same vector, different inputs different ones")
	}
	if usage["prompt_tokens"] != 3 || usage["total_tokens"] != 3 {
		t.Errorf("usage %v", usage)
	}
	r.base64 = true
	b64, _ := decode(t, appendEmbeddings(nil, &r, `"emb"`, 8, 42, 3))
	if math.Abs(b64[0][0]-vecs[0][0]) > 1e-6 {
		t.Errorf("base64 vector differs: %v vs %v", b64[0][0], vecs[0][0])
	}
}

// testStandard is a valid standard deployment with defaults applied.
func testStandard(name string) Deployment {
	return Deployment{
		Name: name, Kind: KindStandard, Model: "gpt-4o", Region: "r", TPM: 1000, RPM: 6,
		Estimate: EstimateMaxTokens, MissingMaxTokens: 16, ContextWindow: 1000,
		Completion:      Completion{Mode: CompletionFixed, Tokens: 5},
		ThrottleHeaders: HeadersBoth, ThrottleMessage: MessageRateLimit, EmbeddingDimensions: 4,
	}
}
