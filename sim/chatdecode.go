package sim

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeChatBody fills in from body like json.Unmarshal(body, in) would, but
// without reflection, for the common shape of a chat request. It returns false
// whenever the body strays from that shape (content parts, stream_options,
// escaped or case-variant keys, duplicate keys, invalid JSON, ...); the caller
// then uses encoding/json, which is the reference: whenever decodeChatBody
// returns true, encoding/json would have produced the same struct
// (FuzzDecodeChatBody checks exactly that).
func decodeChatBody(body []byte, in *chatBody) bool {
	d := chatDecoder{b: body}
	d.ws()
	if !d.byte('{') {
		return false
	}
	var seen uint16
	first := true
	for {
		d.ws()
		if d.peek() == '}' && first {
			d.i++
			break
		}
		key, ok := d.key()
		if !ok {
			return false
		}
		d.ws()
		field := topField(key)
		if field == fieldFoldsToKnown {
			return false
		}
		if field != fieldOther {
			if seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
		}
		switch field {
		case fieldModel:
			if !d.optString(&in.Model) {
				return false
			}
		case fieldMessages:
			if !d.messages(in) {
				return false
			}
		case fieldMaxTokens:
			if !d.optInt(&in.MaxTokens) {
				return false
			}
		case fieldMaxCompletionTokens:
			if !d.optInt(&in.MaxCompletionTokens) {
				return false
			}
		case fieldN:
			if !d.optInt(&in.N) {
				return false
			}
		case fieldStream:
			if !d.optBool(&in.Stream) {
				return false
			}
		case fieldTools:
			if !d.raw(&in.Tools) {
				return false
			}
		case fieldFunctions:
			if !d.raw(&in.Functions) {
				return false
			}
		case fieldOther:
			if !d.skip(0) {
				return false
			}
		default: // stream_options and anything else the fast path does not decode
			return false
		}
		first = false
		d.ws()
		if d.byte(',') {
			continue
		}
		if d.byte('}') {
			break
		}
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

const (
	fieldOther = iota
	fieldModel
	fieldMessages
	fieldMaxTokens
	fieldMaxCompletionTokens
	fieldN
	fieldStream
	fieldTools
	fieldFunctions
	fieldStreamOptions
	fieldRole
	fieldContent
	fieldName
	fieldToolCalls
	fieldFunctionCall
	fieldFoldsToKnown // a key encoding/json would match case-insensitively: leave it to encoding/json
)

var topFields = map[string]int{
	"model": fieldModel, "messages": fieldMessages, "max_tokens": fieldMaxTokens,
	"max_completion_tokens": fieldMaxCompletionTokens, "n": fieldN, "stream": fieldStream,
	"tools": fieldTools, "functions": fieldFunctions, "stream_options": fieldStreamOptions,
}

var messageFields = map[string]int{
	"role": fieldRole, "content": fieldContent, "name": fieldName,
	"tool_calls": fieldToolCalls, "function_call": fieldFunctionCall,
}

func topField(key []byte) int { return lookupField(topFields, key) }

func lookupField(fields map[string]int, key []byte) int {
	if f, ok := fields[string(key)]; ok {
		return f
	}
	for _, c := range key {
		// encoding/json folds ASCII case and a few non-ASCII letters (K, ſ):
		// any key that is not plain lower-case ASCII might match a field.
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return fieldFoldsToKnown
		}
	}
	return fieldOther
}

type chatDecoder struct {
	b []byte
	i int
}

func (d *chatDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *chatDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *chatDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// lit consumes a literal such as "null".
func (d *chatDecoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// key reads an object key and its colon; keys with escapes are left to encoding/json.
func (d *chatDecoder) key() ([]byte, bool) {
	raw, escaped, ok := d.stringSpan()
	if !ok || escaped {
		return nil, false
	}
	d.ws()
	if !d.byte(':') {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

// stringSpan scans a JSON string starting at the quote and returns its raw
// bytes (quotes included) and whether it has escapes. It validates the string.
func (d *chatDecoder) stringSpan() ([]byte, bool, bool) {
	start := d.i
	if !d.byte('"') {
		return nil, false, false
	}
	escaped := false
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start:d.i], escaped, true
		case c == '\\':
			escaped = true
			if d.i+1 >= len(d.b) {
				return nil, false, false
			}
			switch d.b[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				if d.i+6 > len(d.b) {
					return nil, false, false
				}
				for _, h := range d.b[d.i+2 : d.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				d.i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			d.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// str decodes a JSON string value into a Go string exactly as encoding/json does.
func (d *chatDecoder) str() (string, bool) {
	raw, escaped, ok := d.stringSpan()
	if !ok {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if !escaped && utf8.Valid(inner) {
		return string(inner), true
	}
	// Escapes or invalid UTF-8 (which encoding/json replaces): let it decode.
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// optString decodes a string or null into *string, like a *string field.
func (d *chatDecoder) optString(p **string) bool {
	if d.lit("null") {
		*p = nil
		return true
	}
	s, ok := d.str()
	if !ok {
		return false
	}
	*p = &s
	return true
}

// optBool decodes true, false or null into *bool.
func (d *chatDecoder) optBool(p **bool) bool {
	switch {
	case d.lit("null"):
		*p = nil
	case d.lit("true"):
		v := true
		*p = &v
	case d.lit("false"):
		v := false
		*p = &v
	default:
		return false
	}
	return true
}

// optInt decodes a plain integer or null into *int64; fractions, exponents and
// out-of-range values are left to encoding/json (which rejects them).
func (d *chatDecoder) optInt(p **int64) bool {
	if d.lit("null") {
		*p = nil
		return true
	}
	neg := d.byte('-')
	start := d.i
	var v int64
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		if d.i-start >= 18 {
			return false
		}
		v = v*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	n := d.i - start
	if n == 0 || (n > 1 && d.b[start] == '0') {
		return false
	}
	if c := d.peek(); c == '.' || c == 'e' || c == 'E' {
		return false
	}
	if neg {
		v = -v
	}
	*p = &v
	return true
}

// raw captures a value's bytes, as a json.RawMessage field does.
func (d *chatDecoder) raw(p *json.RawMessage) bool {
	start := d.i
	if !d.skip(0) {
		return false
	}
	*p = append(json.RawMessage(nil), d.b[start:d.i]...)
	return true
}

// maxSkipDepth bounds nesting in skipped values (encoding/json allows 10000).
const maxSkipDepth = 64

// skip validates and skips one value.
func (d *chatDecoder) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch c := d.peek(); {
	case c == '"':
		_, _, ok := d.stringSpan()
		return ok
	case c == '{':
		d.i++
		d.ws()
		if d.byte('}') {
			return true
		}
		for {
			d.ws()
			if _, _, ok := d.stringSpan(); !ok {
				return false
			}
			d.ws()
			if !d.byte(':') {
				return false
			}
			d.ws()
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.byte(',') {
				continue
			}
			return d.byte('}')
		}
	case c == '[':
		d.i++
		d.ws()
		if d.byte(']') {
			return true
		}
		for {
			d.ws()
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.byte(',') {
				continue
			}
			return d.byte(']')
		}
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return false
}

// number validates a JSON number.
func (d *chatDecoder) number() bool {
	d.byte('-')
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.byte('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return false
	}
	if d.byte('.') && digits() == 0 {
		return false
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if !d.byte('+') {
			d.byte('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// messages decodes the messages array: objects whose content is a string or
// null. Content parts are left to encoding/json.
func (d *chatDecoder) messages(in *chatBody) bool {
	if d.lit("null") {
		in.Messages = nil
		return true
	}
	if !d.byte('[') {
		return false
	}
	msgs := make([]chatMessageIn, 0, 4)
	d.ws()
	if !d.byte(']') {
		for {
			d.ws()
			var m chatMessageIn
			if !d.message(&m) {
				return false
			}
			msgs = append(msgs, m)
			d.ws()
			if d.byte(',') {
				continue
			}
			if d.byte(']') {
				break
			}
			return false
		}
	}
	in.Messages = &msgs
	return true
}

func (d *chatDecoder) message(m *chatMessageIn) bool {
	if !d.byte('{') {
		return false // null elements and non-objects: encoding/json
	}
	d.ws()
	if d.byte('}') {
		return true
	}
	var seen uint32
	for {
		d.ws()
		key, ok := d.key()
		if !ok {
			return false
		}
		d.ws()
		field := lookupField(messageFields, key)
		if field == fieldFoldsToKnown {
			return false
		}
		if field != fieldOther {
			if seen&(1<<field) != 0 {
				return false
			}
			seen |= 1 << field
		}
		switch field {
		case fieldRole:
			if !d.optString(&m.Role) {
				return false
			}
		case fieldName:
			if !d.optString(&m.Name) {
				return false
			}
		case fieldContent:
			if c := d.peek(); c != '"' && c != 'n' {
				return false // content parts and wrong types: encoding/json
			}
			if !d.raw(&m.Content) {
				return false
			}
		case fieldToolCalls:
			if !d.raw(&m.ToolCalls) {
				return false
			}
		case fieldFunctionCall:
			if !d.raw(&m.FunctionCall) {
				return false
			}
		default:
			if !d.skip(0) {
				return false
			}
		}
		d.ws()
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}
