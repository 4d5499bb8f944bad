package sim

import (
	"encoding/binary"
	"time"
)

// Azure's prompt caching, as Microsoft's "Prompt caching" page describes it:
// a prompt of at least 1,024 tokens whose first 1,024 tokens are identical to
// a recent prompt's is served partly from the cache, and the cache hit grows
// in steps of 128 further identical tokens. Caches are cleared after 5 to 10
// minutes of inactivity (always within an hour of their last use), and are
// not shared across subscriptions: here, each deployment has its own.
const (
	cacheMinTokens  = 1024
	cacheIncrement  = 128
	defaultCacheTTL = 5 * time.Minute
	// maxCacheEntries bounds one deployment's cache: past it, expired
	// prefixes are swept, then the cache is emptied.
	maxCacheEntries = 1 << 16
)

// promptCache is one deployment's cache of recently processed prompt
// prefixes: the hash of each cached prefix (see prefixHasher) and when it was
// last used. Its deployment's mutex guards it.
type promptCache struct {
	ttl     time.Duration
	entries map[uint64]time.Time
}

func newPromptCache(ttl time.Duration) *promptCache {
	return &promptCache{ttl: ttl, entries: make(map[uint64]time.Time)}
}

// use returns how many prompt tokens are served from the cache for a prompt
// whose prefix hashes are prefixes (prefixes[i] the hash of its first
// cacheMinTokens + i×cacheIncrement tokens), and records every one of them
// as used at now. The longest prefix still cached wins.
func (c *promptCache) use(now time.Time, prefixes []uint64) int64 {
	var cached int64
	for i := len(prefixes) - 1; i >= 0; i-- {
		if last, ok := c.entries[prefixes[i]]; ok && now.Sub(last) < c.ttl {
			cached = cacheMinTokens + cacheIncrement*int64(i)
			break
		}
	}
	if len(c.entries)+len(prefixes) > maxCacheEntries {
		c.sweep(now)
	}
	for _, h := range prefixes {
		c.entries[h] = now
	}
	return cached
}

// sweep drops expired prefixes, and everything if the cache is still full.
func (c *promptCache) sweep(now time.Time) {
	for h, last := range c.entries {
		if now.Sub(last) >= c.ttl {
			delete(c.entries, h)
		}
	}
	if len(c.entries) >= maxCacheEntries/2 {
		clear(c.entries)
	}
}

func (c *promptCache) reset() { clear(c.entries) }

// prefixHasher hashes a prompt as a stream of tokens and keeps the hash of
// the prefix ending at every caching boundary (1,024 tokens, then every 128)
// up to limit tokens. Positions follow the simulator's approximation (a
// text's token k is its bytes 4k to 4k+4, as approxTextTokens counts them);
// parts it does not see token by token (message headers, images, tool calls,
// a previous response's context) are opaque: a key and a token count, equal
// when the key is equal. Two prompts get the same hash at a boundary exactly
// when the parts before it are equal, so the hash stands for the prefix.
type prefixHasher struct {
	h      uint64 // FNV-1a of the parts so far
	pos    int64  // tokens so far
	limit  int64
	hashes []uint64
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func newPrefixHasher(limit int64) *prefixHasher {
	return &prefixHasher{h: fnvOffset, limit: limit}
}

func (p *prefixHasher) write(s string) {
	for i := 0; i < len(s); i++ {
		p.h ^= uint64(s[i])
		p.h *= fnvPrime
	}
}

// next is the next boundary, or 0 when there is none before limit.
func (p *prefixHasher) next() int64 {
	b := cacheMinTokens + cacheIncrement*int64(len(p.hashes))
	if b > p.limit {
		return 0
	}
	return b
}

// text adds a text part, token by token.
func (p *prefixHasher) text(s string) {
	p.write("\x00t")
	n := approxTextTokens(len(s))
	done := 0
	for b := p.next(); b != 0 && b <= p.pos+n; b = p.next() {
		cut := min(len(s), int(approxCharsPerToken*(b-p.pos)))
		p.write(s[done:cut])
		done = cut
		p.hashes = append(p.hashes, p.h)
	}
	p.write(s[done:])
	p.pos += n
}

// opaque adds a part of n tokens known by its key only: a boundary inside it
// hashes the key and the offset.
func (p *prefixHasher) opaque(key string, n int64) {
	p.write("\x00o")
	p.write(key)
	for b := p.next(); b != 0 && b <= p.pos+n; b = p.next() {
		var off [8]byte
		binary.LittleEndian.PutUint64(off[:], uint64(b-p.pos))
		h := p.h
		for _, c := range off {
			h ^= uint64(c)
			h *= fnvPrime
		}
		p.hashes = append(p.hashes, h)
	}
	p.pos += n
}

// chatPrefixes returns the prefix hashes of a chat request whose prompt has
// prompt tokens, in the order the model reads it: tools, then the messages.
// The part before it (a previous response's context, Responses API) is
// opaque under before's key, of carried tokens.
func chatPrefixes(r *chatRequest, prompt int64, before string, carried int64) []uint64 {
	if prompt < cacheMinTokens {
		return nil
	}
	p := newPrefixHasher(prompt)
	if before != "" {
		p.opaque("previous:"+before, carried)
	}
	if len(r.tools) > 0 {
		p.text(string(r.tools))
	}
	for i := range r.messages {
		m := &r.messages[i]
		head := approxPerMessage + approxTextTokens(len(m.role))
		if m.name != "" {
			head += approxPerName + approxTextTokens(len(m.name))
		}
		p.opaque("message:"+m.role+"\x00"+m.name, head)
		p.text(m.text)
		for _, detail := range m.images {
			n := int64(approxImageDefault)
			if detail == "low" {
				n = approxImageLowDetail
			}
			p.opaque("image:"+detail, n)
		}
		if m.extra > 0 {
			p.opaque("calls:"+itoa(int64(m.extra)), approxTextTokens(m.extra))
		}
	}
	return p.hashes
}
