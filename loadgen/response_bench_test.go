package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkReadSSE reads a 400-token stream with usage, as the load generator
// does for every streaming response; the baseline splits the same bytes into
// lines with a bufio.Scanner and looks at nothing.
func BenchmarkReadSSE(b *testing.B) {
	var sb strings.Builder
	for i := range 400 {
		fmt.Fprintf(&sb, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" word%d"},"finish_reason":null}],"usage":null}`+"\n\n", i)
	}
	sb.WriteString(`data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":400,"total_tokens":450}}` + "\n\ndata: [DONE]\n\n")
	stream := []byte(sb.String())
	b.Run("readSSE", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			if u, err := readSSE(bytes.NewReader(stream), nil); err != nil || u.TotalTokens != 450 {
				b.Fatal(u, err)
			}
		}
	})
	b.Run("baseline-lines", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(stream))
			sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
			n := 0
			for sc.Scan() {
				n++
			}
			if n != 804 {
				b.Fatal(n)
			}
		}
	})
}
