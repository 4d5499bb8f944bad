package capacity

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	// A one-minute window of 60 one-second bins with a limit of 100.
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	t.Run("charge slides out one window after its bin", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(at(500*time.Millisecond), 30)
		w.charge(at(10*time.Second), 20)
		for _, c := range []struct {
			at   time.Duration
			want int64
		}{{59 * time.Second, 50}, {60*time.Second - 1, 50}, {60 * time.Second, 20}, {70*time.Second - 1, 20}, {70 * time.Second, 0}, {time.Hour, 0}} {
			if got := w.used(at(c.at)); got != c.want {
				t.Errorf("used at %v = %d, want %d", c.at, got, c.want)
			}
		}
	})
	t.Run("fits while total plus cost within limit", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(epoch, 60)
		for _, c := range []struct {
			cost int64
			want bool
		}{{0, true}, {40, true}, {41, false}, {1000, false}} {
			if got := w.fits(epoch, c.cost); got != c.want {
				t.Errorf("fits(%d) = %v, want %v", c.cost, got, c.want)
			}
		}
	})
	t.Run("cost above limit fits only an empty window", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		if !w.fits(epoch, 150) {
			t.Error("empty window refused an oversized request")
		}
		w.charge(epoch, 1)
		if w.fits(epoch, 150) {
			t.Error("non-empty window took an oversized request")
		}
		if got, want := w.roomAt(epoch, 150), at(time.Minute); !got.Equal(want) {
			t.Errorf("roomAt = %v, want %v", got, want)
		}
	})
	t.Run("roomAt is when enough has slid out", func(t *testing.T) {
		fresh := func() *window { // windows only move forward: one per question
			w := newWindow(100, time.Minute, 60, epoch)
			w.charge(at(1*time.Second), 30)
			w.charge(at(5*time.Second), 30)
			w.charge(at(9*time.Second), 30)
			return w
		}
		now := at(20 * time.Second)
		for _, c := range []struct {
			cost int64
			want time.Duration
		}{{10, 20 * time.Second}, {11, 61 * time.Second}, {40, 61 * time.Second}, {41, 65 * time.Second}, {100, 69 * time.Second}} {
			got := fresh().roomAt(now, c.cost)
			if !got.Equal(at(c.want)) {
				t.Errorf("roomAt(%d) = %v, want %v", c.cost, got.Sub(epoch), c.want)
			}
			if !fresh().fits(got, c.cost) {
				t.Errorf("cost %d does not fit at its roomAt", c.cost)
			}
			if got.After(now) && fresh().fits(got.Add(-1), c.cost) {
				t.Errorf("cost %d fits before its roomAt", c.cost)
			}
		}
	})
	t.Run("uncharge takes back from its bin while in the window", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		bin := w.charge(at(time.Second), 40)
		w.charge(at(2*time.Second), 10)
		w.uncharge(at(3*time.Second), bin, 40)
		if got := w.used(at(3 * time.Second)); got != 10 {
			t.Errorf("used = %d, want 10", got)
		}
		bin = w.charge(at(4*time.Second), 25)
		w.uncharge(at(64*time.Second), bin, 25) // already gone
		if got := w.used(at(64 * time.Second)); got != 0 {
			t.Errorf("used after late uncharge = %d, want 0", got)
		}
	})
	t.Run("correct up charges now, down takes oldest first", func(t *testing.T) {
		w := newWindow(100, time.Minute, 60, epoch)
		w.charge(at(1*time.Second), 30)
		w.charge(at(2*time.Second), 30)
		w.correct(at(3*time.Second), -40) // 30 from second 1, 10 from second 2
		if got := w.used(at(3 * time.Second)); got != 20 {
			t.Errorf("used = %d, want 20", got)
		}
		if got := w.used(at(62 * time.Second)); got != 0 {
			t.Errorf("used after second 2 left = %d, want 0", got)
		}
		w.correct(at(62*time.Second), 15)
		if got := w.used(at(121*time.Second + 999*time.Millisecond)); got != 15 {
			t.Errorf("used = %d, want 15", got)
		}
		if got := w.used(at(122 * time.Second)); got != 0 {
			t.Errorf("used = %d, want 0", got)
		}
		w.correct(at(122*time.Second), -1000) // never below zero
		if got := w.used(at(122 * time.Second)); got != 0 {
			t.Errorf("used = %d, want 0", got)
		}
	})
	t.Run("time before epoch is bin zero", func(t *testing.T) {
		w := newWindow(10, 10*time.Second, 10, epoch)
		w.charge(epoch.Add(-time.Hour), 3)
		if got := w.used(epoch); got != 3 {
			t.Errorf("used = %d, want 3", got)
		}
	})
}

