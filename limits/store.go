// Package limits enforces consumers' limits: tokens and requests per sliding
// window (tpm, rpm) and token quotas per calendar period (hourly to yearly,
// in a time zone). A request is charged its arrival cost (spillway's prompt
// count plus max tokens) against every rule that applies to it, all or
// nothing, and the charge is corrected to the real usage when the response
// ends (or removed when the request fails). The counters live in a Store:
// this process's memory (Memory) or Redis shared by every replica (package
// limits/redislimits).
package limits

import "time"

// Store keeps the counters. Each call is atomic: a shared Store makes it
// atomic against other replicas on its own.
type Store interface {
	// Charge charges every check its Cost under id if each has room, and
	// nothing otherwise (see Verdict).
	Charge(now time.Time, id string, checks []Check) (Verdict, error)
	// Correct changes what id was charged: checks are as charged (their
	// Cost is the amount now held) and amounts[i] the new amount for
	// checks[i]; 0 removes the charge.
	Correct(now time.Time, id string, checks []Check, amounts []int64) error
	// Use reports each check's use now, charging nothing.
	Use(now time.Time, checks []Check) ([]int64, error)
}

// Check is one counter a request is checked against and charged to.
type Check struct {
	// Key names the counter in the store.
	Key   string
	Limit int64
	Cost  int64
	// Window > 0: a sliding window of this length (every charge counts
	// until Window after it was made). 0: a quota counter for one period,
	// which renews at Until (Key names the period).
	Window time.Duration
	Until  time.Time
}

// Verdict is a Store's answer to Charge.
type Verdict struct {
	// OK: every check had room and is charged.
	OK bool
	// Refused is the index of the first check without room (-1 when OK);
	// RetryAt is when it will have room for its cost: for a window, the
	// exact moment enough charges leave it; for a quota, Until.
	Refused int
	RetryAt time.Time
	// Used is each check's use: after the charge when OK, as it was when
	// refused.
	Used []int64
}

// fits is the one admission rule of every counter: the cost fits under the
// limit, or the counter is empty (a request that costs more than the whole
// limit runs alone rather than never).
func fits(used, cost, limit int64) bool { return used == 0 || used+cost <= limit }
