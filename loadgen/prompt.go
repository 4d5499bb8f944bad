package loadgen

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Size is one class of request in a mix: a prompt of Words words and a
// completion bounded by MaxTokens, a share Weight / sum of the requests.
type Size struct {
	Name      string  `json:"name"`
	Words     int     `json:"words"`
	MaxTokens int     `json:"max_tokens"`
	Weight    float64 `json:"weight"`
}

// DefaultMix is half small chats, a third medium prompts and a few large
// documents: roughly 50, 400 and 1600 prompt tokens.
var DefaultMix = []Size{
	{Name: "small", Words: 40, MaxTokens: 128, Weight: 0.50},
	{Name: "medium", Words: 400, MaxTokens: 512, Weight: 0.35},
	{Name: "large", Words: 1600, MaxTokens: 1024, Weight: 0.15},
}

// vocabulary is common English words, each a single token in the OpenAI
// encodings when preceded by a space, so a prompt's token count follows its
// word count closely.
var vocabulary = strings.Fields(`the of and to in is that for it as was with be by on not he this are
or his from at which but have an they you were her she there been one all we their has would when
if so no will can more other what time up out some into them only new then about could do than
these two may first any like now my such make over our even most after also made many did well way
back year work good just where us those through long being life down day both should still world
own under last while never same another know might great old off come since against go came right
used take three part small place every found general head both little water long people city name`)

// Prompt returns the user message of request seq: words words of
// deterministic text, different for each seq so no two prompts are equal.
func Prompt(seq, words int) string {
	var b strings.Builder
	b.Grow(words * 6)
	fmt.Fprintf(&b, "Request %d.", seq)
	x := uint64(seq)*0x9e3779b97f4a7c15 + 1
	for i := 1; i < words; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(' ')
		b.WriteString(vocabulary[x%uint64(len(vocabulary))])
	}
	return b.String()
}

// chatRequest is the body of a chat-completions request.
type chatRequest struct {
	Messages      []chatMessage  `json:"messages"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Body returns the JSON body of request seq of size s.
func Body(seq int, s Size, stream bool) []byte {
	r := chatRequest{
		Messages: []chatMessage{
			{Role: "system", Content: "You are a load test. Answer at length."},
			{Role: "user", Content: Prompt(seq, s.Words)},
		},
		MaxTokens: s.MaxTokens,
	}
	if stream {
		r.Stream = true
		r.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(r)
	if err != nil {
		// A struct of strings and ints always marshals.
		panic(err)
	}
	return b
}
