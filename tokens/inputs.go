package tokens

import "fmt"

// CountCompletion counts a legacy completions request: the prompt's tokens
// (a string, an array of strings, an array of token ids, or an array of
// token-id arrays; there is no message framing), max_tokens, and the choices
// asked for (n, or best_of when larger: Azure generates best_of
// completions). Malformed input gives an error wrapping ErrInvalidRequest.
func CountCompletion(m *Model, body []byte) (ChatCount, error) {
	req, err := parseJSON(body)
	if err != nil || req.kind != jsonObject {
		return ChatCount{}, invalid("", "the body must be a JSON object")
	}
	c := ChatCount{N: 1}
	if c.MaxTokens, c.MaxTokensSet, err = optionalInt("max_tokens", req.get("max_tokens"), 0); err != nil {
		return ChatCount{}, err
	}
	for _, f := range []string{"n", "best_of"} {
		n, set, err := optionalInt(f, req.get(f), 1)
		if err != nil {
			return ChatCount{}, err
		}
		if set && n > c.N {
			c.N = n
		}
	}
	if c.Messages, err = countInputs(m, "prompt", req.get("prompt")); err != nil {
		return ChatCount{}, err
	}
	c.Prompt = c.Messages
	return c, nil
}

// CountEmbeddings counts an embeddings request's input: a string, an array
// of strings, an array of token ids, or an array of token-id arrays. Token
// ids count one each, exactly as the backend will.
func CountEmbeddings(m *Model, body []byte) (int, error) {
	req, err := parseJSON(body)
	if err != nil || req.kind != jsonObject {
		return 0, invalid("", "the body must be a JSON object")
	}
	return countInputs(m, "input", req.get("input"))
}

// countInputs counts the text-or-tokens input forms both APIs accept.
func countInputs(m *Model, field string, v *jsonValue) (int, error) {
	bad := invalid(field, "must be a string, an array of strings, an array of integers, or an array of integer arrays")
	if v.isNull() {
		return 0, invalid(field, "is required")
	}
	switch v.kind {
	case jsonString:
		return m.countText(v.text), nil
	case jsonArray:
	default:
		return 0, bad
	}
	n := 0
	for i, item := range v.items {
		switch item.kind {
		case jsonString:
			n += m.countText(item.text)
		case jsonNumber:
			n++
		case jsonArray:
			for _, tok := range item.items {
				if tok.kind != jsonNumber {
					return 0, invalid(fmt.Sprintf("%s[%d]", field, i), "must be an array of integers")
				}
			}
			n += len(item.items)
		default:
			return 0, bad
		}
	}
	return n, nil
}
