package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidRequest is wrapped by every error CountChat returns: the body is
// not a chat-completions request it can count. The message after it says
// which field is wrong and is safe to show a client (it never quotes the
// prompt).
var ErrInvalidRequest = errors.New("invalid chat request")

// ChatCount is what CountChat learns from a chat-completions body.
type ChatCount struct {
	// Prompt is the prompt tokens by OpenAI's rule: Messages + Tools + Images.
	Prompt int `json:"prompt"`
	// Messages is the message text and overheads, reply primer included.
	Messages int `json:"messages"`
	// Tools is the tool and function definitions.
	Tools int `json:"tools"`
	// Images is the image inputs.
	Images int `json:"images"`

	// MaxTokens is max_completion_tokens, or else max_tokens; 0 when the
	// request sets neither (see MaxTokensSet).
	MaxTokens    int  `json:"max_tokens"`
	MaxTokensSet bool `json:"max_tokens_set"`
	// N is the number of choices asked for; 1 when n is absent.
	N int `json:"n"`

	// Estimated is set when part of the prompt could not be counted exactly
	// and was estimated: a remote image (or a data URL whose size could not
	// be read), audio or file inputs.
	Estimated bool `json:"estimated"`
}

// Completion returns the completion tokens to reserve: MaxTokens for each of
// the N choices, or defaultMax for each when the request sets no maximum (Azure
// documents the prompt plus max_tokens as its arrival estimate; its own tools
// use 16 when max_tokens is absent).
func (c ChatCount) Completion(defaultMax int) int {
	m := defaultMax
	if c.MaxTokensSet {
		m = c.MaxTokens
	}
	return m * max(c.N, 1)
}

// Arrival returns the token cost to charge when the request arrives: the
// prompt plus Completion(defaultMax).
func (c ChatCount) Arrival(defaultMax int) int { return c.Prompt + c.Completion(defaultMax) }

// CountChat counts the prompt tokens of a chat-completions request body for
// model m, by OpenAI's published method:
//
//   - every message costs PerMessage (3), plus the tokens of every string
//     field in it (role, content, name, ...), plus PerName (1) if it has a
//     name; string values nested in other fields (tool_calls, function_call)
//     are counted too;
//   - content may be a string or an array of parts: text and refusal parts
//     count their text, image_url parts cost by ImageCosts, input_audio and
//     file parts are not counted and mark the count Estimated;
//   - tools (and the older functions) cost by the cookbook's approximation;
//   - the reply primer adds Reply (3).
//
// Malformed input gives an error wrapping ErrInvalidRequest, never a panic.
func CountChat(m *Model, body []byte) (ChatCount, error) {
	req, err := parseJSON(body)
	if err != nil || req.kind != jsonObject {
		return ChatCount{}, invalid("", "the body must be a JSON object")
	}
	c := ChatCount{N: 1}
	if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_completion_tokens", req.get("max_completion_tokens"), 0); err != nil {
		return ChatCount{}, err
	}
	if !c.MaxTokensSet {
		if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_tokens", req.get("max_tokens"), 0); err != nil {
			return ChatCount{}, err
		}
	}
	if n, set, err := optionalInt("n", req.get("n"), 1); err != nil {
		return ChatCount{}, err
	} else if set {
		c.N = n
	}

	messages := req.get("messages")
	if messages.isNull() {
		return ChatCount{}, invalid("messages", "is required")
	}
	if messages.kind != jsonArray {
		return ChatCount{}, invalid("messages", "must be an array of objects")
	}
	cc := counter{m: m, c: &c}
	for i, msg := range messages.items {
		if msg.kind != jsonObject {
			return ChatCount{}, invalid(fmt.Sprintf("messages[%d]", i), "must be an object")
		}
		c.Messages += m.PerMessage
		err := msg.members(func(key []byte, v *jsonValue) error {
			if string(key) == "content" {
				if v.kind == jsonString { // most messages: no field name to build
					c.Messages += m.countText(v.text)
					return nil
				}
				return cc.content(fmt.Sprintf("messages[%d].content", i), v)
			}
			c.Messages += cc.strings(v)
			if string(key) == "name" {
				c.Messages += m.PerName
			}
			return nil
		})
		if err != nil {
			return ChatCount{}, err
		}
	}
	c.Messages += m.Reply

	for _, f := range []struct {
		field   string
		wrapped bool
	}{{"tools", true}, {"functions", false}} {
		defs := req.get(f.field)
		if defs.isNull() {
			continue
		}
		if defs.kind != jsonArray {
			return ChatCount{}, invalid(f.field, "must be an array of objects")
		}
		n, err := cc.toolDefs(f.field, defs.items, f.wrapped)
		if err != nil {
			return ChatCount{}, err
		}
		c.Tools += n
	}
	c.Prompt = c.Messages + c.Tools + c.Images
	return c, nil
}

func invalid(field, problem string) error {
	if field == "" {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, problem)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidRequest, field, problem)
}

// optionalInt reads an integer field of at least min; absent and null are
// "not set".
func optionalInt(field string, v *jsonValue, min int) (int, bool, error) {
	if v.isNull() {
		return 0, false, nil
	}
	bad := invalid(field, fmt.Sprintf("must be an integer of at least %d", min))
	if v.kind != jsonNumber {
		return 0, false, bad
	}
	f, err := strconv.ParseFloat(string(v.text), 64)
	if err != nil || f != math.Trunc(f) || f < float64(min) || f > math.MaxInt32 {
		return 0, false, bad
	}
	return int(f), true, nil
}

