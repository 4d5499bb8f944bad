package tokens

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// A Memo remembers the token counts of long strings. Chat clients resend a
// conversation's whole history with every turn, and agents their tools and
// long context with every step, so most of a long prompt was counted before;
// with a memo it is hashed instead (about a hundredth of the cost of
// counting). A count is a function of the text and the encoding alone, so a
// remembered count is exact, short of a collision of the 64-bit hash and the
// length together.
//
// Counts are remembered per scope (spillway uses the consumer): how fast a
// prompt is counted says whether its text was seen before, which must not
// tell one consumer what another sent.
//
// The memo is a fixed table of memoShards × memoSlots entries, each slot
// keeping the last string hashed to it: 256 KB, whatever the traffic.
type Memo struct {
	seed   maphash.Seed
	shards [memoShards]memoShard
}

const (
	memoShards = 64
	memoSlots  = 256
	// MemoMinBytes is the shortest string a memo remembers (about 60
	// tokens, 5–10 µs to count): shorter ones cost little to count and
	// would push long ones out.
	MemoMinBytes = 256
)

type memoShard struct {
	mu    sync.Mutex
	slots [memoSlots]memoEntry
}

type memoEntry struct {
	hash   uint64
	length uint32
	count  int32
}

// NewMemo returns an empty memo.
func NewMemo() *Memo { return &Memo{seed: maphash.MakeSeed()} }

// Scoped is a memo's view for one scope.
type Scoped struct {
	memo  *Memo
	scope uint64
}

// Scope returns the memo's view for the named scope; a nil memo gives a
// view that remembers nothing.
func (m *Memo) Scope(name string) Scoped {
	if m == nil {
		return Scoped{}
	}
	return Scoped{memo: m, scope: maphash.String(m.seed, name)}
}

// count returns e's count of text, from the memo when text was counted in
// this scope before.
func (s Scoped) count(e *Encoding, text []byte) int {
	if s.memo == nil || len(text) < MemoMinBytes || len(text) > 1<<31 {
		return e.Count(text)
	}
	var h maphash.Hash
	h.SetSeed(s.memo.seed)
	var scope [8]byte
	binary.LittleEndian.PutUint64(scope[:], s.scope)
	h.Write(scope[:])
	h.WriteString(e.name)
	h.WriteByte(0)
	h.Write(text)
	key := h.Sum64()
	sh := &s.memo.shards[key%memoShards]
	slot := &sh.slots[(key/memoShards)%memoSlots]
	sh.mu.Lock()
	hit := *slot
	sh.mu.Unlock()
	if hit.hash == key && hit.length == uint32(len(text)) {
		return int(hit.count)
	}
	n := e.Count(text)
	sh.mu.Lock()
	*slot = memoEntry{hash: key, length: uint32(len(text)), count: int32(n)}
	sh.mu.Unlock()
	return n
}

// WithMemo returns a copy of m whose counts of long strings go through s.
func (m *Model) WithMemo(s Scoped) *Model {
	c := *m
	c.memo = s
	return &c
}

// countText is m's count of one string: through its memo, if it has one.
func (m *Model) countText(text []byte) int {
	return m.memo.count(m.Encoding, text)
}
