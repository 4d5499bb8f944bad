package chargeback

import (
	"errors"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

func TestReport(t *testing.T) {
	clk := capacitytest.NewFakeClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	l := New(NewMemory(), clk, nil)
	batchPTU := Key{"batch", "gpt-4o", "ptu", "ptu-eastus"}
	batchTPM := Key{"batch", "gpt-4o", "tpm", "tpm-eastus2"}
	chat := Key{"chat", "gpt-4o", "ptu", "ptu-eastus"}
	l.Record(batchPTU, Tokens{100, 10, 1})
	l.Record(chat, Tokens{5, 5, 1})
	clk.Advance(time.Hour) // 10:30
	l.Record(batchPTU, Tokens{200, 20, 1})
	l.Record(batchTPM, Tokens{7, 3, 1})
	clk.Advance(2 * time.Hour) // 12:30
	l.Record(batchPTU, Tokens{1000, 1000, 1})

	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		from, to time.Time
		want     []Row
	}{
		{"the whole day, by consumer × model × tier × backend", day, day.Add(24 * time.Hour), []Row{
			{batchPTU, Tokens{1300, 1030, 3}}, {batchTPM, Tokens{7, 3, 1}}, {chat, Tokens{5, 5, 1}},
		}},
		{"hours [10:00, 12:00)", day.Add(10 * time.Hour), day.Add(12 * time.Hour), []Row{
			{batchPTU, Tokens{200, 20, 1}}, {batchTPM, Tokens{7, 3, 1}},
		}},
		{"bounds rounded down to hours", day.Add(9*time.Hour + 59*time.Minute), day.Add(10*time.Hour + 59*time.Minute), []Row{
			{batchPTU, Tokens{100, 10, 1}}, {chat, Tokens{5, 5, 1}},
		}},
		{"nothing used", day.Add(-time.Hour), day, []Row{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Report(tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("report %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("row %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	for _, bad := range [][2]time.Time{{day, day}, {day, day.Add(-time.Hour)}, {day, day.Add(MaxReport + time.Hour)}} {
		if _, err := l.Report(bad[0], bad[1]); !IsPeriodError(err) {
			t.Errorf("Report(%v, %v): %v, want a period error", bad[0], bad[1], err)
		}
	}
}

// failing is a store that fails until told otherwise.
type failing struct {
	Store
	fail bool
}

func (f *failing) Add(hour time.Time, k Key, t Tokens) error {
	if f.fail {
		return errors.New("down")
	}
	return f.Store.Add(hour, k, t)
}

// TestFlushKeepsWhatTheStoreRefused: usage waits in the ledger while its
// store fails, and reaches it once it answers.
func TestFlushKeepsWhatTheStoreRefused(t *testing.T) {
	clk := capacitytest.NewFakeClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	mem := NewMemory()
	st := &failing{Store: mem, fail: true}
	l := New(st, clk, nil)
	k := Key{"batch", "gpt-4o", "ptu", "p"}
	l.Record(k, Tokens{10, 1, 1})
	if err := l.Flush(); err == nil {
		t.Fatal("flush to a failing store succeeded")
	}
	l.Record(k, Tokens{20, 2, 1})
	hour := []time.Time{clk.Now().Truncate(time.Hour)}
	if sums, _ := mem.Sum(hour); len(sums) != 0 {
		t.Fatalf("the store has %v while failing", sums)
	}
	st.fail = false
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if sums, _ := mem.Sum(hour); sums[k] != (Tokens{30, 3, 2}) {
		t.Fatalf("the store has %v, want both requests", sums)
	}
}
