package loadgen

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	mix := []Size{{Name: "a", Words: 1, MaxTokens: 1, Weight: 3}, {Name: "b", Words: 1, MaxTokens: 1, Weight: 1}, {Name: "never", Words: 1, MaxTokens: 1, Weight: 0}}

	t.Run("same seed same plan, other seed other plan", func(t *testing.T) {
		a := Plan(1, Poisson, 100, 10*time.Second, mix, 0.3)
		b := Plan(1, Poisson, 100, 10*time.Second, mix, 0.3)
		c := Plan(2, Poisson, 100, 10*time.Second, mix, 0.3)
		if !slices.Equal(a, b) {
			t.Error("two plans with the same seed differ")
		}
		if slices.Equal(a, c) {
			t.Error("plans with different seeds are equal")
		}
	})

	t.Run("a shorter duration is a prefix", func(t *testing.T) {
		long := Plan(7, Poisson, 50, 10*time.Second, mix, 0.5)
		short := Plan(7, Poisson, 50, 4*time.Second, mix, 0.5)
		if len(short) == 0 || len(short) >= len(long) || !slices.Equal(short, long[:len(short)]) {
			t.Errorf("plan for 4s (%d arrivals) is not a prefix of the plan for 10s (%d)", len(short), len(long))
		}
	})

	t.Run("poisson: rate, order, sizes by weight, stream share", func(t *testing.T) {
		p := Plan(3, Poisson, 200, 100*time.Second, mix, 0.3)
		if n := float64(len(p)); math.Abs(n-20000) > 4*math.Sqrt(20000) {
			t.Errorf("%v arrivals in 100s at 200/s, want about 20000", n)
		}
		var sizes [3]int
		streams := 0
		for i, a := range p {
			if a.Seq != i || (i > 0 && a.At < p[i-1].At) || a.At >= 100*time.Second {
				t.Fatalf("arrival %d out of order or range: %+v", i, a)
			}
			sizes[a.Size]++
			if a.Stream {
				streams++
			}
		}
		if sizes[2] != 0 {
			t.Errorf("a size of weight 0 was drawn %d times", sizes[2])
		}
		if share := float64(sizes[0]) / float64(len(p)); math.Abs(share-0.75) > 0.01 {
			t.Errorf("size a drawn %.3f of the time, want 0.75", share)
		}
		// Every full deck has the exact proportions.
		for d := 0; d+deckSize <= len(p); d += deckSize {
			n := 0
			for _, a := range p[d : d+deckSize] {
				if a.Size == 0 {
					n++
				}
			}
			if n != 75 {
				t.Fatalf("requests %d..%d: %d of size a, want 75", d, d+deckSize-1, n)
			}
		}
		if share := float64(streams) / float64(len(p)); math.Abs(share-0.3) > 0.02 {
			t.Errorf("streams %.3f of the time, want 0.3", share)
		}
	})

	t.Run("fixed: exactly 1/rate apart", func(t *testing.T) {
		p := Plan(3, Fixed, 4, time.Second, mix, 0)
		var at []time.Duration
		for _, a := range p {
			at = append(at, a.At)
			if a.Stream {
				t.Error("stream share 0 gave a stream")
			}
		}
		if want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}; !slices.Equal(at, want) {
			t.Errorf("arrivals at %v, want %v", at, want)
		}
	})

	t.Run("deck proportions, largest remainders", func(t *testing.T) {
		thirds := []Size{{Weight: 1}, {Weight: 1}, {Weight: 1}}
		for _, c := range []struct {
			name string
			mix  []Size
			want []int
		}{
			{"3:1:0", mix, []int{75, 25, 0}},
			{"thirds", thirds, []int{34, 33, 33}},
			{"negative weight counts as 0", []Size{{Weight: 1}, {Weight: -1}}, []int{100, 0}},
		} {
			got := make([]int, len(c.mix))
			for _, i := range newDeck(sizeWeights(c.mix)) {
				got[i]++
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: deck counts %v, want %v", c.name, got, c.want)
			}
		}
	})

	t.Run("nothing to plan", func(t *testing.T) {
		for name, p := range map[string][]Arrival{
			"rate 0":     Plan(1, Poisson, 0, time.Second, mix, 0),
			"duration 0": Plan(1, Poisson, 10, 0, mix, 0),
			"empty mix":  Plan(1, Poisson, 10, time.Second, nil, 0),
			"no weight":  Plan(1, Poisson, 10, time.Second, []Size{{Weight: 0}}, 0),
		} {
			if len(p) != 0 {
				t.Errorf("%s: %d arrivals, want none", name, len(p))
			}
		}
	})
}

// TestDealClasses: every deck of 100 holds the classes' exact shares, the
// deal is repeatable, and the plan's times, sizes and streaming are those
// of the plan without classes.
func TestDealClasses(t *testing.T) {
	mix := []Size{{Name: "a", Words: 1, MaxTokens: 1, Weight: 1}, {Name: "b", Words: 1, MaxTokens: 1, Weight: 1}}
	classes := []Class{{Name: "interactive", Weight: 0.3}, {Name: "batch", Weight: 0.7}, {Name: "none", Weight: 0}}
	plain := Plan(9, Poisson, 100, 10*time.Second, mix, 0.3)
	dealt := Plan(9, Poisson, 100, 10*time.Second, mix, 0.3)
	DealClasses(9, dealt, classes)
	for d := 0; d+deckSize <= len(dealt); d += deckSize {
		var n [3]int
		for _, a := range dealt[d : d+deckSize] {
			n[a.Class]++
		}
		if n != [3]int{30, 70, 0} {
			t.Fatalf("deck at %d holds classes %v, want [30 70 0]", d, n)
		}
	}
	again := Plan(9, Poisson, 100, 10*time.Second, mix, 0.3)
	DealClasses(9, again, classes)
	if !slices.Equal(dealt, again) {
		t.Error("two deals with the same seed differ")
	}
	for i := range dealt {
		a := dealt[i]
		a.Class = 0
		if a != plain[i] {
			t.Fatalf("arrival %d: %+v with classes, %+v without", i, dealt[i], plain[i])
		}
	}
	DealClasses(9, plain, nil) // no classes: nothing dealt
	if plain[0].Class != 0 {
		t.Error("a plan without classes got one")
	}
}
