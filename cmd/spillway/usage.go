package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spillway-gw/spillway/chargeback"
)

// serveUsage answers GET /usage?from=&to= (RFC 3339 times or dates, UTC
// hours; by default this month so far): tokens and requests by consumer ×
// model × tier × backend, for chargeback.
func serveUsage(w http.ResponseWriter, r *http.Request, report func(from, to time.Time) ([]chargeback.Row, error)) {
	now := time.Now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := now.Truncate(time.Hour).Add(time.Hour)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseWhen(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", p.name, err), http.StatusBadRequest)
			return
		}
		*p.t = t
	}
	rows, err := report(from, to)
	if err != nil {
		status := http.StatusServiceUnavailable
		if chargeback.IsPeriodError(err) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	writeJSON(w, struct {
		From  time.Time        `json:"from"`
		To    time.Time        `json:"to"`
		Usage []chargeback.Row `json:"usage"`
	}{from.Truncate(time.Hour), to.Truncate(time.Hour), rows})
}

func parseWhen(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a date (2026-03-01)", v)
}
