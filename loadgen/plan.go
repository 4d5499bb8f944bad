package loadgen

import (
	"math/rand/v2"
	"time"
)

// Arrivals is how request times are spread.
type Arrivals string

const (
	// Poisson arrivals: exponential gaps with mean 1/rate, as independent
	// clients produce.
	Poisson Arrivals = "poisson"
	// Fixed arrivals: exactly 1/rate apart.
	Fixed Arrivals = "fixed"
)

// Arrival is one planned request.
type Arrival struct {
	// Seq numbers the requests of a plan from 0.
	Seq int
	// At is when the request is sent, from the start of the run.
	At time.Duration
	// Size indexes the mix.
	Size int
	// Stream is whether the request streams.
	Stream bool
	// Class indexes Config.Classes (0 when there are none).
	Class int
}

// Plan returns the requests of a run: every arrival before duration at rate
// requests per second, each streaming with probability streamShare. Sizes
// are dealt from a shuffled deck of deckSize cards holding each size in
// proportion to its weight, reshuffled when empty: every run of deckSize
// requests has the mix's exact proportions, so the tokens offered over a
// short window do not wander with the draw of a few large prompts. The same
// arguments give the same plan, and a shorter duration gives a prefix of a
// longer one.
func Plan(seed uint64, arrivals Arrivals, rate float64, duration time.Duration, mix []Size, streamShare float64) []Arrival {
	if rate <= 0 || duration <= 0 || len(mix) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5350494c4c574159)) // "SPILLWAY"
	deck := newDeck(sizeWeights(mix))
	if len(deck) == 0 {
		return nil
	}
	mean := float64(time.Second) / rate
	var plan []Arrival
	at := time.Duration(0)
	next := len(deck)
	for seq := 0; ; seq++ {
		if arrivals == Fixed {
			at = time.Duration(float64(seq) * mean)
		} else {
			at += time.Duration(rng.ExpFloat64() * mean)
		}
		if at >= duration {
			return plan
		}
		if next == len(deck) {
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
			next = 0
		}
		size := deck[next]
		next++
		plan = append(plan, Arrival{Seq: seq, At: at, Size: size, Stream: rng.Float64() < streamShare})
	}
}

// deckSize is the number of cards sizes are dealt from.
const deckSize = 100

func sizeWeights(mix []Size) []float64 {
	w := make([]float64, len(mix))
	for i, s := range mix {
		w[i] = s.Weight
	}
	return w
}

func classWeights(classes []Class) []float64 {
	w := make([]float64, len(classes))
	for i, c := range classes {
		w[i] = c.Weight
	}
	return w
}

// newDeck returns deckSize indexes of weights, each index's count
// proportional to its weight (largest remainders round), in order.
func newDeck(weights []float64) []int {
	var total float64
	for _, w := range weights {
		total += max(w, 0)
	}
	if total <= 0 {
		return nil
	}
	counts := make([]int, len(weights))
	rem := make([]float64, len(weights))
	dealt := 0
	for i, w := range weights {
		exact := max(w, 0) / total * deckSize
		counts[i] = int(exact)
		rem[i] = exact - float64(counts[i])
		dealt += counts[i]
	}
	for ; dealt < deckSize; dealt++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		counts[best]++
		rem[best] = -1
	}
	deck := make([]int, 0, deckSize)
	for i, n := range counts {
		for range n {
			deck = append(deck, i)
		}
	}
	return deck
}

// ClosedPlan returns the n requests of a closed-loop run: sizes dealt as
// Plan deals them and streaming with probability streamShare; At is 0, as a
// closed loop sends each request when a worker becomes free. The same
// arguments give the same plan.
func ClosedPlan(seed uint64, n int, mix []Size, streamShare float64) []Arrival {
	if n <= 0 || len(mix) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5350494c4c574159))
	deck := newDeck(sizeWeights(mix))
	if len(deck) == 0 {
		return nil
	}
	plan := make([]Arrival, n)
	next := len(deck)
	for seq := range plan {
		if next == len(deck) {
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
			next = 0
		}
		plan[seq] = Arrival{Seq: seq, Size: deck[next], Stream: rng.Float64() < streamShare}
		next++
	}
	return plan
}

// DealClasses sets the class of every arrival of plan: dealt from a
// shuffled deck of deckSize cards holding each class in proportion to its
// weight, as sizes are, so every deckSize requests hold the classes' exact
// shares. The deck has its own random stream: a plan's times, sizes and
// streaming are the same with classes or without.
func DealClasses(seed uint64, plan []Arrival, classes []Class) {
	deck := newDeck(classWeights(classes))
	if len(deck) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 0x434c4153534553)) // "CLASSES"
	next := len(deck)
	for i := range plan {
		if next == len(deck) {
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
			next = 0
		}
		plan[i].Class = deck[next]
		next++
	}
}