func TestBucket(t *testing.T) {
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	t.Run("drains capacity per window", func(t *testing.T) {
		b := newBucket(600, time.Minute, epoch)
		b.add(epoch, 300)
		for _, c := range []struct {
			at   time.Duration
			want float64
		}{{0, 300}, {10 * time.Second, 200}, {30 * time.Second, 0}, {time.Hour, 0}} {
			if got := b.levelAt(at(c.at)); got < c.want-1e-6 || got > c.want+1e-6 {
				t.Errorf("level at %v = %v, want %v", c.at, got, c.want)
			}
		}
	})
	t.Run("refund never below zero", func(t *testing.T) {
		b := newBucket(600, time.Minute, epoch)
		b.add(epoch, 100)
		b.add(epoch, -500)
		if got := b.levelAt(epoch); got != 0 {
			t.Errorf("level = %v, want 0", got)
		}
	})
	t.Run("fits and roomAt", func(t *testing.T) {
		fresh := func() *bucket { // buckets only move forward: one per question
			b := newBucket(600, time.Minute, epoch)
			b.add(epoch, 550)
			return b
		}
		b := fresh()
		if !b.fits(epoch, 50) || b.fits(epoch, 51) {
			t.Error("fits wrong at level 550 of 600")
		}
		for _, cost := range []float64{50, 51, 100, 600, 900} {
			got := fresh().roomAt(epoch, cost)
			if !fresh().fits(got, cost) {
				t.Errorf("cost %v does not fit at roomAt %v", cost, got.Sub(epoch))
			}
			if got.After(epoch) && fresh().fits(got.Add(-time.Millisecond), cost) {
				t.Errorf("cost %v fits 1ms before roomAt %v", cost, got.Sub(epoch))
			}
		}
		// 100 tokens need the level at 500: 50 tokens drain in 5 s.
		if got := fresh().roomAt(epoch, 100); got.Sub(epoch).Round(time.Millisecond) != 5*time.Second {
			t.Errorf("roomAt(100) = %v, want 5s", got.Sub(epoch))
		}
		// Oversized: only an empty bucket, 55 s.
		if got := fresh().roomAt(epoch, 900); got.Sub(epoch).Round(time.Millisecond) != 55*time.Second {
			t.Errorf("roomAt(900) = %v, want 55s", got.Sub(epoch))
		}
	})
}

func TestBackendSpec(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		s := BackendSpec{Name: "a", Tier: TierTPM, TPM: 8000}.withDefaults()
		if s.TokenWindow != time.Minute || s.RequestWindow != 10*time.Second || s.Weight != 1 || s.RPM != 48 {
			t.Errorf("defaults = %+v", s)
		}
		if got := s.requestLimit(); got != 8 {
			t.Errorf("request limit = %d, want 8 per 10 s", got)
		}
		scaled := BackendSpec{Name: "a", Tier: TierTPM, TPM: 8000, TokenWindow: 6 * time.Second}.withDefaults()
		if scaled.RequestWindow != time.Second || scaled.requestLimit() != 8 {
			t.Errorf("scaled = %+v limit %d", scaled, scaled.requestLimit())
		}
		if got := (BackendSpec{Name: "a", Tier: TierTPM, TPM: 100}).withDefaults().requestLimit(); got != 1 {
			t.Errorf("tiny request limit = %d, want 1", got)
		}
	})
	t.Run("validate", func(t *testing.T) {
		for _, c := range []struct {
			name string
			spec BackendSpec
			want string
		}{
			{"ok tpm", tpm("a", 1, 0), ""},
			{"ok ptu", ptu("p", 1), ""},
			{"no name", BackendSpec{Tier: TierPTU, CapacityTPM: 1}, "name: must not be empty"},
			{"tpm zero", BackendSpec{Name: "a", Tier: TierTPM}, "tpm: must be > 0"},
			{"rpm negative", BackendSpec{Name: "a", Tier: TierTPM, TPM: 1, RPM: -1}, "rpm: must be >= 0 (0: 6 per 1,000 TPM)"},
			{"ptu zero", BackendSpec{Name: "a", Tier: TierPTU}, "capacity_tpm: must be > 0"},
			{"tier", BackendSpec{Name: "a", Tier: "paygo"}, `tier: "paygo" must be ptu or tpm`},
			{"weight", BackendSpec{Name: "a", Tier: TierPTU, CapacityTPM: 1, Weight: -1}, "weight: must be >= 0"},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := c.spec.Validate()
				got := ""
				if err != nil {
					got = err.Error()
				}
				if got != c.want {
					t.Errorf("Validate() = %q, want %q", got, c.want)
				}
			})
		}
	})
}
