// Package redischargeback keeps the chargeback ledger's hourly buckets in
// Redis: one hash per hour, a field per consumer × model × tier × backend
// and count, incremented with HINCRBY (atomic across replicas).
package redischargeback

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/chargeback"
)

// Store is a chargeback.Store on Redis.
type Store struct {
	ctx     context.Context
	client  func() (rueidis.Client, error)
	prefix  string
	timeout time.Duration
}

var _ chargeback.Store = (*Store)(nil)

// New returns a store whose keys start with prefix + "u:"; conn gives the
// connection (dialled lazily by its owner); each call is bounded by
// timeout.
func New(ctx context.Context, conn func() (rueidis.Client, error), prefix string, timeout time.Duration) *Store {
	return &Store{ctx: ctx, client: conn, prefix: prefix, timeout: timeout}
}

func (s *Store) key(hour time.Time) string {
	return s.prefix + "u:" + strconv.FormatInt(hour.Unix(), 10)
}

// sep separates a field's parts; names never hold it.
const sep = "\x1f"

// Add implements chargeback.Store.
func (s *Store) Add(hour time.Time, k chargeback.Key, t chargeback.Tokens) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	key := s.key(hour)
	f := k.Consumer + sep + k.Model + sep + k.Tier + sep + k.Backend + sep
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	for _, r := range c.DoMulti(ctx,
		c.B().Hincrby().Key(key).Field(f+"i").Increment(t.Input).Build(),
		c.B().Hincrby().Key(key).Field(f+"o").Increment(t.Output).Build(),
		c.B().Hincrby().Key(key).Field(f+"r").Increment(t.Requests).Build(),
		c.B().Expire().Key(key).Seconds(int64(chargeback.Retention/time.Second)).Build(),
	) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("redis: chargeback add: %w", err)
		}
	}
	return nil
}

// Sum implements chargeback.Store.
func (s *Store) Sum(hours []time.Time) (map[chargeback.Key]chargeback.Tokens, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	cmds := make(rueidis.Commands, len(hours))
	for i, h := range hours {
		cmds[i] = c.B().Hgetall().Key(s.key(h)).Build()
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout*10)
	defer cancel()
	out := map[chargeback.Key]chargeback.Tokens{}
	for _, r := range c.DoMulti(ctx, cmds...) {
		m, err := r.AsIntMap()
		if err != nil {
			return nil, fmt.Errorf("redis: chargeback sum: %w", err)
		}
		for f, v := range m {
			p := strings.Split(f, sep)
			if len(p) != 5 {
				continue
			}
			k := chargeback.Key{Consumer: p[0], Model: p[1], Tier: p[2], Backend: p[3]}
			t := out[k]
			switch p[4] {
			case "i":
				t.Input += v
			case "o":
				t.Output += v
			case "r":
				t.Requests += v
			}
			out[k] = t
		}
	}
	return out, nil
}
