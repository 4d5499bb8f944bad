package tokens

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// The benchmarks count a mixed corpus (English, Spanish, code, JSON, CJK,
// emoji) in 64 KiB chunks taken in turn from 32 MiB of generated text, so
// each iteration sees text it has not seen for a long while and no cache of
// recent input can flatter the figure. b.SetBytes makes the output MB/s.

const (
	benchCorpusSize = 32 << 20
	benchChunk      = 64 << 10
)

var (
	benchCorpusOnce sync.Once
	benchChunks     [][]byte
)

func benchCorpus() [][]byte {
	benchCorpusOnce.Do(func() {
		r := rand.New(rand.NewPCG(42, 42))
		for total := 0; total < benchCorpusSize; total += benchChunk {
			benchChunks = append(benchChunks, mixedText(r, make([]byte, 0, benchChunk+8192), benchChunk))
		}
	})
	return benchChunks
}

func benchmarkCount(b *testing.B, name string) {
	enc := mustEncoding(b, name)
	chunks := benchCorpus()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	cpu := startCPU()
	tokens := 0
	for i := 0; b.Loop(); i++ {
		tokens += enc.Count(chunks[i%len(chunks)])
	}
	cpu.report(b, int64(b.N)*benchChunk)
	_ = tokens
}

// cpuMeter adds a "cpu-MB/s" metric: bytes per second of CPU time used by
// the benchmark's thread, which a busy shared machine does not deflate the
// way it deflates MB/s (wall time).
type cpuMeter struct {
	start  time.Duration
	unlock func()
}

func startCPU() cpuMeter {
	runtime.LockOSThread()
	return cpuMeter{start: threadCPU(), unlock: runtime.UnlockOSThread}
}

func (m cpuMeter) report(b *testing.B, bytes int64) time.Duration {
	used := threadCPU() - m.start
	m.unlock()
	if used > 0 && m.start > 0 {
		b.ReportMetric(float64(bytes)/used.Seconds()/1e6, "cpu-MB/s")
		return used
	}
	return 0
}

func BenchmarkCountO200k(b *testing.B)  { benchmarkCount(b, O200kBase) }
func BenchmarkCountCl100k(b *testing.B) { benchmarkCount(b, Cl100kBase) }

// The baseline: github.com/tiktoken-go/tokenizer on the same chunks.
func benchmarkTiktokenGo(b *testing.B, name tokenizer.Encoding) {
	codec, err := tokenizer.Get(name)
	if err != nil {
		b.Fatal(err)
	}
	chunks := benchCorpus()
	strs := make([]string, len(chunks))
	for i, c := range chunks {
		strs[i] = string(c)
	}
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	cpu := startCPU()
	for i := 0; b.Loop(); i++ {
		if _, err := codec.Count(strs[i%len(strs)]); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, int64(b.N)*benchChunk)
}

func BenchmarkBaselineTiktokenGoO200k(b *testing.B)  { benchmarkTiktokenGo(b, tokenizer.O200kBase) }
func BenchmarkBaselineTiktokenGoCl100k(b *testing.B) { benchmarkTiktokenGo(b, tokenizer.Cl100kBase) }

// BenchmarkCount128kTokens times one prompt of about 128,000 o200k tokens of
// mixed text; ns/op is the time to count it.
func BenchmarkCount128kTokens(b *testing.B) {
	enc := mustEncoding(b, O200kBase)
	r := rand.New(rand.NewPCG(3, 3))
	var prompts [][]byte
	for range 8 {
		var p []byte
		for enc.Count(p) < 128_000 {
			p = mixedText(r, p, 64<<10)
		}
		prompts = append(prompts, p)
	}
	b.ReportAllocs()
	cpu := startCPU()
	var total int64
	for i := 0; b.Loop(); i++ {
		p := prompts[i%len(prompts)]
		total += int64(len(p))
		enc.Count(p)
	}
	b.SetBytes(total / int64(b.N))
	if used := cpu.report(b, total); used > 0 {
		b.ReportMetric(float64(used.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkCountLongRun is the worst case for a quadratic merge: one piece of
// 100,000 identical letters.
func BenchmarkCountLongRun(b *testing.B) {
	enc := mustEncoding(b, O200kBase)
	text := []byte(strings.Repeat("a", 100_000))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		enc.Count(text)
	}
}

// BenchmarkCountKinds counts each kind of text of the mixed corpus on its
// own (o200k_base), to show where the time goes.
func BenchmarkCountKinds(b *testing.B) {
	kinds := []struct {
		name string
		gen  func(*rand.Rand, []byte) []byte
	}{
		{"english", func(r *rand.Rand, d []byte) []byte { return prose(r, d, englishWords) }},
		{"spanish", func(r *rand.Rand, d []byte) []byte { return prose(r, d, spanishWords) }},
		{"code", code},
		{"json", func(r *rand.Rand, d []byte) []byte { return jsonDoc(r, d, 0) }},
		{"cjk", cjk},
		{"emoji", emojiProse},
	}
	enc := mustEncoding(b, O200kBase)
	for _, k := range kinds {
		r := rand.New(rand.NewPCG(1, 1))
		chunks := make([][]byte, 128)
		for i := range chunks {
			for len(chunks[i]) < benchChunk {
				chunks[i] = k.gen(r, chunks[i])
			}
			chunks[i] = chunks[i][:benchChunk]
			for !utf8.Valid(chunks[i]) { // do not end inside a character
				chunks[i] = chunks[i][:len(chunks[i])-1]
			}
		}
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(benchChunk)
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				enc.Count(chunks[i%len(chunks)])
			}
			cpu.report(b, int64(b.N)*benchChunk)
		})
	}
}
