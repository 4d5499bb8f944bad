package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spillway-gw/spillway/azure"
)

// chatRequest is what the simulator needs from a chat-completions body.
type chatRequest struct {
	model        string
	messages     []chatMessage
	maxTokens    int64 // 0 when the request sets none
	stream       bool
	includeUsage bool
	n            int64
	toolsBytes   int    // length of the raw "tools"/"functions" JSON, for the approximation
	tools        []byte // the raw "tools" then "functions" JSON, for the prompt cache
}

type chatMessage struct {
	role   string
	name   string
	text   string // all text parts joined
	images []string
	extra  int // bytes of tool_calls / function_call JSON
}

// Wire shapes. Pointers tell "absent" from zero values.
type chatBody struct {
	Model               *string          `json:"model"`
	Messages            *[]chatMessageIn `json:"messages"`
	MaxTokens           *int64           `json:"max_tokens"`
	MaxCompletionTokens *int64           `json:"max_completion_tokens"`
	Stream              *bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	N         *int64          `json:"n"`
	Tools     json.RawMessage `json:"tools"`
	Functions json.RawMessage `json:"functions"`
}

type chatMessageIn struct {
	Role         *string         `json:"role"`
	Content      json.RawMessage `json:"content"`
	Name         *string         `json:"name"`
	ToolCalls    json.RawMessage `json:"tool_calls"`
	FunctionCall json.RawMessage `json:"function_call"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

const maxN = 128

// parseChatRequest validates a chat-completions body. Every failure is a 400
// in Azure's shape; it never panics, whatever the input.
func parseChatRequest(body []byte) (chatRequest, *azure.Error) {
	var in chatBody
	if !decodeChatBody(body, &in) {
		in = chatBody{}
		if err := decodeJSON(body, &in); err != nil {
			return chatRequest{}, err
		}
	}
	var r chatRequest
	if in.Model != nil {
		r.model = *in.Model
	}
	if in.Messages == nil {
		return r, azure.BadRequest("'messages' is a required property", "messages")
	}
	if len(*in.Messages) == 0 {
		return r, azure.BadRequest("[] is too short - 'messages'", "messages")
	}
	r.messages = make([]chatMessage, len(*in.Messages))
	for i, m := range *in.Messages {
		p := messagePath(i)
		if m.Role == nil || *m.Role == "" {
			return r, azure.BadRequest(fmt.Sprintf("Missing required parameter: '%s.role'.", p), p+".role")
		}
		switch *m.Role {
		case "system", "user", "assistant", "tool", "function", "developer":
		default:
			return r, azure.BadRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", truncate(*m.Role, 64)), p+".role")
		}
		out := chatMessage{role: *m.Role, extra: len(m.ToolCalls) + len(m.FunctionCall)}
		if m.Name != nil {
			out.name = *m.Name
		}
		if err := parseContent(m.Content, p+".content", &out); err != nil {
			return r, err
		}
		r.messages[i] = out
	}
	switch {
	case in.MaxTokens != nil:
		if *in.MaxTokens < 1 {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *in.MaxTokens), "max_tokens")
		}
		r.maxTokens = *in.MaxTokens
	case in.MaxCompletionTokens != nil:
		if *in.MaxCompletionTokens < 1 {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *in.MaxCompletionTokens), "max_completion_tokens")
		}
		r.maxTokens = *in.MaxCompletionTokens
	}
	r.n = 1
	if in.N != nil {
		if *in.N < 1 || *in.N > maxN {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'n': expected a value between 1 and %d, but got %d instead.", maxN, *in.N), "n")
		}
		r.n = *in.N
	}
	r.stream = in.Stream != nil && *in.Stream
	if in.StreamOptions != nil {
		if !r.stream {
			return r, azure.BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
		}
		r.includeUsage = in.StreamOptions.IncludeUsage != nil && *in.StreamOptions.IncludeUsage
	}
	r.toolsBytes = len(in.Tools) + len(in.Functions)
	r.tools = append(in.Tools, in.Functions...)
	return r, nil
}

func parseContent(raw json.RawMessage, path string, out *chatMessage) *azure.Error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil // assistant messages with tool_calls carry no content
	}
	switch raw[0] {
	case '"':
		// The body is valid JSON already: a string without escapes is its own text.
		if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
			out.text = string(raw[1 : len(raw)-1])
			return nil
		}
		if err := json.Unmarshal(raw, &out.text); err != nil {
			return invalidType(path, "a string or an array of content parts")
		}
		return nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return invalidType(path, "an array of content parts")
		}
		var sb strings.Builder
		for j, p := range parts {
			switch p.Type {
			case "text":
				sb.WriteString(p.Text)
			case "image_url":
				if p.ImageURL == nil || p.ImageURL.URL == "" {
					return azure.BadRequest(fmt.Sprintf("Missing required parameter: '%s[%d].image_url.url'.", path, j), fmt.Sprintf("%s[%d].image_url", path, j))
				}
				out.images = append(out.images, p.ImageURL.Detail)
			default:
				return azure.BadRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'text' and 'image_url'.", truncate(p.Type, 64)), fmt.Sprintf("%s[%d].type", path, j))
			}
		}
		out.text = sb.String()
		return nil
	default:
		return invalidType(path, "a string or an array of content parts")
	}
}

// embeddingsRequest is what the simulator needs from an embeddings body.
type embeddingsRequest struct {
	model      string
	inputs     []string // text inputs
	tokenCount int64    // tokens of pre-tokenized inputs
	count      int      // number of inputs (= embeddings returned)
	dimensions int      // 0 = the deployment's default
	base64     bool
}

type embeddingsBody struct {
	Model          *string         `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat *string         `json:"encoding_format"`
}

