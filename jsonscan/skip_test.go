package jsonscan

import (
	"math/rand/v2"
	"testing"
)

// SkipPlain stops at or before the first quote, backslash or control byte,
// within a word of it, and never passes one.
func TestSkipPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []byte{'"', '\\', 0x00, 0x1f, '\n'}
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x5f))
			if b[i] == '"' || b[i] == '\\' {
				b[i] = 'a'
			}
		}
		first := len(b)
		if len(b) > 0 && r.IntN(2) == 0 {
			first = r.IntN(len(b))
			b[first] = special[r.IntN(len(special))]
		}
		start := 0
		if len(b) > 0 {
			start = r.IntN(len(b))
		}
		if start > first {
			continue
		}
		got := SkipPlain(b, start)
		if got > first || got < first-7 && got+8 <= len(b) {
			t.Fatalf("SkipPlain(%q, %d) = %d, first special at %d", b, start, got, first)
		}
	}
}
