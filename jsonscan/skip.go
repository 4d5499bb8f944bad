// Package jsonscan holds what spillway's two JSON scanners share (openai's
// for the routing fields, tokens' for the strings it counts): skipping the
// plain bytes of a string eight at a time, which is most of a prompt.
package jsonscan

import "encoding/binary"

// SkipPlain returns the first index from i, in steps of 8 bytes, of a word
// that may hold a quote, a backslash or a control character: the bytes
// before it need no look. (Word tricks from "Bit Twiddling Hacks":
// hasless(x, n) and haszero(x) are exact about whether such a byte exists.)
func SkipPlain(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		control := (x - ones*0x20) & ^x & highs
		q := x ^ (ones * '"')
		quote := (q - ones) & ^q & highs
		bs := x ^ (ones * '\\')
		backslash := (bs - ones) & ^bs & highs
		if control|quote|backslash != 0 {
			return i
		}
		i += 8
	}
	return i
}