const maxEmbeddingInputs = 2048

func parseEmbeddingsRequest(body []byte) (embeddingsRequest, *azure.Error) {
	var in embeddingsBody
	if err := decodeJSON(body, &in); err != nil {
		return embeddingsRequest{}, err
	}
	var r embeddingsRequest
	if in.Model != nil {
		r.model = *in.Model
	}
	raw := bytes.TrimSpace(in.Input)
	if len(raw) == 0 || string(raw) == "null" {
		return r, azure.BadRequest("'input' is a required property", "input")
	}
	ti, ok := parseTextInputs(raw)
	if !ok {
		return r, invalidType("input", "a string, an array of strings, or an array of token arrays")
	}
	r.inputs, r.tokenCount, r.count = ti.texts, ti.tokens, int(ti.count)
	if r.count == 0 {
		return r, azure.BadRequest("'input' must not be empty", "input")
	}
	if r.count > maxEmbeddingInputs {
		return r, azure.BadRequest(fmt.Sprintf("Too many inputs. The max number of inputs is %d.", maxEmbeddingInputs), "input")
	}
	if in.Dimensions != nil {
		if *in.Dimensions < 1 || *in.Dimensions > 4096 {
			return r, azure.BadRequest("Invalid 'dimensions': expected a value between 1 and 4096.", "dimensions")
		}
		r.dimensions = *in.Dimensions
	}
	if in.EncodingFormat != nil {
		switch *in.EncodingFormat {
		case "float":
		case "base64":
			r.base64 = true
		default:
			return r, azure.BadRequest("Invalid value for 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
		}
	}
	return r, nil
}

// decodeJSON decodes a JSON object body, turning every failure into Azure's 400.
func decodeJSON(body []byte, v any) *azure.Error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalidType(te.Field, jsonKind(te.Type.Kind().String()))
	}
	return azure.BadRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. "+
		"The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64", "int", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return goKind
}

func invalidType(path, want string) *azure.Error {
	return azure.BadRequest(fmt.Sprintf("Invalid type for '%s': expected %s.", path, want), path)
}

// messagePath names messages[i] in error messages, without formatting for the common small i.
func messagePath(i int) string {
	if i < len(messagePaths) {
		return messagePaths[i]
	}
	return fmt.Sprintf("messages[%d]", i)
}

var messagePaths = func() []string {
	p := make([]string, 64)
	for i := range p {
		p[i] = fmt.Sprintf("messages[%d]", i)
	}
	return p
}()

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// textInputs is an OpenAI text-or-tokens field (embeddings' input, legacy
// completions' prompt): a string, strings, token ids, or token-id arrays.
type textInputs struct {
	texts  []string // text items
	tokens int64    // tokens of pre-tokenized items
	count  int64    // items
}

// parseTextInputs reads raw in any of the four forms; ok is false for
// anything else.
func parseTextInputs(raw []byte) (textInputs, bool) {
	var s string
	var ss []string
	var ids []int64
	var idss [][]int64
	switch {
	case json.Unmarshal(raw, &s) == nil:
		return textInputs{texts: []string{s}, count: 1}, true
	case json.Unmarshal(raw, &ss) == nil:
		return textInputs{texts: ss, count: int64(len(ss))}, true
	case json.Unmarshal(raw, &ids) == nil:
		return textInputs{tokens: int64(len(ids)), count: 1}, true
	case json.Unmarshal(raw, &idss) == nil:
		ti := textInputs{count: int64(len(idss))}
		for _, t := range idss {
			ti.tokens += int64(len(t))
		}
		return ti, true
	}
	return textInputs{}, false
}
