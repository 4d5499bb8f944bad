package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
	deltaMarker = []byte(`"delta"`)
)

// readSSE reads an event stream to the end. The usage is the last event's
// non-null usage; a stream that ends without data: [DONE] is incomplete.
// firstContent, when not nil, is called at the first event with a choices
// delta: the first token.
func readSSE(body io.Reader, firstContent func()) (usage, error) {
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
		if firstContent != nil && bytes.Contains(data, deltaMarker) {
			firstContent()
			firstContent = nil
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

// maxErrorBody bounds the part of an error response kept.
const maxErrorBody = 200

// readError reads an error response to the end and returns a short text of
// it: "code: message" for an Azure/OpenAI-shaped error, else the body's start.
func readError(body io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	var v struct {
		Error *struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	text := string(bytes.TrimSpace(b))
	if json.Unmarshal(b, &v) == nil && v.Error != nil {
		text = v.Error.Message
		if v.Error.Code != nil {
			text = fmt.Sprint(v.Error.Code) + ": " + text
		}
	}
	if len(text) > maxErrorBody {
		text = strings.ToValidUTF8(text[:maxErrorBody], "") + "…"
	}
	return text, err
}
