package openai

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
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

// usageWire is `usage` in either API's words: prompt/completion tokens
// (chat, completions, embeddings) or input/output tokens (Responses).
type usageWire struct {
	Usage
	InputTokens  *int `json:"input_tokens"`
	OutputTokens *int `json:"output_tokens"`
	InputDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

// usage returns the wire usage as Usage: Responses' input tokens are the
// prompt, its output tokens the completion.
func (w *usageWire) usage() Usage {
	u := w.Usage
	if w.InputTokens != nil || w.OutputTokens != nil {
		if w.InputTokens != nil {
			u.PromptTokens = *w.InputTokens
		}
		if w.OutputTokens != nil {
			u.CompletionTokens = *w.OutputTokens
		}
		if u.TotalTokens == 0 {
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		if w.InputDetails != nil {
			u.PromptDetails = &struct {
				CachedTokens int `json:"cached_tokens"`
			}{w.InputDetails.CachedTokens}
		}
		if w.OutputDetails != nil {
			u.CompletionDetails = &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{w.OutputDetails.ReasoningTokens}
		}
	}
	return u
}

// UsageFromJSON reads `usage` from a non-streaming response body, in
// chat-completions, completions, embeddings or Responses form. Only the
// usage member is decoded; the scanner finds it (bodies it does not accept
// go to encoding/json whole).
func UsageFromJSON(body []byte) (Usage, bool) {
	var w struct {
		Usage *usageWire `json:"usage"`
	}
	var buf [16]member
	if ms, ok := scanObject(body, buf[:0]); ok {
		var usage []byte
		for _, m := range ms {
			if bytes.EqualFold(m.key, []byte("usage")) {
				usage = m.value // the last one, as encoding/json takes it
			}
		}
		if usage == nil {
			return Usage{}, false
		}
		if u, ok := scanUsage(usage); ok {
			return u.usage(), true
		}
		if json.Unmarshal(usage, &w.Usage) != nil || w.Usage == nil {
			return Usage{}, false
		}
		return w.Usage.usage(), true
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Usage == nil {
		return Usage{}, false
	}
	return w.Usage.usage(), true
}

// usageFields are the members of usage scanUsage reads, in either API's
// words; the details objects hold one counter each.
var usageFields = []string{
	"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens",
	"prompt_tokens_details", "completion_tokens_details", "input_tokens_details", "output_tokens_details",
}

// scanUsage reads a usage object as encoding/json would into usageWire, for
// the form every backend sends: known members named exactly, once each, with
// integer values and details objects. Anything else (null, a fraction, a key
// in other case, a repeated member) returns false, for encoding/json to
// decide. It costs a tenth of decoding with reflection.
func scanUsage(b []byte) (usageWire, bool) {
	var w usageWire
	var buf [16]member
	ms, ok := scanObject(b, buf[:0])
	if !ok {
		return w, false
	}
	var seen uint16
	for _, m := range ms {
		i := slices.Index(usageFields, string(m.key))
		if i < 0 {
			for _, f := range usageFields {
				if bytes.EqualFold(m.key, []byte(f)) {
					return w, false
				}
			}
			continue
		}
		if seen&(1<<i) != 0 {
			return w, false
		}
		seen |= 1 << i
		var n int
		var err error
		if i < 5 {
			n, err = strconv.Atoi(string(m.value))
		} else {
			n, ok = scanDetail(m.value, []string{"cached_tokens", "reasoning_tokens", "cached_tokens", "reasoning_tokens"}[i-5])
			if !ok {
				return w, false
			}
		}
		if err != nil {
			return w, false
		}
		switch i {
		case 0:
			w.PromptTokens = n
		case 1:
			w.CompletionTokens = n
		case 2:
			w.TotalTokens = n
		case 3:
			w.InputTokens = &n
		case 4:
			w.OutputTokens = &n
		case 5:
			w.PromptDetails = &struct {
				CachedTokens int `json:"cached_tokens"`
			}{n}
		case 6:
			w.CompletionDetails = &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{n}
		case 7:
			w.InputDetails = &struct {
				CachedTokens int `json:"cached_tokens"`
			}{n}
		case 8:
			w.OutputDetails = &struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			}{n}
		}
	}
	return w, true
}

// scanDetail reads the one counter named key from a details object (0 when
// absent, as encoding/json leaves it).
func scanDetail(b []byte, key string) (int, bool) {
	var buf [8]member
	ms, ok := scanObject(b, buf[:0])
	if !ok {
		return 0, false
	}
	n, found := 0, false
	for _, m := range ms {
		if string(m.key) != key {
			if bytes.EqualFold(m.key, []byte(key)) {
				return 0, false
			}
			continue
		}
		if found {
			return 0, false
		}
		v, err := strconv.Atoi(string(m.value))
		if err != nil {
			return 0, false
		}
		n, found = v, true
	}
	return n, true
}

// ResponseFromJSON reads a Responses API response body: its id and usage.
func ResponseFromJSON(body []byte) (id string, u Usage, ok bool) {
	var w struct {
		ID    string     `json:"id"`
		Usage *usageWire `json:"usage"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return "", Usage{}, false
	}
	if w.Usage != nil {
		u, ok = w.Usage.usage(), true
	}
	return w.ID, u, ok
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
	// Format is how the stream's events carry content and usage.
	Format StreamFormat

	// ResponseID is the Responses API response's id, from its first event
	// that carries the response (response.created); empty otherwise.
	ResponseID string

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

// StreamFormat says how a stream's events are shaped.
type StreamFormat int

const (
	// ChunkStream is chat completions' and completions' chunks: content in
	// choices[].delta.content or choices[].text, usage in a last chunk.
	ChunkStream StreamFormat = iota
	// ResponseStream is the Responses API's typed events (response.*):
	// content in response.output_text.delta, usage in the response object
	// of response.completed (or .incomplete, .failed).
	ResponseStream
)

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
		Text string `json:"text"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// responseEvent is the part of a Responses API stream event spillway reads.
type responseEvent struct {
	Type     string `json:"type"`
	Delta    string `json:"delta"`
	Response *struct {
		ID    string     `json:"id"`
		Usage *usageWire `json:"usage"`
	} `json:"response"`
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
		if s.Format == ResponseStream {
			s.responseEvent(data)
			continue
		}
		if s.quick(data) {
			continue
		}
		var c usageChunk
		if err := json.Unmarshal(data, &c); err != nil {
			continue
		}
		for _, ch := range c.Choices {
			if len(s.Content) < maxContent {
				s.Content = append(s.Content, ch.Delta.Content...)
				s.Content = append(s.Content, ch.Text...)
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

// responseEvent reads one Responses API event. Only the events that carry
// the response object or text deltas are decoded.
func (s *SSEUsage) responseEvent(data []byte) {
	if !bytes.Contains(data, []byte(`"response"`)) && !bytes.Contains(data, []byte(`"delta"`)) {
		return
	}
	var e responseEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return
	}
	if e.Type == "response.output_text.delta" && len(s.Content) < maxContent {
		s.Content = append(s.Content, e.Delta...)
	}
	if e.Response == nil {
		return
	}
	if s.ResponseID == "" {
		s.ResponseID = e.Response.ID
	}
	if e.Response.Usage != nil {
		s.usage, s.found = e.Response.Usage.usage(), true
	}
}

// quick reads an event that carries no usage (every event but the last of a
// stream) without decoding it: it collects the values of its "content" and
// "text" keys (chat deltas, legacy completions)
// and reports true. It reports false, leaving the event to the full decoder,
// when the event has a non-null "usage" or is cut short.
func (s *SSEUsage) quick(data []byte) bool {
	mark := len(s.Content)
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		end := stringEnd(data, i)
		if end < 0 {
			s.Content = s.Content[:mark]
			return false
		}
		key := data[i+1 : end]
		j := skipSpace(data, end+1)
		if j >= len(data) || data[j] != ':' {
			i = end // a string value
			continue
		}
		j = skipSpace(data, j+1)
		switch string(key) {
		case "usage":
			if !bytes.HasPrefix(data[j:], []byte("null")) {
				s.Content = s.Content[:mark]
				return false
			}
		case "content", "text": // chat deltas, legacy completions
			if j < len(data) && data[j] == '"' {
				vend := stringEnd(data, j)
				if vend < 0 {
					s.Content = s.Content[:mark]
					return false
				}
				s.appendContent(data[j : vend+1])
				end = vend
			}
		}
		i = end
	}
	return true
}

// appendContent adds a JSON string's text (quoted, as in the event) to Content.
func (s *SSEUsage) appendContent(quoted []byte) {
	if len(s.Content) >= maxContent {
		return
	}
	raw := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		s.Content = append(s.Content, raw...)
		return
	}
	var text string
	if json.Unmarshal(quoted, &text) == nil {
		s.Content = append(s.Content, text...)
	}
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at b[start], or -1.
func stringEnd(b []byte, start int) int {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Usage returns the usage seen so far and whether a usage event was seen.
func (s *SSEUsage) Usage() (Usage, bool) { return s.usage, s.found }

// Done reports whether the stream's data: [DONE] arrived.
func (s *SSEUsage) Done() bool { return s.done }
