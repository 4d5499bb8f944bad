package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// errIncompleteStream: the SSE stream ended without data: [DONE].
var errIncompleteStream = errors.New("stream ended before data: [DONE]")

// maxEventBytes bounds one SSE line.
const maxEventBytes = 1 << 20

// usage is the usage object of a response, and whether one was seen.
type usage struct {
	known            bool
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// readJSON reads a JSON response to the end; for a success it decodes usage.
func readJSON(body io.Reader, success bool) (usage, error) {
	b, err := io.ReadAll(body)
	if err != nil || !success {
		return usage{}, err
	}
	var v struct {
		Usage *usage `json:"usage"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return usage{}, fmt.Errorf("decode response: %w", err)
	}
	if v.Usage == nil {
		return usage{}, nil
	}
	u := *v.Usage
	u.known = true
	return u, nil
}

var (
	dataPrefix  = []byte("data:")
	doneMarker  = []byte("[DONE]")
	usageMarker = []byte(`"usage"`)
	usageNull   = []byte(`"usage":null`)
)

// readSSE reads an event stream to the end. The usage is the last event's
// non-null usage; a stream that ends without data: [DONE] is incomplete.
func readSSE(body io.Reader) (usage, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var u usage
	done := false
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, dataPrefix) {
			continue
		}
		data := bytes.TrimSpace(line[len(dataPrefix):])
		if bytes.Equal(data, doneMarker) {
			done = true
			continue
		}
		// Only the usage event is decoded: the others are most of the stream.
		if !bytes.Contains(data, usageMarker) || bytes.Contains(data, usageNull) {
			continue
		}
		var v struct {
			Usage *usage `json:"usage"`
		}
		if err := json.Unmarshal(data, &v); err == nil && v.Usage != nil {
			u = *v.Usage
			u.known = true
		}
	}
	if err := sc.Err(); err != nil {
		return u, err
	}
	if !done {
		return u, errIncompleteStream
	}
	return u, nil
}
