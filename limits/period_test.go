package limits

import (
	"testing"
	"time"
)

func TestPeriodBounds(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	for _, tc := range []struct {
		name       string
		period     string
		zone       string
		now        time.Time
		start, end time.Time
	}{
		{"hourly in a zone offset by 30 minutes", "hourly", "Asia/Kolkata", time.Date(2026, 5, 1, 10, 45, 0, 0, kolkata), time.Date(2026, 5, 1, 10, 0, 0, 0, kolkata), time.Date(2026, 5, 1, 11, 0, 0, 0, kolkata)},
		// 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
		{"hourly in the repeated hour (second pass)", "hourly", "Europe/Paris", time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC)},
		{"hourly in the repeated hour (first pass)", "hourly", "Europe/Paris", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)},
		{"daily on the 25-hour day", "daily", "Europe/Paris", time.Date(2026, 10, 25, 12, 0, 0, 0, paris), time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC)},
		{"daily: midnight local, not UTC", "daily", "Europe/Paris", time.Date(2026, 6, 1, 23, 30, 0, 0, time.UTC), time.Date(2026, 6, 2, 0, 0, 0, 0, paris), time.Date(2026, 6, 3, 0, 0, 0, 0, paris)},
		{"weekly from Monday", "weekly", "UTC", time.Date(2026, 3, 8, 23, 0, 0, 0, time.UTC) /* Sunday */, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		{"weekly on Monday itself", "weekly", "UTC", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{"monthly across a year end", "monthly", "UTC", time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"yearly", "yearly", "Europe/Paris", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, paris), time.Date(2028, 1, 1, 0, 0, 0, 0, paris)},
		{"a fixed length from the epoch", "10s", "", time.Unix(1_800_000_015, 5), time.Unix(1_800_000_010, 0), time.Unix(1_800_000_020, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePeriod(tc.period, tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			start, end := p.Bounds(tc.now)
			if !start.Equal(tc.start) || !end.Equal(tc.end) {
				t.Fatalf("bounds [%v, %v), want [%v, %v)", start, end, tc.start, tc.end)
			}
		})
	}
}

func TestParsePeriodErrors(t *testing.T) {
	for _, tc := range []struct{ period, zone string }{
		{"fortnightly", ""}, {"daily", "Mars/Olympus"}, {"500ms", ""}, {"", ""},
	} {
		if _, err := ParsePeriod(tc.period, tc.zone); err == nil {
			t.Errorf("ParsePeriod(%q, %q) accepted", tc.period, tc.zone)
		}
	}
}
