package tokens

// This file is the pre-tokenizer: it cuts text into the pieces that tiktoken's
// split regular expressions produce, without a regular expression. Each
// function returns the end of the piece that starts at i (i < len(s)); the
// alternatives are tried in the patterns' order with the same backtracking a
// leftmost-first regex engine does, which the comments spell out.
//
// o200k_base:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|\p{N}{1,3}
//	| ?[^\s\p{L}\p{N}]+[\r\n/]*
//	|\s*[\r\n]+
//	|\s+(?!\S)
//	|\s+
//
// cl100k_base:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+

// nextO200k returns the end of the o200k_base piece starting at s[i].
func nextO200k(s []byte, i int) int {
	if e := asciiLetters(s, i, false); e > 0 {
		return e
	}
	c0, n0 := classAt(s, i)
	if c0&(clsUp|clsLo) != 0 || isP(c0) {
		if e, ok := o200kLetters(s, i, c0, n0); ok {
			return e
		}
	}
	if c0&clsN != 0 {
		return digits(s, i, n0)
	}
	if e, ok := punct(s, i, c0, n0, true); ok {
		return e
	}
	return spaces(s, i, n0)
}

// o200kLetters tries the two letter alternatives in order: the first with and
// then without its leading [^\r\n\p{L}\p{N}], then the second likewise.
func o200kLetters(s []byte, i int, c0 uint8, n0 int) (int, bool) {
	p := isP(c0)
	if p {
		if e, ok := upperLower(s, i+n0); ok {
			return contraction(s, e), true
		}
	}
	if c0&(clsUp|clsLo) != 0 {
		if e, ok := upperLower(s, i); ok {
			return contraction(s, e), true
		}
	}
	if p {
		if e, ok := upperThenLower(s, i+n0); ok {
			return contraction(s, e), true
		}
	}
	if c0&clsUp != 0 {
		if e, ok := upperThenLower(s, i); ok {
			return contraction(s, e), true
		}
	}
	return 0, false
}

// upperLower matches [Up]*[Lo]+ at j. The greedy [Up]* takes the longest
// run; if no [Lo] follows it, the engine gives back runes one at a time until
// one of them is itself in [Lo] (Lm, Lo and M are in both classes), and [Lo]+
// then matches just that rune, since the rune after it was not in [Lo].
func upperLower(s []byte, j int) (int, bool) {
	pos, lastLo := j, -1
	for {
		c, n := classAt(s, pos)
		if n == 0 || c&clsUp == 0 {
			break
		}
		if c&clsLo != 0 {
			lastLo = pos + n
		}
		pos += n
	}
	if c, n := classAt(s, pos); n > 0 && c&clsLo != 0 {
		return run(s, pos+n, clsLo), true
	}
	if lastLo >= 0 {
		return lastLo, true
	}
	return 0, false
}

// upperThenLower matches [Up]+[Lo]* at j; neither run ever gives back.
func upperThenLower(s []byte, j int) (int, bool) {
	c, n := classAt(s, j)
	if n == 0 || c&clsUp == 0 {
		return 0, false
	}
	pos := run(s, j+n, clsUp)
	return run(s, pos, clsLo), true
}

// run returns the end of the run of runes in class cls starting at pos.
func run(s []byte, pos int, cls uint8) int {
	for {
		c, n := classAt(s, pos)
		if n == 0 || c&cls == 0 {
			return pos
		}
		pos += n
	}
}

// contraction extends a piece ending at e by (?i:'s|'t|'re|'ve|'m|'ll|'d) when
// one follows, with Unicode simple case folding (so 'ſ, long s, matches 's).
func contraction(s []byte, e int) int {
	if n := contractionLen(s, e); n > 0 {
		return e + n
	}
	return e
}

// contractionLen returns the byte length of the contraction at s[e:], or 0.
func contractionLen(s []byte, e int) int {
	if e >= len(s) || s[e] != '\'' || e+1 >= len(s) {
		return 0
	}
	switch s[e+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if e+2 < len(s) && s[e+2]|0x20 == 'e' {
			return 3
		}
	case 'l':
		if e+2 < len(s) && s[e+2]|0x20 == 'l' {
			return 3
		}
	}
	// U+017F LATIN SMALL LETTER LONG S folds to s.
	if s[e+1] == 0xC5 && e+2 < len(s) && s[e+2] == 0xBF {
		return 3
	}
	return 0
}

// digits matches \p{N}{1,3} at i, whose first rune is n0 bytes long.
func digits(s []byte, i, n0 int) int {
	pos := i + n0
	for k := 1; k < 3; k++ {
		c, n := classAt(s, pos)
		if n == 0 || c&clsN == 0 {
			break
		}
		pos += n
	}
	return pos
}

