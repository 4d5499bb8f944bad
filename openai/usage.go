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
// event between chunks, and decodes JSON only for events that mention
// usage (every other event says "usage":null or nothing).
//
// With Strip set it also rewrites the stream: Write returns the complete
// events of the chunk without the usage-only event (choices empty, usage
// set), holding back the unfinished tail until it completes. spillway uses
// it when it asked the backend for usage on behalf of a client that did not.
type SSEUsage struct {
	Strip bool

	tail  []byte
	out   []byte
	usage Usage
	found bool
	done  bool // saw data: [DONE]
	// Events counts the complete data events seen, [DONE] excluded.
	Events int
	// Content accumulates the bytes of delta content strings seen, for an
	// estimate when a stream ends without usage. Capped at maxContent.
	Content []byte
}

const maxContent = 1 << 20

var doneEvent = []byte("[DONE]")

// Write feeds the next chunk of the stream and returns what to forward in
// its place when Strip is set (nil otherwise). The returned slice is valid
// until the next call.
func (s *SSEUsage) Write(chunk []byte) []byte {
	data := chunk
	if len(s.tail) > 0 {
		s.tail = append(s.tail, chunk...)
		data = s.tail
	}
	s.out = s.out[:0]
	for {
		end, next := eventEnd(data)
		if end < 0 {
			break
		}
		if usageOnly := s.event(data[:end]); s.Strip && !usageOnly {
			s.out = append(s.out, data[:next]...)
		}
		data = data[next:]
	}
	// Keep the unfinished event; copy so the caller may reuse chunk.
	// data may alias s.tail; append copies with memmove semantics.
	s.tail = append(s.tail[:0], data...)
	if !s.Strip {
		return nil
	}
	return s.out
}

// Flush returns the held-back tail at the end of the stream (Strip mode).
func (s *SSEUsage) Flush() []byte {
	t := s.tail
	s.tail = nil
	return t
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

// usageChunk is the part of a stream event that tells a usage-only event apart.
type usageChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// event reads one event and reports whether it is the usage-only event.
func (s *SSEUsage) event(ev []byte) (usageOnly bool) {
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
		var c usageChunk
		if err := json.Unmarshal(data, &c); err != nil {
			continue
		}
		for _, ch := range c.Choices {
			if len(s.Content) < maxContent {
				s.Content = append(s.Content, ch.Delta.Content...)
			}
		}
		if c.Usage != nil {
			s.usage, s.found = *c.Usage, true
			if len(c.Choices) == 0 {
				usageOnly = true
			}
		}
	}
	return usageOnly
}

// Usage returns the usage seen so far and whether a usage event was seen.
func (s *SSEUsage) Usage() (Usage, bool) { return s.usage, s.found }

// Done reports whether the stream's data: [DONE] arrived.
func (s *SSEUsage) Done() bool { return s.done }
