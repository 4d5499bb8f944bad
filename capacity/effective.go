package capacity

import "math"

// Effective capacity: the share of a backend's configured capacity the model
// assumes it can use. It is 1 until the backend disagrees with the model in
// the one way the model cannot otherwise correct: a 429 on an attempt the
// model had room for, with no utilization or remaining-count header to say
// how full the backend really is. That happens when other clients use the
// same deployment (a neighbour the model does not see), or when the
// backend's arithmetic is not the model's. Each such 429 (the first of a
// throttling episode: the later ones of a burst were sent before it) cuts
// the effective capacity by effectiveCut, down to effectiveFloor; every
// settled request gives back effectiveGain of its share of the configured
// capacity, so a backend that keeps accepting is back to 1 after
// (1 − share) / effectiveGain windows of full use.
//
// A backend that sends its utilization or remaining counts is corrected by
// them on every response instead (see memStore.correct): its effective
// capacity stays 1, so the neighbour's load is not counted twice.
const (
	effectiveCut   = 0.85
	effectiveFloor = 0.25
	effectiveGain  = 0.1
)

// cutEffective is the effective capacity after a surprising 429.
func cutEffective(eff float64) float64 { return math.Max(effectiveFloor, eff*effectiveCut) }

// gainEffective is the effective capacity after a request that used tokens
// of a backend whose configured capacity is limit settled.
func gainEffective(eff float64, tokens, limit int64) float64 {
	if eff >= 1 || limit <= 0 {
		return 1
	}
	return math.Min(1, eff+effectiveGain*float64(max(0, tokens))/float64(limit))
}

// admitSlack is the most of a request's cost that must fit below a
// backend's limit for the model to admit it: a request has room when the
// backend's use plus the smaller of its cost and 1 % of the limit stays
// within the limit. Azure admits any request while a deployment is below
// its limit, whatever its size; requiring the whole cost to fit instead
// turns large requests away whenever small ones keep the backend near full
// (past total capacity the model then served as many requests as reactive
// routing but a sixth fewer tokens). The 1 % keeps a margin for the few
// milliseconds between the model's charge and the backend's.
const admitSlack = 0.01

// effectiveLimit is limit scaled by eff, at least 1.
func effectiveLimit(limit int64, eff float64) int64 {
	return max(1, int64(math.Floor(float64(limit)*eff)))
}
