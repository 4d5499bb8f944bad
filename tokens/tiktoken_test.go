package tokens

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// testdata/tiktoken.jsonl holds counts made by OpenAI's tiktoken itself (the
// npm package, which is its Rust core compiled to WebAssembly) for texts this
// package generated. To remake it:
//
//	go test ./tokens -run TestWriteTiktokenInputs -tokens.write-inputs=/tmp/inputs.jsonl
//	(cd /tmp/tk && npm install tiktoken)   # any scratch directory outside the repo
//	NODE_PATH=/tmp/tk/node_modules node tokens/testdata/tiktoken_counts.mjs < /tmp/inputs.jsonl > tokens/testdata/tiktoken.jsonl
//
// Texts are carried as base64 so that invalid UTF-8 survives; the script
// decodes them with TextDecoder, which replaces invalid sequences the way
// Count does.
var writeInputs = flag.String("tokens.write-inputs", "", "write the texts for testdata/tiktoken.jsonl to this file")

type tiktokenLine struct {
	B64    string `json:"b64"`
	O200k  *int   `json:"o200k_base,omitempty"`
	Cl100k *int   `json:"cl100k_base,omitempty"`
}

func TestWriteTiktokenInputs(t *testing.T) {
	if *writeInputs == "" {
		t.Skip("set -tokens.write-inputs to write the inputs for testdata/tiktoken.jsonl")
	}
	var texts []string
	names := make([]string, 0, len(namedTexts))
	for name := range namedTexts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		texts = append(texts, namedTexts[name])
	}
	texts = append(texts,
		strings.Repeat("a", 20000), strings.Repeat(" ", 10000), strings.Repeat("9", 10000),
		strings.Repeat(" \n", 3000), strings.Repeat("👩‍👩‍👧‍👦", 500), strings.Repeat("日本語", 2000),
		strings.Repeat("\xff", 100), strings.Repeat("<|endoftext|>", 100))
	r := rand.New(rand.NewPCG(2026, 11))
	for range 2000 {
		texts = append(texts, adversarialText(r))
	}
	for range 40 {
		texts = append(texts, string(mixedText(r, nil, 2500)))
	}
	f, err := os.Create(*writeInputs)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, text := range texts {
		if err := enc.Encode(tiktokenLine{B64: base64.StdEncoding.EncodeToString([]byte(text))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCountsMatchTiktoken checks the counter, and the reference the other
// tests use, against tiktoken's own counts.
func TestCountsMatchTiktoken(t *testing.T) {
	f, err := os.Open("testdata/tiktoken.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	lines := 0
	for sc.Scan() {
		lines++
		var l tiktokenLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		b, err := base64.StdEncoding.DecodeString(l.B64)
		if err != nil || l.O200k == nil || l.Cl100k == nil {
			t.Fatalf("line %d: bad line (%v)", lines, err)
		}
		for name, want := range map[string]int{O200kBase: *l.O200k, Cl100kBase: *l.Cl100k} {
			if got := mustEncoding(t, name).Count(b); got != want {
				t.Errorf("line %d: %s Count(%q) = %d, tiktoken says %d", lines, name, b, got, want)
			}
			if len(b) > 4096 {
				continue // the reference's quadratic merge is slow on the long runs
			}
			if got := refCount(t, name, string(b)); got != want {
				t.Errorf("line %d: %s reference(%q) = %d, tiktoken says %d", lines, name, b, got, want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 2000 {
		t.Fatalf("only %d lines in testdata/tiktoken.jsonl", lines)
	}
}