// punct matches " ?[^\s\p{L}\p{N}]+[\r\n]*" (and [\r\n/]* when slash is set,
// for o200k). A leading space that is not followed by [^\s\p{L}\p{N}] is given
// back, and then the space itself cannot start the run, so the match fails.
func punct(s []byte, i int, c0 uint8, n0 int, slash bool) (int, bool) {
	j, c := i, c0
	if s[i] == ' ' {
		j = i + 1
		c, _ = classAt(s, j)
		if j >= len(s) {
			return 0, false
		}
	}
	if !isQ(c) {
		return 0, false
	}
	pos := j
	for {
		c, n := classAt(s, pos)
		if n == 0 || !isQ(c) {
			break
		}
		pos += n
	}
	for pos < len(s) && (s[pos] == '\r' || s[pos] == '\n' || slash && s[pos] == '/') {
		pos++
	}
	return pos, true
}

// spaces matches the whitespace alternatives at i, whose rune is whitespace:
//
//	\s*[\r\n]+  the run up to and including its last \r or \n, if it has one;
//	\s+(?!\S)   else the whole run at the end of the text, or the run less its
//	            last rune when that run is longer than one rune;
//	\s+         else the single rune.
func spaces(s []byte, i, n0 int) int {
	pos, last, lastNL := i+n0, i, -1
	if s[i] == '\r' || s[i] == '\n' {
		lastNL = i + 1
	}
	for {
		c, n := classAt(s, pos)
		if n == 0 || c&clsS == 0 {
			break
		}
		if c&clsCRLF != 0 {
			lastNL = pos + n
		}
		last = pos
		pos += n
	}
	switch {
	case lastNL >= 0:
		return lastNL
	case pos == len(s):
		return pos
	case last > i:
		return last
	default:
		return pos
	}
}

// nextCl100k returns the end of the cl100k_base piece starting at s[i].
func nextCl100k(s []byte, i int) int {
	if s[i] == '\'' {
		if n := contractionLen(s, i); n > 0 {
			return i + n
		}
	}
	if e := asciiLetters(s, i, true); e > 0 {
		return e
	}
	c0, n0 := classAt(s, i)
	if isP(c0) {
		if c, n := classAt(s, i+n0); n > 0 && c&clsL != 0 {
			return run(s, i+n0+n, clsL)
		}
	}
	if c0&clsL != 0 {
		return run(s, i+n0, clsL)
	}
	if c0&clsN != 0 {
		return digits(s, i, n0)
	}
	if e, ok := punct(s, i, c0, n0, false); ok {
		return e
	}
	return spaces(s, i, n0)
}

// ASCII byte kinds for asciiLetters; every byte from 0x80 up is kindHigh.
const (
	kindOther uint8 = iota // [^\r\n\p{L}\p{N}]: space, tab, punctuation, controls
	kindUpper              // A-Z
	kindLower              // a-z
	kindStop               // digits, \r, \n
	kindHigh               // not ASCII
)

var asciiKinds = func() (t [256]uint8) {
	for b := range 256 {
		switch {
		case b >= 0x80:
			t[b] = kindHigh
		case b >= 'A' && b <= 'Z':
			t[b] = kindUpper
		case b >= 'a' && b <= 'z':
			t[b] = kindLower
		case b >= '0' && b <= '9' || b == '\r' || b == '\n':
			t[b] = kindStop
		}
	}
	return t
}()

// asciiLetters is the fast path for the commonest piece, an optional
// [^\r\n\p{L}\p{N}] byte and then ASCII letters, when every rune it has to
// look at is ASCII. It returns 0 when it cannot decide, and the caller takes
// the general path.
//
// In ASCII no letter is in both of o200k's classes, so its letter
// alternatives come down to [A-Z]*[a-z]+ or else [A-Z]+, each with the
// optional prefix; cl100k's is [A-Za-z]+ (its contractions are tried before
// this is called).
func asciiLetters(s []byte, i int, cl100k bool) int {
	j := i
	switch asciiKinds[s[i]] {
	case kindOther:
		j++
	case kindStop, kindHigh:
		return 0
	}
	l := j
	if cl100k {
		for l < len(s) && asciiKinds[s[l]]-kindUpper <= kindLower-kindUpper { // A-Z or a-z
			l++
		}
	} else {
		for l < len(s) && asciiKinds[s[l]] == kindUpper {
			l++
		}
		for l < len(s) && asciiKinds[s[l]] == kindLower {
			l++
		}
	}
	if l == j || l < len(s) && s[l] >= 0x80 {
		return 0
	}
	if cl100k {
		return l
	}
	return contraction(s, l)
}
