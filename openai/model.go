package openai

import (
	"bytes"
	"encoding/json"
	"errors"
)

// errNoModel: the body has no top-level "model" string to replace.
var errNoModel = errors.New("body has no top-level model string")

// SetModel returns body with its top-level "model" string replaced by model.
// Every other byte stays as the client sent it. The Responses API names the
// deployment in the body, so each attempt to another backend carries that
// backend's deployment name.
func SetModel(body []byte, model string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNoModel
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		start := int(dec.InputOffset()) // after the key: blanks, colon, blanks, value
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if key != "model" {
			continue
		}
		end := int(dec.InputOffset())
		i := start + bytes.IndexByte(body[start:end], ':') + 1
		for i < end && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
			i++
		}
		if i >= end || body[i] != '"' {
			return nil, errNoModel
		}
		q, err := json.Marshal(model)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(body)-(end-i)+len(q))
		out = append(out, body[:i]...)
		out = append(out, q...)
		return append(out, body[end:]...), nil
	}
	return nil, errNoModel
}
