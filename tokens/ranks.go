package tokens

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// rankTable maps a token's bytes to its rank (its id) with open addressing
// and linear probing, about 76% full: small enough (4 MiB for o200k_base) to
// stay mostly in the L3 cache, while the Bloom filter in front answers most of
// the BPE merge's misses, which would otherwise pay for the longer probe runs. Keys of up to 8 bytes are stored
// inline, so looking them up touches one slot and nothing else; longer keys
// live in an arena and are found by a 32-bit hash tag, then compared.
type rankTable struct {
	pairs *[1 << 16]uint32    // ranks of two-byte tokens, indexed by the bytes; noRank if none
	bloom *[bloomWords]uint64 // a filter in front of slots, see bloomBits
	slots []rankSlot
	shift uint // 64 - log2(len(slots))
	arena []byte
}

// rankSlot is one table entry. For a key of up to 8 bytes, key holds its
// bytes packed by pack8; for a longer key, key holds the arena offset in its
// low 32 bits and the low half of its hash in its high 32 bits (the
// index comes from the high half). meta is the key's length
// in the top 8 bits and the rank in the low 24; 0 marks an empty slot (no
// token has length 0).
type rankSlot struct {
	key  uint64
	meta uint32
}

const noRank = ^uint32(0)

// newRankTable builds a table from tokens, where tokens[i] has rank i and an
// empty string marks an unused rank.
func newRankTable(tokens []string) *rankTable {
	n := 0
	for _, t := range tokens {
		if t != "" {
			n++
		}
	}
	size := 1
	for size < n*5/4 {
		size <<= 1
	}
	t := &rankTable{pairs: new([1 << 16]uint32), slots: make([]rankSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	for i := range t.pairs {
		t.pairs[i] = noRank
	}
	t.bloom = new([bloomWords]uint64)
	for rank, tok := range tokens {
		if tok == "" {
			continue
		}
		key, h := []byte(tok), uint64(0)
		if len(key) == 2 {
			t.pairs[uint16(key[0])<<8|uint16(key[1])] = uint32(rank)
		}
		var k uint64
		if len(key) <= 8 {
			k = pack8(key)
			h = hashShort(k, len(key))
		} else {
			h = hashLong(key)
			k = uint64(len(t.arena)) | h<<32
			t.arena = append(t.arena, key...)
		}
		t.bloom[h&(bloomWords-1)] |= bloomBits(h)
		mask := uint64(len(t.slots) - 1)
		for i := h >> t.shift; ; i = (i + 1) & mask {
			if t.slots[i].meta == 0 {
				t.slots[i] = rankSlot{key: k, meta: uint32(len(key))<<24 | uint32(rank)}
				break
			}
		}
	}
	return t
}

// lookupPair returns the rank of the two bytes a, b, or noRank.
func (t *rankTable) lookupPair(a, b byte) uint32 {
	return t.pairs[uint16(a)<<8|uint16(b)]
}

// lookup returns the rank of key, or noRank.
func (t *rankTable) lookup(key []byte) uint32 { return t.find(key, true) }

// isToken reports whether piece is a token. Most pieces are, so it skips the
// Bloom filter, which would only add a cache line to a hit.
func (t *rankTable) isToken(piece []byte) bool { return t.find(piece, false) != noRank }

func (t *rankTable) find(key []byte, filter bool) uint32 {
	n := len(key)
	if n == 2 {
		return t.lookupPair(key[0], key[1])
	}
	mask := uint64(len(t.slots) - 1)
	if n <= 8 {
		k := pack8(key)
		want := uint32(n) << 24
		h := hashShort(k, n)
		if b := bloomBits(h); filter && t.bloom[h&(bloomWords-1)]&b != b {
			return noRank
		}
		for i := h >> t.shift; ; i = (i + 1) & mask {
			s := t.slots[i]
			if s.meta == 0 {
				return noRank
			}
			if s.meta&0xFF000000 == want && s.key == k {
				return s.meta & 0xFFFFFF
			}
		}
	}
	h := hashLong(key)
	if b := bloomBits(h); filter && t.bloom[h&(bloomWords-1)]&b != b {
		return noRank
	}
	want, tag := uint32(n)<<24, h<<32
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s.meta == 0 {
			return noRank
		}
		if s.meta&0xFF000000 == want && s.key&0xFFFFFFFF00000000 == tag {
			off := uint32(s.key)
			if bytes.Equal(t.arena[off:off+uint32(n)], key) {
				return s.meta & 0xFFFFFF
			}
		}
	}
}

// The BPE merge looks up many byte strings that are not tokens. A blocked
// Bloom filter of 256 KiB, small enough to stay in a core's L2 cache, answers
// most of those without touching the 8 MiB slot array: three bits of one
// 64-bit word per key, chosen from the low bits of the hash (the slot index
// comes from the high bits). With o200k_base about 2% of non-tokens pass.
const bloomWords = 1 << 15

func bloomBits(h uint64) uint64 {
	return 1<<(h>>15&63) | 1<<(h>>21&63) | 1<<(h>>27&63)
}

// pack8 packs up to 8 bytes into a uint64. Different keys of the same length
// pack to different values: loads overlap, but for a given length the bytes
// they cover are the same.
func pack8(b []byte) uint64 {
	switch n := len(b); {
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32
	case n > 0:
		return uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16
	}
	return 0
}

const (
	mulA = 0x9E3779B97F4A7C15
	mulB = 0xBF58476D1CE4E5B9
)

func hashShort(k uint64, n int) uint64 {
	hi, lo := bits.Mul64(k^mulB, mulA^uint64(n))
	return hi ^ lo
}

func hashLong(b []byte) uint64 {
	h := uint64(len(b)) * mulB
	for len(b) > 8 {
		hi, lo := bits.Mul64(binary.LittleEndian.Uint64(b)^mulB, h^mulA)
		h = hi ^ lo
		b = b[8:]
	}
	hi, lo := bits.Mul64(pack8(b)^mulB, h^mulA^uint64(len(b)))
	return hi ^ lo
}
