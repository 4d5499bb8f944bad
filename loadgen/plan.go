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
}

// Plan returns the requests of a run: every arrival before duration at rate
// requests per second, each with its size drawn from mix and its streaming
// drawn with probability streamShare. The same arguments give the same plan,
// and a shorter duration gives a prefix of a longer one.
func Plan(seed uint64, arrivals Arrivals, rate float64, duration time.Duration, mix []Size, streamShare float64) []Arrival {
	if rate <= 0 || duration <= 0 || len(mix) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5350494c4c574159)) // "SPILLWAY"
	var total float64
	for _, s := range mix {
		total += s.Weight
	}
	mean := float64(time.Second) / rate
	var plan []Arrival
	at := time.Duration(0)
	for seq := 0; ; seq++ {
		if arrivals == Fixed {
			at = time.Duration(float64(seq) * mean)
		} else {
			at += time.Duration(rng.ExpFloat64() * mean)
		}
		if at >= duration {
			return plan
		}
		// Both draws are made whatever the mix, so a plan's times do not
		// depend on its sizes.
		pick, stream := rng.Float64()*total, rng.Float64() < streamShare
		size := len(mix) - 1
		for i, s := range mix {
			if pick < s.Weight {
				size = i
				break
			}
			pick -= s.Weight
		}
		plan = append(plan, Arrival{Seq: seq, At: at, Size: size, Stream: stream})
	}
}
