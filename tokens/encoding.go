package tokens

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// ErrUnknownEncoding is returned for an encoding name this package does not
// know.
var ErrUnknownEncoding = errors.New("unknown encoding")

// Encoding counts tokens of one tiktoken encoding. It is immutable and safe
// for concurrent use.
type Encoding struct {
	name  string
	next  func(s []byte, i int) int
	ranks *rankTable
}

// Name returns the encoding's tiktoken name, such as "o200k_base".
func (e *Encoding) Name() string { return e.name }

// Count returns the number of tokens tiktoken's encode_ordinary produces for
// text: special-token text such as "<|endoftext|>" is ordinary text. Invalid
// UTF-8 is first replaced as Python's bytes.decode(errors="replace") does
// (each maximal invalid subsequence becomes one U+FFFD), which is what a
// client decoding those bytes would have sent.
func (e *Encoding) Count(text []byte) int {
	if !utf8.Valid(text) {
		text = replaceInvalid(text)
	}
	return e.countValid(text)
}

// CountString is Count for a string.
func (e *Encoding) CountString(text string) int {
	return e.Count(unsafeBytes(text))
}

func (e *Encoding) countValid(text []byte) int {
	n := 0
	for i := 0; i < len(text); {
		end := e.next(text, i)
		n += e.ranks.bpeCount(text[i:end])
		i = end
	}
	return n
}

var (
	encodings   = map[string]*lazyEncoding{O200kBase: {}, Cl100kBase: {}}
	encodingIDs = map[string]tokenizer.Encoding{O200kBase: tokenizer.O200kBase, Cl100kBase: tokenizer.Cl100kBase}
)

// lazyEncoding builds an Encoding the first time it is asked for: the rank
// table takes some tens of milliseconds and a few megabytes.
type lazyEncoding struct {
	once sync.Once
	enc  *Encoding
	err  error
}

// GetEncoding returns the encoding with the given tiktoken name:
// "o200k_base" or "cl100k_base".
func GetEncoding(name string) (*Encoding, error) {
	l, ok := encodings[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s, %s)", ErrUnknownEncoding, name, O200kBase, Cl100kBase)
	}
	l.once.Do(func() { l.enc, l.err = build(name) })
	return l.enc, l.err
}

func build(name string) (*Encoding, error) {
	loadClasses()
	codec, err := tokenizer.Get(encodingIDs[name])
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	// The tokenizer package does not export its vocabulary, but decoding a
	// single id returns that token's bytes. Ids are dense up to the last
	// ordinary token; the special tokens after it are not wanted here.
	var toks []string
	for id := uint(0); ; id++ {
		s, err := codec.Decode([]uint{id})
		if err != nil {
			break
		}
		toks = append(toks, s)
	}
	if len(toks) < 1000 {
		return nil, fmt.Errorf("load %s: vocabulary has only %d tokens", name, len(toks))
	}
	e := &Encoding{name: name, ranks: newRankTable(toks)}
	switch name {
	case O200kBase:
		e.next = nextO200k
	case Cl100kBase:
		e.next = nextCl100k
	}
	return e, nil
}
