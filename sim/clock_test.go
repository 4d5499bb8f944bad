package sim

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: Sleep advances it instead of waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		f.Advance(d)
	}
	return nil
}

func TestRealClockSleep(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		start := time.Now()
		if err := (RealClock{}).Sleep(t.Context(), 5*time.Millisecond); err != nil {
			t.Fatalf("Sleep: %v", err)
		}
		if time.Since(start) < 5*time.Millisecond {
			t.Errorf("Sleep returned early")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := (RealClock{}).Sleep(ctx, time.Hour); err == nil {
			t.Errorf("Sleep on a cancelled context returned nil")
		}
	})
}
