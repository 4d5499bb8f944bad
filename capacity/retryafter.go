package capacity

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what ParseRetryAfter returns, so that no value overflows
// a Duration; callers clamp far lower (Options.MaxCooldown).
const maxRetryAfter = 7 * 24 * time.Hour

// maxBodyScan is how much of a body ParseRetryAfter reads for a message.
const maxBodyScan = 16 << 10

// retryMessage matches "retry after 6 seconds", "Try again in 2 seconds",
// "try again in 20ms", "try again in 1.5s" and "try again in 6m0s".
var retryMessage = regexp.MustCompile(`(?i)(?:retry after|try again in)\s+((?:\d+(?:\.\d+)?\s*(?:milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|h)?\s*)+)`)

// ParseRetryAfter reads when a throttled backend asks to be retried, from the
// first form present and valid, in this order:
//
//  1. retry-after-ms (milliseconds; Azure PTU)
//  2. x-ms-retry-after-ms (milliseconds)
//  3. retry-after (seconds, or an HTTP date relative to now)
//  4. x-ratelimit-reset-requests, x-ratelimit-reset-tokens and the misspelt
//     x-rate-limit-reset-tokens (seconds, or a duration such as "6m0s" or
//     "20ms"); the tokens forms first when policy-id names a token limit
//  5. the body's message: "retry after N seconds", "Try again in N seconds"
//
// header looks a header up case-insensitively (http.Header.Get) and may be
// nil. Negative, malformed and non-finite values are skipped; a date in the
// past gives 0. The result is capped at a week, not at a cooldown limit.
func ParseRetryAfter(now time.Time, header func(string) string, body []byte) (time.Duration, bool) {
	if header != nil {
		if d, ok := parseMillis(header("retry-after-ms")); ok {
			return d, true
		}
		if d, ok := parseMillis(header("x-ms-retry-after-ms")); ok {
			return d, true
		}
		if d, ok := parseRetryAfterHeader(now, header("retry-after")); ok {
			return d, true
		}
		resets := [...]string{"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens"}
		if strings.Contains(strings.ToLower(header("policy-id")), "token") {
			resets = [...]string{"x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens", "x-ratelimit-reset-requests"}
		}
		for _, name := range resets {
			if d, ok := parseReset(header(name)); ok {
				return d, true
			}
		}
	}
	return parseMessage(body)
}

// parseMillis reads a non-negative number of milliseconds.
func parseMillis(s string) (time.Duration, bool) {
	return parseScaled(s, time.Millisecond)
}

// parseScaled reads a non-negative decimal number of units.
func parseScaled(s string, unit time.Duration) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return capped(f * float64(unit)), true
}

func capped(ns float64) time.Duration {
	if ns >= float64(maxRetryAfter) {
		return maxRetryAfter
	}
	return time.Duration(math.Ceil(ns))
}

// parseRetryAfterHeader reads seconds or an HTTP date.
func parseRetryAfterHeader(now time.Time, s string) (time.Duration, bool) {
	if d, ok := parseScaled(s, time.Second); ok {
		return d, true
	}
	t, err := http.ParseTime(strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxRetryAfter), true
}

// parseReset reads seconds or a Go-style duration ("6m0s", "20ms", "1.5s").
func parseReset(s string) (time.Duration, bool) {
	if d, ok := parseScaled(s, time.Second); ok {
		return d, true
	}
	return parseDuration(s)
}

func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// parseMessage finds "retry after N seconds" or "try again in N seconds" in a body.
func parseMessage(body []byte) (time.Duration, bool) {
	if len(body) > maxBodyScan {
		body = body[:maxBodyScan]
	}
	m := retryMessage.FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	return parseSpoken(string(m[1]))
}

// parseSpoken reads "6 seconds", "20ms", "1.5s", "6m0s" or "2" (seconds).
func parseSpoken(s string) (time.Duration, bool) {
	var total float64
	rest := strings.TrimSpace(s)
	found := false
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		f, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			break
		}
		rest = strings.TrimLeft(rest[i:], " \t")
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		unit, ok := spokenUnit(strings.ToLower(rest[:j]))
		if !ok {
			break
		}
		total += f * float64(unit)
		found = true
		rest = strings.TrimLeft(rest[j:], " \t")
	}
	if !found || math.IsNaN(total) {
		return 0, false
	}
	return capped(total), true
}

func spokenUnit(u string) (time.Duration, bool) {
	switch u {
	case "", "s", "sec", "secs", "second", "seconds":
		return time.Second, true
	case "ms", "millisecond", "milliseconds":
		return time.Millisecond, true
	case "m", "min", "mins", "minute", "minutes":
		return time.Minute, true
	case "h":
		return time.Hour, true
	}
	return 0, false
}
