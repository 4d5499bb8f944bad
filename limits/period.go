package limits

import (
	"fmt"
	"time"
)

// Period is a quota's renewal period: a calendar period in a time zone
// (hourly, daily, weekly from Monday, monthly, yearly), or a fixed length
// counted from the Unix epoch (for tests and short-lived budgets).
type Period struct {
	Kind string // hourly, daily, weekly, monthly, yearly; "" with Every
	// Every is a fixed period's length; 0 for a calendar period.
	Every time.Duration
	Loc   *time.Location
}

// Calendar periods.
var periodKinds = []string{"hourly", "daily", "weekly", "monthly", "yearly"}

// ParsePeriod reads a period name (hourly ... yearly) or a Go duration
// ("10s", "6h") and a time zone name (IANA, "" for UTC).
func ParsePeriod(s, zone string) (Period, error) {
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return Period{}, fmt.Errorf("time zone %q is not an IANA zone name like Europe/Paris", zone)
		}
		loc = l
	}
	for _, k := range periodKinds {
		if s == k {
			return Period{Kind: k, Loc: loc}, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return Period{}, fmt.Errorf("period %q is not hourly, daily, weekly, monthly, yearly or a duration of at least 1s", s)
	}
	return Period{Every: d, Loc: loc}, nil
}

// String is the period as configured.
func (p Period) String() string {
	if p.Every > 0 {
		return p.Every.String()
	}
	return p.Kind
}

// Bounds is the period holding now: its start and the moment it renews,
// in the period's time zone (a day in which clocks change is 23 or 25
// hours long).
func (p Period) Bounds(now time.Time) (start, end time.Time) {
	if p.Every > 0 {
		us, every := now.UnixMicro(), p.Every.Microseconds()
		s := us - ((us%every)+every)%every
		return time.UnixMicro(s), time.UnixMicro(s + every)
	}
	t := now.In(p.Loc)
	y, m, d := t.Date()
	switch p.Kind {
	case "hourly":
		// The local hour's start, by elapsed time: right also in the hour
		// that repeats when clocks go back, and in zones offset by 30 min.
		start = t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
		return start, start.Add(time.Hour)
	case "daily":
		start = time.Date(y, m, d, 0, 0, 0, 0, p.Loc)
		return start, time.Date(y, m, d+1, 0, 0, 0, 0, p.Loc)
	case "weekly":
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, p.Loc)
		return start, time.Date(y, m, d-back+7, 0, 0, 0, 0, p.Loc)
	case "monthly":
		return time.Date(y, m, 1, 0, 0, 0, 0, p.Loc), time.Date(y, m+1, 1, 0, 0, 0, 0, p.Loc)
	default: // yearly
		return time.Date(y, 1, 1, 0, 0, 0, 0, p.Loc), time.Date(y+1, 1, 1, 0, 0, 0, 0, p.Loc)
	}
}
