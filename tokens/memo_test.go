package tokens

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func longText(r *rand.Rand, n int) []byte {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString([]string{"the ", "quick ", "brown ", "fox ", "jumps ", "über ", "日本語 ", "1234 ", "\n", "{\"a\": 1} "}[r.IntN(10)])
	}
	return []byte(b.String())
}

// A memo never changes a count: same texts, same counts, remembered or not,
// across scopes and encodings, from many goroutines at once.
func TestMemoCountsExactly(t *testing.T) {
	memo := NewMemo()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 300 {
				enc := []string{"o200k_base", "cl100k_base"}[i%2]
				e, err := GetEncoding(enc)
				if err != nil {
					t.Error(err)
					return
				}
				text := longText(r, MemoMinBytes/2+r.IntN(3*MemoMinBytes))
				s := memo.Scope(fmt.Sprint("consumer-", r.IntN(3)))
				want := e.Count(text)
				for range 2 { // the second is remembered
					if got := s.count(e, text); got != want {
						t.Errorf("count %d, want %d (%d bytes, %s)", got, want, len(text), enc)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// A count remembered in one scope is not there for another.
func TestMemoScopes(t *testing.T) {
	memo := NewMemo()
	e, _ := GetEncoding("o200k_base")
	text := longText(rand.New(rand.NewPCG(1, 2)), 4*MemoMinBytes)
	a, b := memo.Scope("team-a"), memo.Scope("team-b")
	a.count(e, text)
	if !remembered(a, e, text) {
		t.Fatal("not remembered in its own scope")
	}
	if remembered(b, e, text) {
		t.Fatal("remembered in another scope")
	}
	short := text[:MemoMinBytes-1]
	a.count(e, short)
	if remembered(a, e, short) {
		t.Fatal("a short text was remembered")
	}
}

// remembered reports whether s holds text's count, by planting a wrong
// count in the text's slot and seeing whether count returns it.
func remembered(s Scoped, e *Encoding, text []byte) bool {
	for i := range s.memo.shards {
		sh := &s.memo.shards[i]
		for j := range sh.slots {
			if sh.slots[j].length == uint32(len(text)) {
				sh.slots[j].count = -1
			}
		}
	}
	return s.count(e, text) == -1
}

// The chat count through a memo equals the count without one.
func TestCountChatWithMemo(t *testing.T) {
	m, err := LookupModel("gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var msgs []string
	for i := range 12 {
		msgs = append(msgs, fmt.Sprintf(`{"role":%q,"content":%q}`, []string{"user", "assistant"}[i%2], longText(r, 2000)))
	}
	body := []byte(`{"messages":[` + strings.Join(msgs, ",") + `]}`)
	want, err := CountChat(m, body)
	if err != nil {
		t.Fatal(err)
	}
	memoized := m.WithMemo(NewMemo().Scope("c"))
	for range 2 {
		got, err := CountChat(memoized, body)
		if err != nil || got != want {
			t.Fatalf("with memo %+v (%v), without %+v", got, err, want)
		}
	}
}

// BenchmarkCountChatHistory is a 30-turn conversation of about 1,000
// tokens a turn whose history was counted before (the memo is warm), against
// counting it without a memo.
func BenchmarkCountChatHistory(b *testing.B) {
	m, err := LookupModel("gpt-4o")
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	var msgs []string
	for i := range 30 {
		msgs = append(msgs, fmt.Sprintf(`{"role":%q,"content":%q}`, []string{"user", "assistant"}[i%2], longText(r, 4500)))
	}
	body := []byte(`{"messages":[` + strings.Join(msgs, ",") + `]}`)
	memo := NewMemo()
	for _, c := range []struct {
		name string
		m    *Model
	}{{"no-memo", m}, {"memo", m.WithMemo(memo.Scope("c"))}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := CountChat(c.m, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
