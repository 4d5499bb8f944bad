package tokens

import (
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/spillway-gw/spillway/jsonscan"
)

// This file is a small strict JSON parser for CountChat. encoding/json would
// scan a large body twice and copy every string; here a string without
// escapes is a slice of the body, so a 500 KB prompt costs one pass before
// counting. It accepts exactly RFC 8259 JSON (any bytes inside strings, as
// encoding/json does).

// jsonKind is the type of a jsonValue.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a parsed JSON value. For a string, text is its unescaped
// bytes (often a slice of the body, never to be written); for a number, its
// literal; for true, "t". Arrays hold items; objects hold keys and items in
// order, duplicates included.
type jsonValue struct {
	kind  jsonKind
	text  []byte
	keys  [][]byte
	items []*jsonValue
}

// maxJSONDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxJSONDepth = 1000

var (
	errJSON      = errors.New("not valid JSON")
	errJSONDepth = errors.New("JSON nested too deeply")
)

type jsonParser struct {
	b   []byte
	pos int
}

func parseJSON(b []byte) (*jsonValue, error) {
	p := jsonParser{b: b}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.b) {
		return nil, errJSON
	}
	return v, nil
}

func (p *jsonParser) space() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*jsonValue, error) {
	if depth > maxJSONDepth {
		return nil, errJSONDepth
	}
	if p.pos >= len(p.b) {
		return nil, errJSON
	}
	switch c := p.b[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonString, text: s}, nil
	case c == 't':
		return p.literal("true", jsonBool, []byte("t"))
	case c == 'f':
		return p.literal("false", jsonBool, nil)
	case c == 'n':
		return p.literal("null", jsonNull, nil)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, errJSON
}

func (p *jsonParser) literal(word string, kind jsonKind, text []byte) (*jsonValue, error) {
	if len(p.b)-p.pos < len(word) || string(p.b[p.pos:p.pos+len(word)]) != word {
		return nil, errJSON
	}
	p.pos += len(word)
	return &jsonValue{kind: kind, text: text}, nil
}

func (p *jsonParser) number() (*jsonValue, error) {
	start := p.pos
	if p.b[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.b) {
		return nil, errJSON
	}
	if p.b[p.pos] == '0' {
		p.pos++
	} else if !p.digits() {
		return nil, errJSON
	}
	if p.pos < len(p.b) && p.b[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			return nil, errJSON
		}
	}
	if p.pos < len(p.b) && (p.b[p.pos] == 'e' || p.b[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.b) && (p.b[p.pos] == '+' || p.b[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return nil, errJSON
		}
	}
	return &jsonValue{kind: jsonNumber, text: p.b[start:p.pos]}, nil
}

func (p *jsonParser) digits() bool {
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

func (p *jsonParser) array(depth int) (*jsonValue, error) {
	p.pos++ // [
	v := &jsonValue{kind: jsonArray}
	p.space()
	if p.pos < len(p.b) && p.b[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		p.space()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.items = append(v.items, item)
		p.space()
		if p.pos >= len(p.b) {
			return nil, errJSON
		}
		switch p.b[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, errJSON
		}
	}
}

func (p *jsonParser) object(depth int) (*jsonValue, error) {
	p.pos++ // {
	v := &jsonValue{kind: jsonObject}
	p.space()
	if p.pos < len(p.b) && p.b[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		p.space()
		if p.pos >= len(p.b) || p.b[p.pos] != '"' {
			return nil, errJSON
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.b) || p.b[p.pos] != ':' {
			return nil, errJSON
		}
		p.pos++
		p.space()
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
		v.items = append(v.items, item)
		p.space()
		if p.pos >= len(p.b) {
			return nil, errJSON
		}
		switch p.b[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return nil, errJSON
		}
	}
}

// str reads a string at p.pos (on its opening quote) and returns its bytes:
// a slice of the body when it has no escapes, else a new unescaped copy.
// Lone surrogate escapes become U+FFFD, as tiktoken's Python wrapper makes
// of them.
func (p *jsonParser) str() ([]byte, error) {
	p.pos++ // "
	start := p.pos
	for p.pos < len(p.b) {
		p.pos = jsonscan.SkipPlain(p.b, p.pos)
		if p.pos >= len(p.b) {
			break
		}
		c := p.b[p.pos]
		if c == '"' {
			s := p.b[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' {
			return p.strEscaped(start)
		}
		if c < 0x20 {
			return nil, errJSON
		}
		p.pos++
	}
	return nil, errJSON
}

func (p *jsonParser) strEscaped(start int) ([]byte, error) {
	out := append(make([]byte, 0, p.pos-start+64), p.b[start:p.pos]...)
	for p.pos < len(p.b) {
		if plain := jsonscan.SkipPlain(p.b, p.pos); plain > p.pos {
			out = append(out, p.b[p.pos:plain]...)
			if p.pos = plain; p.pos >= len(p.b) {
				break
			}
		}
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, nil
		case c < 0x20:
			return nil, errJSON
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.b) {
			return nil, errJSON
		}
		e := p.b[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, errJSON
			}
			if utf16.IsSurrogate(r) {
				hi := r
				r = utf8.RuneError
				if hi < 0xDC00 && p.pos+1 < len(p.b) && p.b[p.pos] == '\\' && p.b[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					lo, ok := p.hex4()
					if !ok {
						return nil, errJSON
					}
					if d := utf16.DecodeRune(hi, lo); d != utf8.RuneError {
						r = d
					} else {
						p.pos = save // not a pair: the next escape stands alone
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errJSON
		}
	}
	return nil, errJSON
}

// hex4 reads the four hex digits of a \u escape.
func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// get returns the value of the last member named key of an object, or nil:
// like encoding/json and Python, the last of duplicate keys wins.
func (v *jsonValue) get(key string) *jsonValue {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	for i := len(v.keys) - 1; i >= 0; i-- {
		if string(v.keys[i]) == key {
			return v.items[i]
		}
	}
	return nil
}

// isNull reports a missing value or JSON null.
func (v *jsonValue) isNull() bool { return v == nil || v.kind == jsonNull }

// str returns a string value's bytes, and whether it is a string.
func (v *jsonValue) str() ([]byte, bool) {
	if v == nil || v.kind != jsonString {
		return nil, false
	}
	return v.text, true
}

// members calls f for each member of an object whose key is not repeated
// later (the last of duplicate keys wins, as in encoding/json and Python).
func (v *jsonValue) members(f func(key []byte, val *jsonValue) error) error {
	if len(v.keys) <= 16 {
	next:
		for i, k := range v.keys {
			for _, later := range v.keys[i+1:] {
				if string(later) == string(k) {
					continue next
				}
			}
			if err := f(k, v.items[i]); err != nil {
				return err
			}
		}
		return nil
	}
	last := make(map[string]int, len(v.keys))
	for i, k := range v.keys {
		last[string(k)] = i
	}
	for i, k := range v.keys {
		if last[string(k)] == i {
			if err := f(k, v.items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// toAny converts v to the types encoding/json decodes into, for re-encoding.
func (v *jsonValue) toAny() any {
	switch v.kind {
	case jsonBool:
		return len(v.text) > 0
	case jsonNumber:
		return json.Number(v.text)
	case jsonString:
		return string(v.text)
	case jsonArray:
		out := make([]any, len(v.items))
		for i, e := range v.items {
			out[i] = e.toAny()
		}
		return out
	case jsonObject:
		out := make(map[string]any, len(v.items))
		for i, e := range v.items {
			out[string(v.keys[i])] = e.toAny()
		}
		return out
	}
	return nil
}
