// Package chargeback keeps who used which tokens: input and output tokens
// and requests per consumer × model × tier × backend, in hourly buckets, in
// this process (Memory) or in Redis shared by every replica (package
// chargeback/redischargeback), and reports them for any period.
package chargeback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Key is who used tokens where.
type Key struct {
	Consumer string `json:"consumer"`
	Model    string `json:"model"`
	Tier     string `json:"tier"`
	Backend  string `json:"backend"`
}

// Tokens are what was used.
type Tokens struct {
	Input    int64 `json:"input_tokens"`
	Output   int64 `json:"output_tokens"`
	Requests int64 `json:"requests"`
}

func (t Tokens) plus(u Tokens) Tokens {
	return Tokens{t.Input + u.Input, t.Output + u.Output, t.Requests + u.Requests}
}

// Row is one line of a report.
type Row struct {
	Key
	Tokens
}

// Store keeps hourly buckets.
type Store interface {
	// Add adds t to k's bucket of the hour starting at hour.
	Add(hour time.Time, k Key, t Tokens) error
	// Sum adds up the buckets of the hours starting at hours.
	Sum(hours []time.Time) (map[Key]Tokens, error)
}

// Clock is the ledger's time source.
type Clock interface{ Now() time.Time }

// MaxReport bounds a report's period.
const MaxReport = 366 * 24 * time.Hour

// Ledger records requests' usage and reports it. Record adds to this
// process's pending sums; Flush (every second under Run, and before a
// report) adds them to the store: a request costs no store call, and a
// store that fails keeps them pending.
type Ledger struct {
	store Store
	clock Clock
	log   *slog.Logger

	mu      sync.Mutex
	pending map[bucket]Tokens
	failing bool
}

type bucket struct {
	hour int64 // Unix seconds
	Key
}

// New returns a ledger on store.
func New(store Store, clock Clock, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{store: store, clock: clock, log: log, pending: map[bucket]Tokens{}}
}

// Record adds one request's usage, in the current hour.
func (l *Ledger) Record(k Key, t Tokens) {
	b := bucket{l.clock.Now().Truncate(time.Hour).Unix(), k}
	l.mu.Lock()
	l.pending[b] = l.pending[b].plus(t)
	l.mu.Unlock()
}

// Flush adds the pending sums to the store; those it cannot add stay
// pending for the next flush.
func (l *Ledger) Flush() error {
	l.mu.Lock()
	todo := l.pending
	l.pending = map[bucket]Tokens{}
	l.mu.Unlock()
	var failed error
	for b, t := range todo {
		if failed == nil {
			failed = l.store.Add(time.Unix(b.hour, 0), b.Key, t)
			if failed == nil {
				continue
			}
		}
		l.mu.Lock()
		l.pending[b] = l.pending[b].plus(t)
		l.mu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case failed != nil && !l.failing:
		l.log.Error("chargeback usage kept in this replica: the store failed", slog.String("error", failed.Error()))
	case failed == nil && l.failing:
		l.log.Info("chargeback usage stored again")
	}
	l.failing = failed != nil
	return failed
}

// Run flushes every interval until ctx ends. The caller flushes once more
// when no request can record any longer.
func (l *Ledger) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.Flush()
		}
	}
}

// errPeriod is a period a report cannot cover.
var errPeriod = errors.New("bad period")

// Report adds up the usage of the hours that start in [from, to), sorted by
// consumer, model, tier, backend. from and to are rounded down to hours.
func (l *Ledger) Report(from, to time.Time) ([]Row, error) {
	from, to = from.Truncate(time.Hour), to.Truncate(time.Hour)
	if !from.Before(to) || to.Sub(from) > MaxReport {
		return nil, fmt.Errorf("%w: from must be before to, at most %v apart", errPeriod, MaxReport)
	}
	var hours []time.Time
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		hours = append(hours, h)
	}
	// This replica's pending usage first (others' reach the store within
	// a flush interval).
	_ = l.Flush()
	sums, err := l.store.Sum(hours)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(sums))
	for k, t := range sums {
		rows = append(rows, Row{k, t})
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Consumer, b.Consumer), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Tier, b.Tier), cmp.Compare(a.Backend, b.Backend))
	})
	return rows, nil
}

// IsPeriodError reports whether err is a report period's fault (the
// caller's), not the store's.
func IsPeriodError(err error) bool { return errors.Is(err, errPeriod) }
