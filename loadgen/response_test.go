package loadgen

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadSSE(t *testing.T) {
	const usageEvent = `data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}` + "\n\n"
	const chunk = `data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}` + "\n\n"
	for _, c := range []struct {
		name      string
		stream    string
		wantUsage usage
		wantErr   error
	}{
		{"usage then done", chunk + chunk + usageEvent + "data: [DONE]\n\n", usage{known: true, PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}, nil},
		{"no usage asked", chunk + "data: [DONE]\n\n", usage{}, nil},
		{"no space after data:, CRLF lines", strings.ReplaceAll("data:"+usageEvent[5:]+"data:[DONE]\n\n", "\n", "\r\n"), usage{known: true, PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}, nil},
		{"cut before done", chunk + usageEvent, usage{known: true, PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}, errIncompleteStream},
		{"empty", "", usage{}, errIncompleteStream},
		{"comments and other fields are skipped", ": keep-alive\nevent: message\n" + chunk + "data: [DONE]\n\n", usage{}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One byte at a time: events split anywhere are read whole.
			u, err := readSSE(iotest.OneByteReader(strings.NewReader(c.stream)), nil)
			if u != c.wantUsage || !errors.Is(err, c.wantErr) {
				t.Errorf("readSSE = %+v, %v; want %+v, %v", u, err, c.wantUsage, c.wantErr)
			}
		})
	}
}

func TestReadJSON(t *testing.T) {
	for _, c := range []struct {
		name      string
		body      string
		success   bool
		wantUsage usage
		wantErr   bool
	}{
		{"success with usage", `{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, true, usage{known: true, PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12}, false},
		{"success without usage", `{"choices":[]}`, true, usage{}, false},
		{"error body is not decoded", `{"error":{"code":"429"}}`, false, usage{}, false},
		{"truncated success", `{"choices":[],"usa`, true, usage{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := readJSON(strings.NewReader(c.body), c.success)
			if u != c.wantUsage || (err != nil) != c.wantErr {
				t.Errorf("readJSON = %+v, %v; want %+v, error %v", u, err, c.wantUsage, c.wantErr)
			}
		})
	}
}
