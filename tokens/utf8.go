package tokens

import (
	"unicode/utf8"
	"unsafe"
)

// replaceInvalid returns s with each maximal subpart of an ill-formed UTF-8
// sequence replaced by U+FFFD, as Python's bytes.decode(errors="replace") and
// the WHATWG TextDecoder do. (strings.ToValidUTF8 would replace a whole run
// of bad bytes with one U+FFFD, which counts differently.)
func replaceInvalid(s []byte) []byte {
	out := make([]byte, 0, len(s)+len(s)/2)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
			i += maximalSubpart(s[i:])
			continue
		}
		out = append(out, s[i:i+n]...)
		i += n
	}
	return out
}

// maximalSubpart returns the length of the longest prefix of s, which starts
// with an invalid sequence, that is a prefix of some valid sequence (at least
// 1): Unicode's definition of one replaced unit.
func maximalSubpart(s []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := s[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(s); i++ {
		c := s[i]
		if i == 1 && (c < lo || c > hi) || i > 1 && (c < 0x80 || c > 0xBF) {
			break
		}
	}
	return i
}

// unsafeBytes views s as a byte slice without copying. The slice must not be
// written to.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
