package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// Responses remembers which backend stored each response of the Responses
// API (its affinity), in the same Redis as the capacity state, so that a
// follow-up reaching any replica goes to the backend that has the response.
// It satisfies extproc.ResponseStore.
type Responses struct{ s *Store }

// Responses returns the response-affinity view of the store's Redis.
func (s *Store) Responses() *Responses { return &Responses{s: s} }

func (r *Responses) key(id string) string { return r.s.opts.KeyPrefix + "resp:" + id }

// Get returns the backend that stored response id.
func (r *Responses) Get(ctx context.Context, id string) (string, bool, error) {
	c, err := r.s.conn()
	if err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.opts.Timeout)
	defer cancel()
	v, err := c.Do(ctx, c.B().Get().Key(r.key(id)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redis: response %s: %w", id, err)
	}
	return v, true, nil
}

// Put records that backend stored response id, for ttl.
func (r *Responses) Put(ctx context.Context, id, backend string, ttl time.Duration) error {
	c, err := r.s.conn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.opts.Timeout)
	defer cancel()
	err = c.Do(ctx, c.B().Set().Key(r.key(id)).Value(backend).PxMilliseconds(max(1, ttl.Milliseconds())).Build()).Error()
	if err != nil {
		return fmt.Errorf("redis: record response %s: %w", id, err)
	}
	return nil
}
