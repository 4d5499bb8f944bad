package openai

import (
	"bytes"
	"encoding/json"
)

// Usage is the token usage a response reports.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	PromptDetails    *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
	CompletionDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details,omitempty"`
}

// CachedTokens returns prompt_tokens_details.cached_tokens, or 0.
func (u Usage) CachedTokens() int {
	if u.PromptDetails == nil {
		return 0
	}
	return u.PromptDetails.CachedTokens
}

// ReasoningTokens returns completion_tokens_details.reasoning_tokens, or 0.
func (u Usage) ReasoningTokens() int {
	if u.CompletionDetails == nil {
		return 0
	}
	return u.CompletionDetails.ReasoningTokens
}

// UsageFromJSON reads `usage` from a non-streaming response body.
func UsageFromJSON(body []byte) (Usage, bool) {
	var w struct {
		Usage *Usage `json:"usage"`
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Usage == nil {
		return Usage{}, false
	}
	return *w.Usage, true
}

// SSEUsage finds the usage event in a server-sent event stream fed in
// chunks split anywhere. It keeps only the unfinished tail of the last
// event between chunks, and decodes JSON only for the event that carries
// a usage object (every other event says "usage":null or nothing).
type SSEUsage struct {
	tail  []byte
	usage Usage
	found bool
	done  bool // saw data: [DONE]
	// Events counts the complete data events seen, [DONE] excluded.
	Events int
}

var (
	usageKey  = []byte(`"usage"`)
	doneEvent = []byte("[DONE]")
)

// Write feeds the next chunk of the stream. It never fails.
func (s *SSEUsage) Write(chunk []byte) (int, error) {
	data := chunk
	if len(s.tail) > 0 {
		s.tail = append(s.tail, chunk...)
		data = s.tail
	}
	for {
		end, next := eventEnd(data)
		if end < 0 {
			break
		}
		s.event(data[:end])
		data = data[next:]
	}
	// Keep the unfinished event; copy so the caller may reuse chunk.
	s.tail = append(s.tail[:0], data...)
	return len(chunk), nil
}

// eventEnd finds the blank line ending the first event: "\n\n" or "\r\n\r\n".
func eventEnd(b []byte) (end, next int) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if b[i+1] == '\n' {
			return i, i + 2
		}
		if b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n' {
			return i, i + 3
		}
	}
	return -1, 0
}

func (s *SSEUsage) event(ev []byte) {
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			ev = nil
		}
		line = bytes.TrimRight(line, "\r")
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimLeft(data, " ")
		if bytes.Equal(data, doneEvent) {
			s.done = true
			continue
		}
		s.Events++
		if !bytes.Contains(data, usageKey) {
			continue
		}
		if u, ok := UsageFromJSON(data); ok {
			s.usage, s.found = u, true
		}
	}
}

// Usage returns the usage seen so far and whether a usage event was seen.
func (s *SSEUsage) Usage() (Usage, bool) { return s.usage, s.found }

// Done reports whether the stream's data: [DONE] arrived.
func (s *SSEUsage) Done() bool { return s.done }
