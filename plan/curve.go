package plan

// Curve is a model of how a load varies over a month from only its peak and
// its mean: a linear load-duration curve. Sorted from the busiest minute to
// the quietest, the load falls in a straight line from Peak to Base =
// 2 × Average − Peak at the end of the month; when that would be negative,
// it falls to zero before the end and stays there. Either way its mean is
// Average. The unit is whatever Peak and Average are in (tokens a minute).
type Curve struct {
	Peak, Average float64
}

// base is the quietest minute's load when the line ends above zero.
func (c Curve) base() float64 { return 2*c.Average - c.Peak }

// slope is how fast the sorted load falls, per month.
func (c Curve) slope() float64 {
	if b := c.base(); b >= 0 {
		return c.Peak - b
	}
	return c.Peak * c.Peak / (2 * c.Average)
}

// Above is the share of the month during which the load exceeds x.
func (c Curve) Above(x float64) float64 {
	switch {
	case x >= c.Peak:
		return 0
	case x < max(c.base(), 0):
		return 1
	}
	s := c.slope()
	if s == 0 {
		return 1
	}
	return min(1, (c.Peak-x)/s)
}

// Excess is the month's mean of the load above x: the part a capacity of x
// cannot take, as a rate in the curve's unit.
func (c Curve) Excess(x float64) float64 {
	switch {
	case x >= c.Peak:
		return 0
	case x <= max(c.base(), 0):
		return c.Average - max(x, 0)
	}
	return (c.Peak - x) * (c.Peak - x) / (2 * c.slope())
}

// Served is the month's mean of the load a capacity of x takes.
func (c Curve) Served(x float64) float64 { return c.Average - c.Excess(x) }
