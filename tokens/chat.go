package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	Prompt int
	// Messages is the message text and overheads, reply primer included.
	Messages int
	// Tools is the tool and function definitions.
	Tools int
	// Images is the image inputs.
	Images int

	// MaxTokens is max_completion_tokens, or else max_tokens; 0 when the
	// request sets neither (see MaxTokensSet).
	MaxTokens    int
	MaxTokensSet bool
	// N is the number of choices asked for; 1 when n is absent.
	N int

	// Estimated is set when part of the prompt could not be counted exactly
	// and was estimated: a remote image (or a data URL whose size could not
	// be read), audio or file inputs.
	Estimated bool
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
	var req struct {
		Messages            json.RawMessage `json:"messages"`
		Tools               json.RawMessage `json:"tools"`
		Functions           json.RawMessage `json:"functions"`
		MaxTokens           json.RawMessage `json:"max_tokens"`
		MaxCompletionTokens json.RawMessage `json:"max_completion_tokens"`
		N                   json.RawMessage `json:"n"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return ChatCount{}, invalid("", "the body must be a JSON object")
	}
	c := ChatCount{N: 1}
	var err error
	if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_completion_tokens", req.MaxCompletionTokens, 0); err != nil {
		return ChatCount{}, err
	}
	if !c.MaxTokensSet {
		if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_tokens", req.MaxTokens, 0); err != nil {
			return ChatCount{}, err
		}
	}
	if n, set, err := optionalInt("n", req.N, 1); err != nil {
		return ChatCount{}, err
	} else if set {
		c.N = n
	}

	var messages []map[string]any
	if isNull(req.Messages) {
		return ChatCount{}, invalid("messages", "is required")
	}
	if err := json.Unmarshal(req.Messages, &messages); err != nil {
		return ChatCount{}, invalid("messages", "must be an array of objects")
	}
	cc := counter{m: m, c: &c}
	for i, msg := range messages {
		if msg == nil {
			return ChatCount{}, invalid(fmt.Sprintf("messages[%d]", i), "must be an object")
		}
		c.Messages += m.PerMessage
		for key, v := range msg {
			if key == "content" {
				if err := cc.content(fmt.Sprintf("messages[%d].content", i), v); err != nil {
					return ChatCount{}, err
				}
				continue
			}
			c.Messages += cc.strings(v)
			if key == "name" {
				c.Messages += m.PerName
			}
		}
	}
	c.Messages += m.Reply

	for _, f := range []struct {
		field   string
		raw     json.RawMessage
		wrapped bool
	}{{"tools", req.Tools, true}, {"functions", req.Functions, false}} {
		if isNull(f.raw) {
			continue
		}
		var defs []map[string]any
		if err := json.Unmarshal(f.raw, &defs); err != nil {
			return ChatCount{}, invalid(f.field, "must be an array of objects")
		}
		n, err := cc.toolDefs(f.field, defs, f.wrapped)
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

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// optionalInt reads a non-negative integer field (at least min); absent and
// null are "not set".
func optionalInt(field string, raw json.RawMessage, min int) (int, bool, error) {
	if isNull(raw) {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) || f < float64(min) || f > math.MaxInt32 {
		return 0, false, invalid(field, fmt.Sprintf("must be an integer of at least %d", min))
	}
	return int(f), true, nil
}

// counter carries the model and the running count through a request.
type counter struct {
	m *Model
	c *ChatCount
}

// strings returns the tokens of every string in v, however deeply nested.
func (cc counter) strings(v any) int {
	switch v := v.(type) {
	case string:
		return cc.m.Encoding.CountString(v)
	case []any:
		n := 0
		for _, e := range v {
			n += cc.strings(e)
		}
		return n
	case map[string]any:
		n := 0
		for _, e := range v {
			n += cc.strings(e)
		}
		return n
	}
	return 0
}

// content counts a message's content: a string, null, or an array of parts.
func (cc counter) content(field string, v any) error {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		cc.c.Messages += cc.m.Encoding.CountString(v)
		return nil
	case []any:
		for i, p := range v {
			if err := cc.part(fmt.Sprintf("%s[%d]", field, i), p); err != nil {
				return err
			}
		}
		return nil
	}
	return invalid(field, "must be a string or an array of content parts")
}

func (cc counter) part(field string, p any) error {
	part, ok := p.(map[string]any)
	if !ok {
		// A bare string in the array is taken as text.
		if s, ok := p.(string); ok {
			cc.c.Messages += cc.m.Encoding.CountString(s)
			return nil
		}
		return invalid(field, "must be an object")
	}
	typ, _ := part["type"].(string)
	switch typ {
	case "text", "input_text":
		cc.c.Messages += cc.strings(part["text"])
	case "refusal":
		cc.c.Messages += cc.strings(part["refusal"])
	case "image_url", "input_image":
		return cc.image(field, part)
	case "input_audio", "file", "input_file":
		cc.c.Estimated = true
	default:
		// Unknown part: count its strings other than the type.
		for k, v := range part {
			if k != "type" {
				cc.c.Messages += cc.strings(v)
			}
		}
		cc.c.Estimated = true
	}
	return nil
}

func (cc counter) image(field string, part map[string]any) error {
	var url, detail string
	switch iu := part["image_url"].(type) {
	case string:
		url = iu
	case map[string]any:
		url, _ = iu["url"].(string)
		detail, _ = iu["detail"].(string)
	default:
		return invalid(field+".image_url", "must be an object with a url")
	}
	if d, ok := part["detail"].(string); ok && detail == "" {
		detail = d
	}
	if url == "" {
		return invalid(field+".image_url.url", "is required")
	}
	w, h, ok := 0, 0, false
	if strings.HasPrefix(url, "data:") {
		w, h, ok = dataURLImageSize(url)
	}
	if !ok {
		w, h = RemoteImageWidth, RemoteImageHeight
		if detail != "low" || cc.m.Images.Patches {
			cc.c.Estimated = true
		}
	}
	cc.c.Images += cc.m.Images.imageTokens(w, h, detail)
	return nil
}

// toolDefs counts tool definitions by the cookbook's num_tokens_for_tools.
// wrapped is true for tools ({"type":"function","function":{...}}) and false
// for the older functions array, whose entries are the function itself.
func (cc counter) toolDefs(field string, defs []map[string]any, wrapped bool) (int, error) {
	if len(defs) == 0 {
		return 0, nil
	}
	tc, enc := cc.m.Tools, cc.m.Encoding
	n := 0
	for i, def := range defs {
		fn := def
		if wrapped {
			f, ok := def["function"].(map[string]any)
			if !ok {
				// Not a function tool (e.g. a built-in tool): count its strings.
				n += cc.strings(def)
				continue
			}
			fn = f
		}
		name, ok := fn["name"].(string)
		if !ok {
			return 0, invalid(fmt.Sprintf("%s[%d].name", field, i), "must be a string")
		}
		desc, _ := fn["description"].(string)
		n += tc.FuncInit + enc.CountString(name+":"+strings.TrimSuffix(desc, "."))
		params, _ := fn["parameters"].(map[string]any)
		props, _ := params["properties"].(map[string]any)
		if len(props) == 0 {
			continue
		}
		n += tc.PropInit
		for key, pv := range props {
			n += tc.PropKey
			prop, _ := pv.(map[string]any)
			if enum, ok := prop["enum"].([]any); ok {
				n += tc.EnumInit
				for _, item := range enum {
					n += tc.EnumItem + enc.CountString(scalarText(item))
				}
			}
			pdesc, _ := prop["description"].(string)
			n += enc.CountString(key + ":" + scalarText(prop["type"]) + ":" + strings.TrimSuffix(pdesc, "."))
		}
	}
	return n + tc.FuncEnd, nil
}

// scalarText is the text of a JSON value as the cookbook would format it: a
// string as itself, anything else as its JSON.
func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
