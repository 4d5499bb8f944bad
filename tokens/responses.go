package tokens

import "fmt"

// CountResponses counts the prompt of a Responses API request (POST
// /responses) for model m. OpenAI publishes no separate rule for it; the
// request is the chat prompt in other words, so it is counted as the chat
// messages it stands for:
//
//   - instructions is a system message (PerMessage + "system" + the text);
//   - input as a string is one user message;
//   - input as items: message items (type "message", or an item with a
//     role) count like chat messages, their content parts as chat's
//     (input_text, output_text, refusal, input_image, input_file); every
//     other item (function_call, function_call_output, reasoning, ...)
//     costs PerMessage plus the tokens of its strings other than type, id,
//     call_id and status;
//   - the reply primer adds Reply;
//   - tools of type function (flat: name, description, parameters) cost by
//     the cookbook's tool rule; built-in tools cost the tokens of their
//     strings.
//
// max_output_tokens is the completion's maximum. The items of a previous
// response (previous_response_id) are not in the body and not counted: the
// backend bills them, and the usage corrects the estimate.
func CountResponses(m *Model, body []byte) (ChatCount, error) {
	req, err := parseJSON(body)
	if err != nil || req.kind != jsonObject {
		return ChatCount{}, invalid("", "the body must be a JSON object")
	}
	c := ChatCount{N: 1}
	if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_output_tokens", req.get("max_output_tokens"), 0); err != nil {
		return ChatCount{}, err
	}
	cc := counter{m: m, c: &c}
	if ins := req.get("instructions"); !ins.isNull() {
		if ins.kind != jsonString {
			return ChatCount{}, invalid("instructions", "must be a string")
		}
		c.Messages += m.PerMessage + m.Encoding.CountString("system") + m.countText(ins.text)
	}
	switch in := req.get("input"); {
	case in.isNull():
	case in.kind == jsonString:
		c.Messages += m.PerMessage + m.Encoding.CountString("user") + m.countText(in.text)
	case in.kind == jsonArray:
		for i, item := range in.items {
			if err := cc.responseItem(fmt.Sprintf("input[%d]", i), item); err != nil {
				return ChatCount{}, err
			}
		}
	default:
		return ChatCount{}, invalid("input", "must be a string or an array of input items")
	}
	c.Messages += m.Reply

	if tools := req.get("tools"); !tools.isNull() {
		if tools.kind != jsonArray {
			return ChatCount{}, invalid("tools", "must be an array of objects")
		}
		var fns []*jsonValue
		for i, t := range tools.items {
			if t.kind != jsonObject {
				return ChatCount{}, invalid(fmt.Sprintf("tools[%d]", i), "must be an object")
			}
			if typ, _ := t.get("type").str(); string(typ) == "function" {
				fns = append(fns, t)
				continue
			}
			c.Tools += cc.stringsExcept(t, "type")
		}
		n, err := cc.toolDefs("tools", fns, false)
		if err != nil {
			return ChatCount{}, err
		}
		c.Tools += n
	}
	c.Prompt = c.Messages + c.Tools + c.Images
	return c, nil
}

// responseItem counts one input item.
func (cc counter) responseItem(field string, item *jsonValue) error {
	switch item.kind {
	case jsonString: // shorthand seen in clients: a bare string is user text
		cc.c.Messages += cc.m.PerMessage + cc.m.Encoding.CountString("user") + cc.m.countText(item.text)
		return nil
	case jsonObject:
	default:
		return invalid(field, "must be an object")
	}
	typ, _ := item.get("type").str()
	role := item.get("role")
	cc.c.Messages += cc.m.PerMessage
	if string(typ) != "message" && (len(typ) > 0 || role == nil) {
		cc.c.Messages += cc.stringsExcept(item, "type", "id", "call_id", "status")
		return nil
	}
	if r, ok := role.str(); ok {
		cc.c.Messages += cc.m.countText(r)
	}
	content := item.get("content")
	if content == nil {
		return nil
	}
	return cc.content(field+".content", content)
}

// stringsExcept counts the strings of an object's members other than skip.
func (cc counter) stringsExcept(obj *jsonValue, skip ...string) int {
	n := 0
	_ = obj.members(func(key []byte, v *jsonValue) error {
		for _, s := range skip {
			if string(key) == s {
				return nil
			}
		}
		n += cc.strings(v)
		return nil
	})
	return n
}