// counter carries the model and the running count through a request.
type counter struct {
	m *Model
	c *ChatCount
}

// strings returns the tokens of every string in v, however deeply nested
// (object keys excluded).
func (cc counter) strings(v *jsonValue) int {
	switch v.kind {
	case jsonString:
		return cc.m.countText(v.text)
	case jsonArray, jsonObject:
		n := 0
		for _, e := range v.items {
			n += cc.strings(e)
		}
		return n
	}
	return 0
}

// content counts a message's content: a string, null, or an array of parts.
func (cc counter) content(field string, v *jsonValue) error {
	switch v.kind {
	case jsonNull:
		return nil
	case jsonString:
		cc.c.Messages += cc.m.countText(v.text)
		return nil
	case jsonArray:
		for i, p := range v.items {
			if err := cc.part(fmt.Sprintf("%s[%d]", field, i), p); err != nil {
				return err
			}
		}
		return nil
	}
	return invalid(field, "must be a string or an array of content parts")
}

func (cc counter) part(field string, part *jsonValue) error {
	switch part.kind {
	case jsonString: // a bare string in the array is taken as text
		cc.c.Messages += cc.m.countText(part.text)
		return nil
	case jsonObject:
	default:
		return invalid(field, "must be an object")
	}
	typ, _ := part.get("type").str()
	switch string(typ) {
	case "text", "input_text", "output_text":
		cc.c.Messages += cc.strings(orNull(part.get("text")))
	case "refusal":
		cc.c.Messages += cc.strings(orNull(part.get("refusal")))
	case "image_url", "input_image":
		return cc.image(field, part)
	case "input_audio", "file", "input_file":
		cc.c.Estimated = true
	default:
		// Unknown part: count its strings other than the type.
		_ = part.members(func(key []byte, v *jsonValue) error {
			if string(key) != "type" {
				cc.c.Messages += cc.strings(v)
			}
			return nil
		})
		cc.c.Estimated = true
	}
	return nil
}

var jsonNullValue = &jsonValue{kind: jsonNull}

func orNull(v *jsonValue) *jsonValue {
	if v == nil {
		return jsonNullValue
	}
	return v
}

func (cc counter) image(field string, part *jsonValue) error {
	var url, detail []byte
	switch iu := part.get("image_url"); {
	case iu != nil && iu.kind == jsonString:
		url = iu.text
	case iu != nil && iu.kind == jsonObject:
		url, _ = iu.get("url").str()
		detail, _ = iu.get("detail").str()
	default:
		return invalid(field+".image_url", "must be an object with a url")
	}
	if d, ok := part.get("detail").str(); ok && len(detail) == 0 {
		detail = d
	}
	if len(url) == 0 {
		return invalid(field+".image_url.url", "is required")
	}
	w, h, ok := 0, 0, false
	if bytes.HasPrefix(url, []byte("data:")) {
		w, h, ok = dataURLImageSize(url)
	}
	if !ok {
		w, h = RemoteImageWidth, RemoteImageHeight
		if string(detail) != "low" || cc.m.Images.Patches {
			cc.c.Estimated = true
		}
	}
	cc.c.Images += cc.m.Images.imageTokens(w, h, string(detail))
	return nil
}

// toolDefs counts tool definitions by the cookbook's num_tokens_for_tools.
// wrapped is true for tools ({"type":"function","function":{...}}) and false
// for the older functions array, whose entries are the function itself.
func (cc counter) toolDefs(field string, defs []*jsonValue, wrapped bool) (int, error) {
	if len(defs) == 0 {
		return 0, nil
	}
	tc, enc := cc.m.Tools, cc.m.Encoding
	n := 0
	for i, def := range defs {
		if def.kind != jsonObject {
			return 0, invalid(fmt.Sprintf("%s[%d]", field, i), "must be an object")
		}
		fn := def
		if wrapped {
			fn = def.get("function")
			if fn == nil || fn.kind != jsonObject {
				// Not a function tool (e.g. a built-in tool): count its strings.
				n += cc.strings(def)
				continue
			}
		}
		name, ok := fn.get("name").str()
		if !ok {
			return 0, invalid(fmt.Sprintf("%s[%d].name", field, i), "must be a string")
		}
		desc, _ := fn.get("description").str()
		n += tc.FuncInit + enc.CountString(string(name)+":"+strings.TrimSuffix(string(desc), "."))
		props := fn.get("parameters").get("properties")
		if props == nil || props.kind != jsonObject || len(props.keys) == 0 {
			continue
		}
		n += tc.PropInit
		_ = props.members(func(key []byte, prop *jsonValue) error {
			n += tc.PropKey
			if enum := prop.get("enum"); enum != nil && enum.kind == jsonArray {
				n += tc.EnumInit
				for _, item := range enum.items {
					n += tc.EnumItem + enc.CountString(scalarText(item))
				}
			}
			pdesc, _ := prop.get("description").str()
			n += enc.CountString(string(key) + ":" + scalarText(prop.get("type")) + ":" + strings.TrimSuffix(string(pdesc), "."))
			return nil
		})
	}
	return n + tc.FuncEnd, nil
}

// scalarText is the text of a JSON value as the cookbook would format it: a
// string as itself, anything else as its JSON.
func scalarText(v *jsonValue) string {
	if v == nil {
		return ""
	}
	switch v.kind {
	case jsonNull:
		return ""
	case jsonString, jsonNumber:
		return string(v.text)
	case jsonBool:
		if len(v.text) > 0 {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v.toAny())
	return string(b)
}
