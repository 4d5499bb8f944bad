package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// words returns n characters of text that differ with seed.
func words(seed, n int) string {
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "w%d-%d ", seed, b.Len())
	}
	return b.String()[:n]
}

func TestChatPrefixes(t *testing.T) {
	doc := words(1, 8000) // 2,000 tokens at 4 characters a token
	msgs := func(texts ...string) *chatRequest {
		r := &chatRequest{}
		for _, s := range texts {
			r.messages = append(r.messages, chatMessage{role: "user", text: s})
		}
		return r
	}
	// Each case: the cache holds the first request's prefixes, the second
	// one reports cached tokens.
	tests := []struct {
		name          string
		first, second *chatRequest
		prompt        int64 // of the second; the first's is its own approximation
		want          int64
	}{
		{"same prompt: longest boundary within it", msgs(doc), msgs(doc), 0, 1920},
		{"shared 1,100-token prefix", msgs(doc[:4400] + words(2, 3000)), msgs(doc[:4400] + words(3, 3000)), 0, 1024},
		{"shared 1,300-token prefix: two more steps of 128", msgs(doc[:5200] + words(2, 3000)), msgs(doc[:5200] + words(3, 3000)), 0, 1280},
		{"difference within the first 1,024 tokens", msgs(doc), msgs(doc[:3000] + "x" + doc[3001:]), 0, 0},
		{"prompt under 1,024 tokens", msgs(doc[:4000]), msgs(doc[:4000]), 0, 0},
		{"same text, another role", msgs(doc), &chatRequest{messages: []chatMessage{{role: "system", text: doc}}}, 0, 0},
		{"a repeated system message, a new user message", msgs(doc, "question one"), msgs(doc, words(4, 2000)), 0, 1024 + 7*128},
		{"the counter's prompt count bounds the hit", msgs(doc), msgs(doc), 1500, 1408},
		{"tools are part of the prefix", &chatRequest{tools: []byte(`[{"a":1}]`), messages: msgs(doc).messages}, msgs(doc), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPromptCache(time.Minute)
			now := time.Unix(0, 0)
			c.use(now, chatPrefixes(tt.first, approxChatTokens(tt.first), "", 0))
			prompt := tt.prompt
			if prompt == 0 {
				prompt = approxChatTokens(tt.second)
			}
			got := c.use(now.Add(time.Second), chatPrefixes(tt.second, prompt, "", 0))
			if got != tt.want {
				t.Errorf("cached %d, want %d", got, tt.want)
			}
			if got > prompt || (got > 0 && (got < cacheMinTokens || (got-cacheMinTokens)%cacheIncrement != 0)) {
				t.Errorf("cached %d is not 1,024 + k×128 within the prompt's %d", got, prompt)
			}
		})
	}
}

func TestPromptCacheExpires(t *testing.T) {
	r := &chatRequest{messages: []chatMessage{{role: "user", text: words(1, 6000)}}}
	prefixes := chatPrefixes(r, approxChatTokens(r), "", 0)
	c := newPromptCache(5 * time.Minute)
	now := time.Unix(0, 0)
	steps := []struct {
		after time.Duration
		want  int64
	}{
		{0, 0},                                  // first use: nothing cached yet
		{4 * time.Minute, 1408},                 // within the TTL of the last use
		{8 * time.Minute, 1408},                 // 8 min after the first, 4 after the last use
		{13*time.Minute + 1, 0},                 // more than 5 min of inactivity
		{13*time.Minute + 2, 1408},              // cached again by the miss
		{13*time.Minute + 2 + 5*time.Minute, 0}, // exactly the TTL: gone
	}
	for i, st := range steps {
		if got := c.use(now.Add(st.after), prefixes); got != st.want {
			t.Errorf("step %d (+%v): cached %d, want %d", i, st.after, got, st.want)
		}
	}
}

const cacheConfig = `
keys: ["k1"]
seed: 7
deployments:
  - {name: ptu, kind: provisioned, capacity_tpm: 100000, output_ratio: 4, completion: {tokens: 10}}
  - {name: ptu2, kind: provisioned, capacity_tpm: 100000, completion: {tokens: 10}}
  - {name: std, kind: standard, tpm: 100000, estimate: prompt_plus_max_tokens, completion: {tokens: 10}}
  - {name: off, kind: provisioned, capacity_tpm: 100000, completion: {tokens: 10}, prompt_cache: {disabled: true}}
`

// longChat is a chat body with a 1,500-token system message (the shared
// prefix) and a short user message.
func longChat(user string, extra string) string {
	b, _ := json.Marshal(map[string]any{
		"messages":   []map[string]string{{"role": "system", "content": words(9, 6000)}, {"role": "user", "content": user}},
		"max_tokens": 10,
	})
	if extra != "" {
		b = append(b[:len(b)-1], ","+extra+"}"...)
	}
	return string(b)
}

