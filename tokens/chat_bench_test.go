package tokens

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// BenchmarkCountChat128k counts chat-completions bodies of about 128,000
// prompt tokens of mixed text spread over 20 messages, JSON decoding included.
func BenchmarkCountChat128k(b *testing.B) {
	m := mustModel(b, "gpt-4o")
	r := rand.New(rand.NewPCG(5, 5))
	var bodies [][]byte
	for range 4 {
		type msg struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}
		var msgs []msg
		for i := range 20 {
			role := "user"
			if i%2 == 1 {
				role = "assistant"
			}
			msgs = append(msgs, msg{role, string(mixedText(r, nil, 23_500))})
		}
		body, err := json.Marshal(map[string]any{"model": "gpt-4o", "messages": msgs, "max_tokens": 1000})
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	c, err := CountChat(m, bodies[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("prompt tokens of the first body: %d (%d bytes)", c.Prompt, len(bodies[0]))
	b.ReportAllocs()
	cpu := startCPU()
	var total int64
	for i := 0; b.Loop(); i++ {
		body := bodies[i%len(bodies)]
		total += int64(len(body))
		if _, err := CountChat(m, body); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total / int64(b.N))
	if used := cpu.report(b, total); used > 0 {
		b.ReportMetric(float64(used.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}
