package openai

import (
	"encoding/json"
	"testing"
)

// scanString skips plain bytes a word at a time: a quote, a backslash or a
// control character anywhere in a long string must still be seen.
func TestScanStringEveryPosition(t *testing.T) {
	for _, special := range []string{`"`, `\n`, `\"`, "\x01", "\x1f", `\u00e9`, "\xc3\xa9", "\x7f", "\xff"} {
		for pos := 0; pos <= 40; pos++ {
			body := make([]byte, 0, 64)
			body = append(body, '"')
			for i := 0; i < 40; i++ {
				if i == pos {
					body = append(body, special...)
				}
				body = append(body, 'a'+byte(i%26))
			}
			body = append(body, '"')
			end, _, ok := scanString(body, 0)
			var s string
			err := json.Unmarshal(body, &s)
			if ok != (err == nil && end == len(body)) && !(ok && special == `"`) {
				t.Errorf("%q at %d: scanString ok=%v end=%d of %d, encoding/json error %v", special, pos, ok, end, len(body), err)
			}
			if special == `"` && (!ok || end != pos+2) {
				t.Errorf("quote at %d: end %d, ok %v; want %d", pos, end, ok, pos+2)
			}
		}
	}
}
