package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Request holds the fields of a request body that routing and accounting
// need, for every operation. The body itself is forwarded unchanged (except
// where the gateway says otherwise).
type Request struct {
	Model               string
	Stream              bool
	IncludeUsage        bool // stream_options.include_usage
	HasStreamOptions    bool // stream_options is present (and not null)
	MaxTokens           int  // max_tokens, or 0
	MaxCompletionTokens int  // max_completion_tokens, or 0
	// Responses API: store (true unless the body says false), the
	// response it continues, and max_output_tokens (0 when unset).
	Store              bool
	PreviousResponseID string
	MaxOutputTokens    int
}

// RequestError says what is wrong with a request body, and which field.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string { return e.Message }

type chatWire struct {
	Model         *string `json:"model"`
	Stream        *bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Messages            json.RawMessage `json:"messages"`
	Input               json.RawMessage `json:"input"`
	Prompt              json.RawMessage `json:"prompt"`
	Store               *bool           `json:"store"`
	PreviousResponseID  *string         `json:"previous_response_id"`
	MaxOutputTokens     *int            `json:"max_output_tokens"`
}

// Operation is what a request asks for; it decides which fields are required.
type Operation int

const (
	// ChatCompletions is /chat/completions: messages are required.
	ChatCompletions Operation = iota
	// Embeddings is /embeddings: input is required.
	Embeddings
	// Completions is the legacy /completions: prompt is required.
	Completions
	// Responses is /responses (create): model is required.
	Responses
)

// ParseRequest decodes the routing fields of a request body. Errors are
// *RequestError with a message fit for an invalid_request_error reply.
func ParseRequest(op Operation, body []byte) (Request, error) {
	var w chatWire
	if len(bytes.TrimSpace(body)) == 0 {
		return Request{}, &RequestError{Message: "The request body is empty; expected a JSON object."}
	}
	if err := decodeWire(body, &w); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Request{}, &RequestError{
				Param:   typeErr.Field,
				Message: fmt.Sprintf("Invalid type for '%s': expected %s, got a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value),
			}
		}
		return Request{}, &RequestError{Message: "We could not parse the JSON body of your request. " +
			"(HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"}
	}
	r := Request{Store: true}
	if w.Model != nil {
		r.Model = *w.Model
	}
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if w.StreamOptions != nil {
		r.HasStreamOptions = true
		if w.StreamOptions.IncludeUsage != nil {
			r.IncludeUsage = *w.StreamOptions.IncludeUsage
		}
	}
	if w.MaxTokens != nil {
		if *w.MaxTokens < 0 {
			return r, &RequestError{Param: "max_tokens", Message: "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1."}
		}
		r.MaxTokens = *w.MaxTokens
	}
	if w.MaxCompletionTokens != nil {
		if *w.MaxCompletionTokens < 0 {
			return r, &RequestError{Param: "max_completion_tokens", Message: "Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1."}
		}
		r.MaxCompletionTokens = *w.MaxCompletionTokens
	}
	if w.Store != nil {
		r.Store = *w.Store
	}
	if w.PreviousResponseID != nil {
		r.PreviousResponseID = *w.PreviousResponseID
	}
	if w.MaxOutputTokens != nil {
		if *w.MaxOutputTokens < 0 {
			return r, &RequestError{Param: "max_output_tokens", Message: "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1."}
		}
		r.MaxOutputTokens = *w.MaxOutputTokens
	}
	switch op {
	case ChatCompletions:
		if len(w.Messages) == 0 || bytes.Equal(w.Messages, []byte("null")) {
			return r, &RequestError{Param: "messages", Message: "Missing required parameter: 'messages'."}
		}
		if w.Messages[0] != '[' {
			return r, &RequestError{Param: "messages", Message: "Invalid type for 'messages': expected an array of message objects."}
		}
	case Embeddings:
		if len(w.Input) == 0 || bytes.Equal(w.Input, []byte("null")) {
			return r, &RequestError{Param: "input", Message: "Missing required parameter: 'input'."}
		}
	case Completions:
		if len(w.Prompt) == 0 || bytes.Equal(w.Prompt, []byte("null")) {
			return r, &RequestError{Param: "prompt", Message: "Missing required parameter: 'prompt'."}
		}
	case Responses:
		if r.Model == "" {
			return r, &RequestError{Param: "model", Message: "Missing required parameter: 'model'."}
		}
	}
	return r, nil
}

