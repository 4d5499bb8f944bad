package plan

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// numericExcess integrates the curve's definition, sorted load as a
// function of the share of the month, by the midpoint rule.
func numericExcess(c Curve, x float64) (excess, above float64) {
	const n = 200000
	for i := range n {
		t := (float64(i) + 0.5) / n
		var load float64
		if b := 2*c.Average - c.Peak; b >= 0 {
			load = c.Peak - (c.Peak-b)*t
		} else {
			load = max(0, c.Peak*(1-t*c.Peak/(2*c.Average)))
		}
		if load > x {
			excess += (load - x) / n
			above += 1.0 / n
		}
	}
	return excess, above
}

func TestCurve(t *testing.T) {
	for _, c := range []struct {
		name          string
		curve         Curve
		x             float64
		excess, above float64
		served        float64
	}{
		// Base 2×60−100 = 20: load falls 100 → 20.
		{"above the peak", Curve{100, 60}, 100, 0, 0, 60},
		{"half way", Curve{100, 60}, 60, 10, 0.5, 50}, // (100−60)²/(2×80)
		{"below the base", Curve{100, 60}, 10, 50, 1, 10},
		{"at the base", Curve{100, 60}, 20, 40, 1, 20},
		// Base 2×25−100 < 0: load falls 100 → 0 over half the month.
		{"peaky, at half the peak", Curve{100, 25}, 50, 6.25, 0.25, 18.75}, // 50²/(2×200)
		{"peaky, zero capacity", Curve{100, 25}, 0, 25, 0.5, 0},
		{"flat", Curve{100, 100}, 80, 20, 1, 80},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.curve.Excess(c.x); !near(got, c.excess) {
				t.Errorf("Excess(%v) = %v, want %v", c.x, got, c.excess)
			}
			if got := c.curve.Above(c.x); !near(got, c.above) {
				t.Errorf("Above(%v) = %v, want %v", c.x, got, c.above)
			}
			if got := c.curve.Served(c.x); !near(got, c.served) {
				t.Errorf("Served(%v) = %v, want %v", c.x, got, c.served)
			}
			if c.curve.Peak == c.curve.Average {
				return
			}
			ne, na := numericExcess(c.curve, c.x)
			if math.Abs(ne-c.excess) > 1e-3 || (c.above > 0 && c.above < 1 && math.Abs(na-c.above) > 1e-3) {
				t.Errorf("closed form (%v, %v) disagrees with the integral (%v, %v)", c.excess, c.above, ne, na)
			}
		})
	}
}
