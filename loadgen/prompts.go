package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxPromptLine bounds one line of a prompts file.
const maxPromptLine = 16 << 20

// ReadPrompts reads a JSONL file of chat-completions requests, one JSON
// object with a non-empty "messages" array per line; blank lines are skipped.
// Every bad line is reported, by line number.
func ReadPrompts(r io.Reader) ([]json.RawMessage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxPromptLine)
	var out []json.RawMessage
	var errs []error
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var v struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			errs = append(errs, fmt.Errorf("line %d: not a JSON object: %w", line, err))
			continue
		}
		if len(v.Messages) == 0 {
			errs = append(errs, fmt.Errorf("line %d: messages: required, a non-empty array of chat messages", line))
			continue
		}
		out = append(out, json.RawMessage(bytes.Clone(b)))
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no requests: the file has no non-blank line"))
	}
	return out, errors.Join(errs...)
}

// promptBody returns a prompts-file request as sent, and whether it streams:
// a request streams when its line says "stream": true or when stream is set;
// a streaming request always asks for usage (stream_options.include_usage).
func promptBody(raw json.RawMessage, stream bool) ([]byte, bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, err
	}
	var own bool
	if s, ok := m["stream"]; ok {
		_ = json.Unmarshal(s, &own)
	}
	if !stream && !own {
		return raw, false, nil
	}
	m["stream"] = json.RawMessage("true")
	opts := map[string]json.RawMessage{}
	if o, ok := m["stream_options"]; ok {
		_ = json.Unmarshal(o, &opts)
	}
	opts["include_usage"] = json.RawMessage("true")
	ob, err := json.Marshal(opts)
	if err != nil {
		return nil, false, err
	}
	m["stream_options"] = ob
	b, err := json.Marshal(m)
	return b, true, err
}