type chatUsage struct {
	Usage struct {
		PromptTokens        int64 `json:"prompt_tokens"`
		CompletionTokens    int64 `json:"completion_tokens"`
		PromptTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func TestPromptCachingInResponses(t *testing.T) {
	s, _ := newTestSim(t, cacheConfig)
	cachedOf := func(dep, body string) (prompt, cached int64) {
		t.Helper()
		rec := do(t, s, "POST", chat(dep), body)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", dep, rec.Code, rec.Body)
		}
		var u chatUsage
		if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil {
			t.Fatal(err)
		}
		return u.Usage.PromptTokens, u.Usage.PromptTokensDetails.CachedTokens
	}
	if _, c := cachedOf("ptu", longChat("first question", "")); c != 0 {
		t.Errorf("first request: cached %d, want 0", c)
	}
	prompt, c := cachedOf("ptu", longChat("second question", ""))
	if c != 1408 || prompt < 1500 {
		t.Errorf("second request: prompt %d, cached %d; want 1408 of the 1,500-token system message cached", prompt, c)
	}
	if _, c := cachedOf("ptu2", longChat("second question", "")); c != 0 {
		t.Errorf("another deployment: cached %d, want 0 (caches are per deployment)", c)
	}
	if _, c := cachedOf("off", longChat("a", "")); c != 0 {
		t.Errorf("prompt_cache disabled: cached %d", c)
	}
	if _, c := cachedOf("off", longChat("b", "")); c != 0 {
		t.Errorf("prompt_cache disabled: cached %d", c)
	}

	t.Run("stream usage chunk", func(t *testing.T) {
		rec := do(t, s, "POST", chat("ptu"), longChat("third", `"stream":true,"stream_options":{"include_usage":true}`))
		var last string
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "data: {") && strings.Contains(line, `"usage":{`) {
				last = strings.TrimPrefix(line, "data: ")
			}
		}
		var u chatUsage
		if err := json.Unmarshal([]byte(last), &u); err != nil || u.Usage.PromptTokensDetails.CachedTokens != 1408 {
			t.Errorf("usage chunk %q: cached %d, want 1408 (%v)", last, u.Usage.PromptTokensDetails.CachedTokens, err)
		}
	})

	t.Run("responses API", func(t *testing.T) {
		body := func(q string) string {
			b, _ := json.Marshal(map[string]any{"model": "ptu", "instructions": words(8, 6000), "input": q, "max_output_tokens": 10})
			return string(b)
		}
		var got []int64
		for _, q := range []string{"one", "two"} {
			rec := do(t, s, "POST", "/openai/v1/responses", body(q))
			var r struct {
				Usage struct {
					InputTokensDetails struct {
						CachedTokens int64 `json:"cached_tokens"`
					} `json:"input_tokens_details"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			got = append(got, r.Usage.InputTokensDetails.CachedTokens)
		}
		if got[0] != 0 || got[1] != 1408 {
			t.Errorf("cached tokens %v, want [0 1408]", got)
		}
	})
}

func TestPromptCachingCharges(t *testing.T) {
	s, _ := newTestSim(t, cacheConfig)
	for _, q := range []string{"one", "two"} {
		for _, dep := range []string{"ptu", "std"} {
			if rec := do(t, s, "POST", chat(dep), longChat(q, "")); rec.Code != 200 {
				t.Fatalf("%s: %d %s", dep, rec.Code, rec.Body)
			}
		}
	}
	l := s.Ledger().Deployments
	ptu, std := l["ptu"], l["std"]
	if ptu.Usage.CachedTokens != 1408 || std.Usage.CachedTokens != 1408 {
		t.Fatalf("cached tokens: ptu %d, std %d; want 1408 each", ptu.Usage.CachedTokens, std.Usage.CachedTokens)
	}
	// The PTU is charged (prompt − cached) + 4 × output.
	if want := ptu.Usage.PromptTokens - 1408 + 4*ptu.Usage.CompletionTokens; ptu.NormalizedTokens != want {
		t.Errorf("ptu normalized %d, want %d", ptu.NormalizedTokens, want)
	}
	// Its bucket holds what was settled (the fake clock does not move between requests).
	if got, want := ptu.Utilization*100000, float64(ptu.NormalizedTokens); got < want-0.5 || got > want+0.5 {
		t.Errorf("ptu bucket %.1f tokens, want %v", got, want)
	}
	// A standard deployment's TPM is charged the prompt in full: caching
	// discounts the bill, not the rate limit.
	if want := 2 * (ptu.Usage.PromptTokens/2 + 10); std.ChargedTokens != want || std.RemainingTokens != 100000-want {
		t.Errorf("std charged %d, remaining %d; want %d charged", std.ChargedTokens, std.RemainingTokens, want)
	}
}

func TestThrottledPromptIsNotCached(t *testing.T) {
	s, clock := newTestSim(t, cacheConfig+`
  - {name: small, kind: provisioned, capacity_tpm: 1000, completion: {tokens: 10}}
`)
	other, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": words(5, 6000)}}})
	if rec := do(t, s, "POST", chat("small"), string(other)); rec.Code != 200 {
		t.Fatalf("filling request: %d", rec.Code)
	}
	if rec := do(t, s, "POST", chat("small"), longChat("one", "")); rec.Code != 429 {
		t.Fatalf("want a 429 from the full bucket, got %d", rec.Code)
	}
	clock.Advance(time.Minute) // the bucket drains below 100 %; the cache's TTL is 5 minutes
	rec := do(t, s, "POST", chat("small"), longChat("two", ""))
	var u chatUsage
	if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil || rec.Code != 200 || u.Usage.PromptTokensDetails.CachedTokens != 0 {
		t.Errorf("after a throttled request: %d, cached %d, want 0 (%v)", rec.Code, u.Usage.PromptTokensDetails.CachedTokens, err)
	}
	clock.Advance(2 * time.Minute)
	rec = do(t, s, "POST", chat("small"), longChat("three", ""))
	if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil || rec.Code != 200 || u.Usage.PromptTokensDetails.CachedTokens != 1408 {
		t.Errorf("after an admitted one: %d, cached %d, want 1408 (%v)", rec.Code, u.Usage.PromptTokensDetails.CachedTokens, err)
	}
}
