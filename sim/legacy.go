package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spillway-gw/spillway/azure"
)

// The legacy completions API (POST .../completions): a prompt, not messages.

// completionsRequest is what the simulator needs from a completions body.
type completionsRequest struct {
	prompts      []string // text prompts
	tokenCount   int64    // tokens of pre-tokenized prompts
	count        int64    // number of prompts (each gets its completions)
	choices      int64    // max(n, best_of) completions generated per prompt
	n            int64    // completions returned per prompt
	maxTokens    int64    // 0 when unset
	stream       bool
	includeUsage bool
}

type completionsBody struct {
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int64          `json:"max_tokens"`
	N             *int64          `json:"n"`
	BestOf        *int64          `json:"best_of"`
	Stream        *bool           `json:"stream"`
	StreamOptions *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
}

func parseCompletionsRequest(body []byte) (completionsRequest, *azure.Error) {
	var in completionsBody
	if err := decodeJSON(body, &in); err != nil {
		return completionsRequest{}, err
	}
	r := completionsRequest{n: 1, choices: 1}
	raw := bytes.TrimSpace(in.Prompt)
	if len(raw) == 0 || string(raw) == "null" {
		return r, azure.BadRequest("'prompt' is a required property", "prompt")
	}
	ti, ok := parseTextInputs(raw)
	if !ok {
		return r, invalidType("prompt", "a string, an array of strings, an array of token ids, or an array of token-id arrays")
	}
	r.prompts, r.tokenCount, r.count = ti.texts, ti.tokens, ti.count
	if in.MaxTokens != nil {
		if *in.MaxTokens < 1 {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *in.MaxTokens), "max_tokens")
		}
		r.maxTokens = *in.MaxTokens
	}
	if in.N != nil {
		if *in.N < 1 || *in.N > maxN {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'n': expected a value between 1 and %d, but got %d instead.", maxN, *in.N), "n")
		}
		r.n, r.choices = *in.N, *in.N
	}
	if in.BestOf != nil {
		if *in.BestOf < r.n || *in.BestOf > 20 {
			return r, azure.BadRequest("Invalid 'best_of': must be at least n and at most 20.", "best_of")
		}
		r.choices = *in.BestOf
	}
	r.stream = in.Stream != nil && *in.Stream
	if in.StreamOptions != nil {
		if !r.stream {
			return r, azure.BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
		}
		r.includeUsage = in.StreamOptions.IncludeUsage != nil && *in.StreamOptions.IncludeUsage
	}
	return r, nil
}

// promptTokens counts the prompt: exactly for token ids and, through the
// injected counter when there is one, for text.
func (c *call) completionPromptTokens(r *completionsRequest) int64 {
	n := r.tokenCount
	for _, p := range r.prompts {
		if c.s.count != nil {
			// The chat counter on a one-message body, minus its framing
			// (3 per message, the role, 3 for the reply primer), is the
			// text's tokens.
			body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": p}}})
			framing, _ := c.s.count(c.d.cfg.Model, []byte(`{"messages":[{"role":"user","content":""}]}`))
			if t, err := c.s.count(c.d.cfg.Model, body); err == nil && t >= framing {
				n += int64(t - framing)
				continue
			}
		}
		n += approxTextTokens(len(p))
	}
	return n
}

func (c *call) serveCompletions(body []byte, draw uint64, plan faultPlan) {
	s, d := c.s, c.d
	req, perr := parseCompletionsRequest(body)
	if perr != nil {
		c.fail(perr)
		return
	}
	if req.includeUsage && !c.v1 && !usageSupported(c.apiVersion) {
		c.fail(azure.BadRequest("Unrecognized request argument supplied: stream_options", "stream_options"))
		return
	}
	prompt := c.completionPromptTokens(&req)
	if requested := prompt + req.maxTokens; requested > d.cfg.ContextWindow {
		c.fail(azure.ContextLengthExceeded(int(d.cfg.ContextWindow), int(requested)))
		return
	}
	prompts := max(req.count, 1)
	maxTokens := req.maxTokens
	if maxTokens == 0 {
		maxTokens = d.cfg.MissingMaxTokens
	}
	cost := d.arrivalCost(prompt, maxTokens*req.choices*prompts)
	st, ok := c.admit(cost)
	if !ok {
		return
	}
	tokens, finish := completionLength(&d.cfg.Completion, req.maxTokens, draw)
	completion := tokens * req.choices * prompts
	src := newTextSource(draw)
	now := s.clock.Now()
	id := "cmpl-" + chatID(draw)[9:]
	choices := make([]map[string]any, 0, req.n*prompts)
	texts := make([]string, 0, cap(choices))
	for i := range req.n * prompts {
		t := string(src.appendText(nil, tokens))
		texts = append(texts, t)
		choices = append(choices, map[string]any{"text": t, "index": i, "finish_reason": finish, "logprobs": nil,
			"content_filter_results": json.RawMessage(completionFilterResults(finish))})
	}
	usage := map[string]int64{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	head := map[string]any{"id": id, "object": "text_completion", "created": now.Unix(), "model": d.cfg.Model}
	firstToken := time.Duration(d.cfg.Latency.FirstTokenMs) * time.Millisecond
	c.setStateHeaders(st)
	ctx := c.r.Context()
	if err := s.clock.Sleep(ctx, firstToken); err != nil {
		d.settle(s.clock.Now(), cost, prompt, 0, 0, false)
		c.record(statusClientClosed)
		return
	}
	if plan.terminal.kind == faultResetMidStream {
		d.settle(s.clock.Now(), cost, prompt, 0, 0, false)
		c.reset(nil)
		return
	}
	if req.stream {
		h := c.w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		c.w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(c.w)
		_ = rc.Flush() // a stream is chunked, never sent with a content-length
		event := func(v map[string]any) {
			for k, x := range head {
				v[k] = x
			}
			b, _ := json.Marshal(v)
			_, _ = fmt.Fprintf(c.w, "data: %s\n\n", b)
		}
		for i, t := range texts {
			event(map[string]any{"choices": []any{map[string]any{"text": t, "index": i, "finish_reason": finish, "logprobs": nil}}})
		}
		d.settle(s.clock.Now(), cost, prompt, 0, completion, true)
		c.record("200")
		if req.includeUsage {
			event(map[string]any{"choices": []any{}, "usage": usage})
		}
		_, _ = fmt.Fprint(c.w, "data: [DONE]\n\n")
		_ = rc.Flush()
		return
	}
	head["choices"], head["usage"] = choices, usage
	out, _ := json.Marshal(head)
	d.settle(s.clock.Now(), cost, prompt, 0, completion, true)
	if d.bucket != nil {
		c.setStateHeaders(d.state(s.clock.Now()))
	}
	c.record("200")
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
}
