// Package redislimits keeps consumers' limit counters (package limits) in
// Redis, so that every replica enforces one limit: each call is one Lua
// script run (store.lua), atomic against the other replicas.
package redislimits

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/limits"
)

//go:embed store.lua
var script string

var lua = rueidis.NewLuaScript(script)

// quotaGrace is how long a quota counter outlives its period (see
// limits.Memory).
const quotaGrace = time.Hour

// Options configure a Store.
type Options struct {
	// KeyPrefix starts every key ("spillway:" by default); the limits'
	// keys follow it with "l:".
	KeyPrefix string
	// Timeout bounds one call (default 100 ms); past it the limiter
	// counts in this process.
	Timeout time.Duration
}

// Store is a limits.Store on Redis.
type Store struct {
	ctx  context.Context
	conn func() (rueidis.Client, error)
	opts Options
}

var _ limits.Store = (*Store)(nil)

// New returns a Store on the connection conn gives (its owner dials it,
// lazily: Redis may be down when spillway starts); ctx bounds every call.
func New(ctx context.Context, conn func() (rueidis.Client, error), o Options) *Store {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "spillway:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	return &Store{ctx: ctx, conn: conn, opts: o}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func (s *Store) call(op string, now time.Time, id string, checks []limits.Check, amounts []int64) ([]int64, error) {
	client, err := s.conn()
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, 2*len(checks))
	args := make([]string, 0, 4+5*len(checks))
	args = append(args, op, itoa(now.UnixMicro()), id, itoa(quotaGrace.Milliseconds()))
	for i, c := range checks {
		k := s.opts.KeyPrefix + "l:" + c.Key
		keys = append(keys, k, k+"|total")
		var until int64
		if !c.Until.IsZero() {
			until = c.Until.UnixMicro()
		}
		args = append(args, itoa(c.Limit), itoa(c.Cost), itoa(c.Window.Microseconds()), itoa(until))
		if amounts != nil {
			args = append(args, itoa(amounts[i]))
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	res := lua.Exec(ctx, client, keys, args)
	if op == "correct" {
		return nil, res.Error()
	}
	return res.AsIntSlice()
}

// Charge implements limits.Store.
func (s *Store) Charge(now time.Time, id string, checks []limits.Check) (limits.Verdict, error) {
	r, err := s.call("charge", now, id, checks, nil)
	if err != nil {
		return limits.Verdict{}, fmt.Errorf("redis: limits charge: %w", err)
	}
	if len(r) != 2+len(checks) {
		return limits.Verdict{}, errors.New("redis: limits charge: short reply")
	}
	v := limits.Verdict{OK: r[0] < 0, Refused: int(r[0]), Used: r[2:]}
	if !v.OK {
		v.RetryAt = time.UnixMicro(r[1])
	}
	return v, nil
}

// Correct implements limits.Store.
func (s *Store) Correct(now time.Time, id string, checks []limits.Check, amounts []int64) error {
	if _, err := s.call("correct", now, id, checks, amounts); err != nil {
		return fmt.Errorf("redis: limits correct: %w", err)
	}
	return nil
}

// Use implements limits.Store.
func (s *Store) Use(now time.Time, checks []limits.Check) ([]int64, error) {
	r, err := s.call("use", now, "", checks, nil)
	if err != nil {
		return nil, fmt.Errorf("redis: limits use: %w", err)
	}
	return r, nil
}
