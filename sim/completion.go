package sim

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
)

// vocabulary is the simulator's output: one word (with its trailing space) is
// one completion token.
var vocabulary = [...]string{
	"the ", "spill ", "way ", "water ", "flows ", "over ", "a ", "quiet ", "dam ", "when ", "river ", "rises ",
	"and ", "every ", "drop ", "finds ", "its ", "path ", "to ", "sea ", "capacity ", "is ", "shared ", "between ",
	"regions ", "tokens ", "move ", "fast ", "under ", "load ", "while ", "gates ", "open ", "slowly ", "in ", "time ",
	"light ", "stone ", "bridge ", "north ", "south ", "east ", "west ", "calm ", "steady ", "bright ", "clear ", "deep ",
	"field ", "cloud ", "rain ", "wind ", "morning ", "evening ", "channel ", "basin ", "level ", "gauge ", "flood ", "valley ",
	"of ", "on ", "with ", "from ",
}

// finish reasons.
const (
	finishStop          = "stop"
	finishLength        = "length"
	finishContentFilter = "content_filter"
)

// completionLength returns how many tokens one choice has and why it ended.
// draw is a value from the deployment's seeded source, used by random mode.
func completionLength(c *Completion, maxTokens int64, draw uint64) (int64, string) {
	want := c.Tokens
	switch c.Mode {
	case CompletionMaxTokens:
		if maxTokens > 0 {
			return maxTokens, finishLength
		}
	case CompletionRandom:
		want = c.Min + int64(draw%uint64(c.Max-c.Min+1))
	}
	if maxTokens > 0 && want >= maxTokens {
		return maxTokens, finishLength
	}
	return want, finishStop
}

// textSource generates the deterministic words of one response.
type textSource struct{ r *rand.Rand }

func newTextSource(seed uint64) textSource {
	return textSource{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (t textSource) word() string { return vocabulary[t.r.IntN(len(vocabulary))] }

// appendText appends n words.
func (t textSource) appendText(b []byte, n int64) []byte {
	for range n {
		b = append(b, t.word()...)
	}
	return b
}

// contentFilterOK is Azure's per-category verdict for unfiltered text.
const contentFilterOK = `{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},` +
	`"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}`

// contentFilterHit is the verdict on a completion the output filter stopped.
const contentFilterHit = `{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},` +
	`"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}`

// completionFilterResults returns the choice's content_filter_results for a finish reason.
func completionFilterResults(finish string) string {
	if finish == finishContentFilter {
		return contentFilterHit
	}
	return contentFilterOK
}

// filterCompletion cuts a completion the output filter stops: half its
// tokens (at least one) are produced, then finish_reason is content_filter.
func filterCompletion(tokens int64) (int64, string) {
	return max(1, tokens/2), finishContentFilter
}

const promptFilterResults = `[{"prompt_index":0,"content_filter_results":` + contentFilterOK + `}]`

const systemFingerprint = `"fp_5f20662549"`

// responseMeta is what every body of one response shares.
type responseMeta struct {
	id        string // chatcmpl-...
	created   int64
	modelJSON string // the model, already JSON-quoted
}

// appendUsage appends the usage object.
func appendUsage(b []byte, prompt, cached, completion int64) []byte {
	b = append(b, `{"completion_tokens":`...)
	b = strconv.AppendInt(b, completion, 10)
	b = append(b, `,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":`...)
	b = strconv.AppendInt(b, prompt, 10)
	b = append(b, `,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":`...)
	b = strconv.AppendInt(b, cached, 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, prompt+completion, 10)
	return append(b, '}')
}

// appendChatCompletion appends a non-streaming chat.completion body with n
// choices of tokens words each.
func appendChatCompletion(b []byte, m responseMeta, text textSource, n, tokens int64, finish string, prompt, cached int64) []byte {
	b = append(b, `{"choices":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"content_filter_results":`...)
		b = append(b, completionFilterResults(finish)...)
		b = append(b, `,"finish_reason":"`...)
		b = append(b, finish...)
		b = append(b, `","index":`...)
		b = strconv.AppendInt(b, i, 10)
		b = append(b, `,"logprobs":null,"message":{"annotations":[],"content":"`...)
		b = text.appendText(b, tokens)
		b = append(b, `","refusal":null,"role":"assistant"}}`...)
	}
	b = append(b, `],"created":`...)
	b = strconv.AppendInt(b, m.created, 10)
	b = append(b, `,"id":"`...)
	b = append(b, m.id...)
	b = append(b, `","model":`...)
	b = append(b, m.modelJSON...)
	b = append(b, `,"object":"chat.completion","prompt_filter_results":`...)
	b = append(b, promptFilterResults...)
	b = append(b, `,"system_fingerprint":`...)
	b = append(b, systemFingerprint...)
	b = append(b, `,"usage":`...)
	b = appendUsage(b, prompt, cached, tokens*n)
	return append(b, '}')
}

// appendEmbeddings appends an embeddings list body. Each vector is derived from
// its input (and the seed), so the same text always gets the same unit vector.
func appendEmbeddings(b []byte, r *embeddingsRequest, modelJSON string, dims int, seed uint64, prompt int64) []byte {
	b = append(b, `{"data":[`...)
	vec := make([]float32, dims)
	raw := make([]byte, 4*dims)
	for i := range r.count {
		h := fnv.New64a()
		if i < len(r.inputs) {
			_, _ = h.Write([]byte(r.inputs[i]))
		} else {
			_, _ = h.Write([]byte{byte(i), byte(i >> 8)})
		}
		src := rand.New(rand.NewPCG(seed, h.Sum64()))
		var norm float64
		for j := range vec {
			v := src.NormFloat64()
			vec[j] = float32(v)
			norm += v * v
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			norm = 1
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"embedding":`...)
		if r.base64 {
			for j, v := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(float32(float64(v)/norm)))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, v := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(v)/norm, 'f', 7, 32)
			}
			b = append(b, ']')
		}
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"object":"embedding"}`...)
	}
	b = append(b, `],"model":`...)
	b = append(b, modelJSON...)
	b = append(b, `,"object":"list","usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, prompt, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, prompt, 10)
	return append(b, `}}`...)
}
