// Package chargeback keeps who used which tokens: input and output tokens
// and requests per consumer × model × tier × backend, in hourly buckets, in
// this process (Memory) or in Redis shared by every replica (package
// chargeback/redischargeback), and reports them for any period.
package chargeback

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// Ledger records requests' usage and reports it.
type Ledger struct {
	store Store
	clock Clock
	log   *slog.Logger
}

// New returns a ledger on store.
func New(store Store, clock Clock, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{store: store, clock: clock, log: log}
}

// Record adds one request's usage, in the current hour.
func (l *Ledger) Record(k Key, t Tokens) {
	if err := l.store.Add(l.clock.Now().Truncate(time.Hour), k, t); err != nil {
		l.log.Error("chargeback usage not recorded", slog.String("consumer", k.Consumer), slog.String("error", err.Error()))
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
