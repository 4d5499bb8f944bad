package tokens

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Character classes used by the split patterns. A rune can be in several.
const (
	clsL    uint8 = 1 << iota // \p{L}: Lu, Ll, Lt, Lm, Lo
	clsN                      // \p{N}
	clsS                      // \s: Unicode White_Space
	clsUp                     // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (o200k "upper" run)
	clsLo                     // [\p{Ll}\p{Lm}\p{Lo}\p{M}] (o200k "lower" run)
	clsCRLF                   // \r or \n
)

// tableRunes is how many runes the class table covers: the Basic and
// Supplementary Multilingual Planes, where scripts, symbols and emoji live.
const tableRunes = 0x20000

// runeClasses holds the class bits of every rune below tableRunes, so the
// pre-tokenizer looks a class up with one load instead of searching the
// unicode range tables. It is derived from the unicode package once and never
// written again.
var (
	runeClasses     *[tableRunes]uint8
	runeClassesOnce sync.Once
)

func loadClasses() {
	runeClassesOnce.Do(func() {
		t := new([tableRunes]uint8)
		for r := rune(0); r < tableRunes; r++ {
			t[r] = classOfSlow(r)
		}
		runeClasses = t
	})
}

// classOfSlow computes a rune's class bits from the unicode tables.
func classOfSlow(r rune) uint8 {
	var c uint8
	lu, ll, lt := unicode.Is(unicode.Lu, r), unicode.Is(unicode.Ll, r), unicode.Is(unicode.Lt, r)
	lm, lo, m := unicode.Is(unicode.Lm, r), unicode.Is(unicode.Lo, r), unicode.Is(unicode.M, r)
	if lu || ll || lt || lm || lo {
		c |= clsL
	}
	if unicode.Is(unicode.N, r) {
		c |= clsN
	}
	if unicode.IsSpace(r) {
		c |= clsS
	}
	if lu || lt || lm || lo || m {
		c |= clsUp
	}
	if ll || lm || lo || m {
		c |= clsLo
	}
	if r == '\r' || r == '\n' {
		c |= clsCRLF
	}
	return c
}

// classAt returns the class bits and byte length of the rune starting at s[i].
// At the end of s it returns size 0. The input must be valid UTF-8 (Count
// guarantees it), so an undecodable byte cannot occur here; if one did, it
// would be classed like U+FFFD (no bits), which is what it stands for.
func classAt(s []byte, i int) (uint8, int) {
	if i < len(s) && s[i] < utf8.RuneSelf {
		return asciiClasses[s[i]], 1
	}
	return classAtSlow(s, i)
}

func classAtSlow(s []byte, i int) (uint8, int) {
	if i >= len(s) {
		return 0, 0
	}
	r, n := utf8.DecodeRune(s[i:])
	if r < tableRunes {
		return runeClasses[r], n
	}
	return classOfSlow(r), n
}

// asciiClasses is the class table for ASCII, spelled out so the hot path for
// ASCII text touches one small array.
var asciiClasses = func() (t [utf8.RuneSelf]uint8) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		t[r] = classOfSlow(r)
	}
	return t
}()

// Derived classes of the split patterns.

// isP reports [^\r\n\p{L}\p{N}].
func isP(c uint8) bool { return c&(clsL|clsN|clsCRLF) == 0 }

// isQ reports [^\s\p{L}\p{N}].
func isQ(c uint8) bool { return c&(clsL|clsN|clsS) == 0 }
