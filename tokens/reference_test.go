package tokens

import (
	"sync"
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/tiktoken-go/tokenizer"
)

// The test reference is built from github.com/tiktoken-go/tokenizer: its
// embedded vocabularies, and the regexp2 engine it runs tiktoken's split
// patterns on. It shares no code with the counter under test: the split is a
// backtracking regex, the merge is the textbook quadratic loop over a Go map.
//
// tiktoken-go's own Count is not used directly: on whitespace runs that hold
// two or more line breaks separated by other whitespace (" \n \n") regexp2
// splits the full pattern's \s*[\r\n]+ alternative differently from tiktoken
// (OpenAI's Rust core, checked with the npm package in testdata), which gives
// one piece. Writing that alternative as \s*[\r\n], the equivalent form in
// newer tiktoken releases, makes regexp2 agree. TestReferenceAgreesWithTiktoken
// checks this reference against tiktoken's own counts.
const (
	refO200kPattern = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
		`|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
		`|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]|\s+(?!\S)|\s+`
	refCl100kPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
)

type refEncoding struct {
	split *regexp2.Regexp
	vocab map[string]int
}

var (
	refOnce sync.Once
	refEncs map[string]*refEncoding
)

func reference(t testing.TB, name string) *refEncoding {
	t.Helper()
	refOnce.Do(func() {
		refEncs = map[string]*refEncoding{}
		for n, pat := range map[string]string{O200kBase: refO200kPattern, Cl100kBase: refCl100kPattern} {
			c, err := tokenizer.Get(tokenizer.Encoding(n))
			if err != nil {
				panic(err)
			}
			vocab := map[string]int{}
			for id := uint(0); ; id++ {
				s, err := c.Decode([]uint{id})
				if err != nil {
					break
				}
				vocab[s] = int(id)
			}
			refEncs[n] = &refEncoding{split: regexp2.MustCompile(pat, regexp2.None), vocab: vocab}
		}
	})
	return refEncs[name]
}

// refCount counts text with the reference, cleaning invalid UTF-8 first as
// Count documents.
func refCount(t testing.TB, name, text string) int {
	t.Helper()
	ref := reference(t, name)
	text = string(replaceInvalid([]byte(text)))
	n := 0
	m, err := ref.split.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = ref.split.FindNextMatch(m) {
		n += ref.bpe(m.String())
	}
	if err != nil {
		t.Fatalf("reference split: %v", err)
	}
	return n
}

// refPieces returns the reference split of text, for messages.
func refPieces(t testing.TB, name, text string) []string {
	var out []string
	m, _ := reference(t, name).split.FindStringMatch(text)
	for ; m != nil; m, _ = reference(t, name).split.FindNextMatch(m) {
		out = append(out, m.String())
	}
	return out
}

// bpe is tiktoken's merge loop (_byte_pair_merge): the rank of each adjacent
// pair is kept, the lowest (leftmost on ties) is merged, and only the two
// pairs that touch the merge are looked up again.
func (r *refEncoding) bpe(piece string) int {
	if _, ok := r.vocab[piece]; ok {
		return 1
	}
	const none = int(^uint(0) >> 1)
	parts := make([]string, 0, len(piece))
	for i := 0; i < len(piece); i++ {
		parts = append(parts, piece[i:i+1])
	}
	rankOf := func(i int) int {
		if i < 0 || i+1 >= len(parts) {
			return none
		}
		if rank, ok := r.vocab[parts[i]+parts[i+1]]; ok {
			return rank
		}
		return none
	}
	ranks := make([]int, len(parts))
	for i := range parts {
		ranks[i] = rankOf(i)
	}
	for {
		best := -1
		for i, rank := range ranks {
			if rank != none && (best < 0 || rank < ranks[best]) {
				best = i
			}
		}
		if best < 0 {
			return len(parts)
		}
		parts[best] += parts[best+1]
		parts = append(parts[:best+1], parts[best+2:]...)
		ranks = append(ranks[:best+1], ranks[best+2:]...)
		ranks[best] = rankOf(best)
		if best > 0 {
			ranks[best-1] = rankOf(best - 1)
		}
	}
}

func mustEncoding(t testing.TB, name string) *Encoding {
	t.Helper()
	e, err := GetEncoding(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var encodingNames = []string{O200kBase, Cl100kBase}
