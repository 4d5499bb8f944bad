package tokens

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// namedTexts are the edge cases the counter is checked on by name, against
// the reference here and against tiktoken itself in tiktoken_test.go.
var namedTexts = map[string]string{
	"empty":              "",
	"hello":              "Hello, world!",
	"sentence":           "The quick brown fox jumps over the lazy dog.",
	"contractions":       "I'm sure you'll see they've done it, haven't they? DON'T. x'S 'll 're 'Ve",
	"long s contraction": "don'ſ it'ſ",
	"one char run":       strings.Repeat("a", 5000),
	"space run":          strings.Repeat(" ", 3000) + "x",
	"digit run":          strings.Repeat("1234567890", 300),
	"newline run":        strings.Repeat("\n", 700) + strings.Repeat("\r\n", 300),
	"mixed whitespace":   "a \t\n \n  b  \n  ",
	"trailing spaces":    "end   ",
	"space before punct": "a  !! ?? \"quoted\"  --  // x",
	"slashes":            "path/to//file\n///\n\n/",
	"cjk":                "日本語のテキストと中文文本，还有한국어 텍스트도 있습니다。",
	"emoji":              "I ❤️ Go 🚀🚀🚀 👩‍👩‍👧‍👦 👍🏽 🇫🇷",
	"mixed scripts":      "Привет мир, γειά σου κόσμε, مرحبا بالعالم, שלום עולם, नमस्ते दुनिया",
	"combining marks":    "e\u0301e\u0301 \u0301abc ABC\u0301def \u0301",
	"upper then lower":   "HTTPServer XMLHttpRequest iPhone ǅungla ʰhello",
	"numbers in scripts": "١٢٣٤٥ ൧൨൩ Ⅻ ½ 10⁵",
	"special token text": "<|endoftext|> and <|endofprompt|> <|fim_prefix|>",
	"invalid utf8":       "ok \xff\xfe bad \xe2\x82 cut \xed\xa0\x80 surrogate \xf0\x9f\x98 end\xc3",
	"code":               "func main() {\n\tfmt.Println(\"hi\")\n\tif x != nil { return err }\n}\n",
	"json":               `{"a":[1,2,3],"b":{"c":"d\ne"},"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`,
	"nbsp":               "a\u00a0\u00a0b\u3000\u3000c\u2028d",
	"cr only":            "a\rb\r\r c \r",
	"apostrophe alone":   "' '' 's",
	"long cjk run":       strings.Repeat("的一是不了人我在有他这为之大来以个中上们", 20),
	"long punct run":     strings.Repeat("=-", 400),
	"mark after P":       "!\u0301A \u0301\u0301A",
	"newlines in spaces": "== \n  \n  \n  \n  x \n \n\t\n",
}

func TestCountMatchesReference(t *testing.T) {
	cases := namedTexts
	for _, name := range encodingNames {
		enc := mustEncoding(t, name)
		for cname, text := range cases {
			t.Run(name+"/"+cname, func(t *testing.T) {
				if got, want := enc.CountString(text), refCount(t, name, text); got != want {
					t.Errorf("Count(%q) = %d, want %d (reference pieces %q)", text, got, want, refPieces(t, name, text))
				}
			})
		}
	}
}

func TestGetEncodingUnknown(t *testing.T) {
	_, err := GetEncoding("p50k_base")
	if !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("err = %v, want ErrUnknownEncoding", err)
	}
}

// TestCountConcurrent counts from several goroutines at once; under -race it
// checks that an Encoding (and its pooled scratch space) is safe to share.
func TestCountConcurrent(t *testing.T) {
	enc := mustEncoding(t, O200kBase)
	texts := []string{strings.Repeat("a", 3000), namedTexts["cjk"], namedTexts["emoji"], namedTexts["code"]}
	want := make([]int, len(texts))
	for i, s := range texts {
		want[i] = enc.CountString(s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := (g + i) % len(texts)
				if got := enc.CountString(texts[k]); got != want[k] {
					t.Errorf("goroutine %d: count %d, want %d", g, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
}