// decodeWire is json.Unmarshal(body, w), with the same result and errors,
// reading body once: the scanner finds the top-level members, the raw
// members (messages, input, prompt: most of the body) are kept as they are,
// and only the small ones are decoded. Bodies the scanner does not accept
// are left to encoding/json.
func decodeWire(body []byte, w *chatWire) error {
	var buf [16]member
	ms, ok := scanObject(body, buf[:0])
	if !ok {
		return json.Unmarshal(body, w)
	}
	v := reflect.ValueOf(w).Elem()
	small := make([]byte, 0, 256)
	small = append(small, '{')
	for _, m := range ms {
		f, exact := wireFields.lookup(m.key)
		switch {
		case f == nil:
		case f.raw && exact:
			v.Field(f.index).SetBytes(m.value)
		case f.raw:
			// encoding/json matches keys case-insensitively; rare enough
			// to leave to it.
			*w = chatWire{}
			return json.Unmarshal(body, w)
		default:
			if len(small) > 1 {
				small = append(small, ',')
			}
			small = append(small, '"')
			small = append(small, m.key...)
			small = append(small, '"', ':')
			small = append(small, m.value...)
		}
	}
	small = append(small, '}')
	return json.Unmarshal(small, w)
}

// wireField is one field of chatWire, by its JSON name.
type wireField struct {
	name  string
	index int
	raw   bool // a json.RawMessage, kept as the body has it
}

type wireFieldSet []wireField

// wireFields are chatWire's fields, read from its tags once.
var wireFields = func() wireFieldSet {
	t := reflect.TypeFor[chatWire]()
	var fs wireFieldSet
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fs = append(fs, wireField{name: name, index: i, raw: t.Field(i).Type == reflect.TypeFor[json.RawMessage]()})
	}
	return fs
}()

// lookup finds the field a key names as encoding/json does (exact name, else
// case-insensitive) and says whether the match was exact.
func (fs wireFieldSet) lookup(key []byte) (*wireField, bool) {
	var fold *wireField
	for i := range fs {
		if string(key) == fs[i].name {
			return &fs[i], true
		}
		if fold == nil && bytes.EqualFold(key, []byte(fs[i].name)) {
			fold = &fs[i]
		}
	}
	return fold, false
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "a number"
	case "ptr":
		return "an object"
	default:
		return goKind
	}
}

// RequestUsage returns body with stream_options.include_usage set to true,
// so a streaming response ends with a usage event. r is body's ParseRequest
// result. Without stream_options, the field is inserted after the opening
// brace, leaving every other byte as the client sent it; otherwise only the
// top-level object is re-encoded (values stay byte for byte).
func RequestUsage(body []byte, r Request) ([]byte, error) {
	const field = `"stream_options":{"include_usage":true}`
	if !r.HasStreamOptions {
		i := bytes.IndexByte(body, '{')
		if i < 0 {
			return nil, fmt.Errorf("body is not a JSON object")
		}
		rest := bytes.TrimLeft(body[i+1:], " \t\r\n")
		out := make([]byte, 0, len(body)+len(field)+1)
		out = append(out, body[:i+1]...)
		out = append(out, field...)
		if len(rest) > 0 && rest[0] != '}' {
			out = append(out, ',')
		}
		return append(out, body[i+1:]...), nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	var opts map[string]json.RawMessage
	if err := json.Unmarshal(top["stream_options"], &opts); err != nil || opts == nil {
		opts = map[string]json.RawMessage{}
	}
	opts["include_usage"] = json.RawMessage("true")
	o, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	top["stream_options"] = o
	return json.Marshal(top)
}
