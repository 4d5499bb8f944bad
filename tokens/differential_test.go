package tokens

import (
	"flag"
	"math/rand/v2"
	"testing"
)

// corpusBytes sets how much generated text each encoding is checked on
// against the reference. The default keeps `go test` quick; raise it for a
// long run, for example -tokens.corpus=200000000.
var corpusBytes = flag.Int("tokens.corpus", 1_000_000, "bytes of generated text per encoding in the differential test")

func TestDifferentialCorpus(t *testing.T) {
	for _, name := range encodingNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enc := mustEncoding(t, name)
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			checked, failures := 0, 0
			for checked < *corpusBytes && failures < 10 {
				var text string
				if r.IntN(4) == 0 {
					text = adversarialText(r)
				} else {
					text = string(mixedText(r, nil, 1+r.IntN(4000)))
				}
				checked += len(text)
				if got, want := enc.CountString(text), refCount(t, name, text); got != want {
					failures++
					t.Errorf("Count(%q) = %d, want %d (reference pieces %q)", text, got, want, refPieces(t, name, text))
				}
			}
		})
	}
}

func FuzzCountMatchesReference(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, s := range fragments {
		f.Add(s)
	}
	for range 50 {
		f.Add(adversarialText(r))
	}
	f.Add(string(mixedText(r, nil, 2000)))
	f.Fuzz(func(t *testing.T, text string) {
		for _, name := range encodingNames {
			enc := mustEncoding(t, name)
			if got, want := enc.CountString(text), refCount(t, name, text); got != want {
				t.Errorf("%s: Count(%q) = %d, want %d", name, text, got, want)
			}
		}
	})
}
