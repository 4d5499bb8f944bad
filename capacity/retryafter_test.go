package capacity

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func headers(kv ...string) func(string) string {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h.Get
}

const (
	tokenBody  = `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-08-01-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`
	callBody   = `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 3 seconds."}}`
	shortBody  = `{"error":{"code":"429","message":"Rate limit is exceeded. Try again in 2 seconds."}}`
	demandBody = `{"error":{"code":"429","message":"The system is currently experiencing high demand and cannot process your request. Please retry after 7 seconds."}}`
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		header func(string) string
		body   string
		want   time.Duration
		wantOK bool
	}{
		{"retry-after-ms", headers("Retry-After-Ms", "40"), "", 40 * time.Millisecond, true},
		{"retry-after-ms fraction", headers("retry-after-ms", "12.5"), "", 12500 * time.Microsecond, true},
		{"retry-after-ms zero", headers("retry-after-ms", "0"), "", 0, true},
		{"x-ms-retry-after-ms", headers("X-Ms-Retry-After-Ms", "1500"), "", 1500 * time.Millisecond, true},
		{"retry-after seconds", headers("Retry-After", "6"), "", 6 * time.Second, true},
		{"retry-after spaces", headers("Retry-After", " 6 "), "", 6 * time.Second, true},
		{"retry-after huge", headers("Retry-After", "86400"), "", 86400 * time.Second, true},
		{"retry-after capped at a week", headers("Retry-After", "1e30"), "", 7 * 24 * time.Hour, true},
		{"retry-after http date", headers("Retry-After", "Fri, 27 Nov 2026 12:00:09 GMT"), "", 9 * time.Second, true},
		{"retry-after rfc850 date", headers("Retry-After", "Friday, 27-Nov-26 12:00:04 GMT"), "", 4 * time.Second, true},
		{"retry-after date in the past", headers("Retry-After", "Fri, 27 Nov 2026 11:00:00 GMT"), "", 0, true},
		{"reset requests", headers("X-Ratelimit-Reset-Requests", "3"), "", 3 * time.Second, true},
		{"reset tokens", headers("X-Ratelimit-Reset-Tokens", "5"), "", 5 * time.Second, true},
		{"reset misspelt", headers("X-Rate-Limit-Reset-Tokens", "8"), "", 8 * time.Second, true},
		{"reset duration form", headers("x-ratelimit-reset-tokens", "6m0s"), "", 6 * time.Minute, true},
		{"reset milliseconds form", headers("x-ratelimit-reset-requests", "20ms"), "", 20 * time.Millisecond, true},
		{"reset requests before tokens", headers("x-ratelimit-reset-tokens", "9", "x-ratelimit-reset-requests", "2"), "", 2 * time.Second, true},
		{"policy-id token prefers tokens", headers("x-ratelimit-reset-tokens", "9", "x-ratelimit-reset-requests", "2", "policy-id", "DeploymentRatelimit-Token"), "", 9 * time.Second, true},
		{"body retry after", nil, tokenBody, 6 * time.Second, true},
		{"body call rate", headers(), callBody, 3 * time.Second, true},
		{"body try again in", nil, shortBody, 2 * time.Second, true},
		{"body high demand", nil, demandBody, 7 * time.Second, true},
		{"body try again in ms", nil, `{"error":{"message":"Rate limit reached. Please try again in 20ms."}}`, 20 * time.Millisecond, true},
		{"body try again in 1.5s", nil, `Please try again in 1.5s.`, 1500 * time.Millisecond, true},
		{"body try again in 6m0s", nil, `Please try again in 6m0s.`, 6 * time.Minute, true},
		{"body try again in 1 minute", nil, `Try again in 1 minute.`, time.Minute, true},
		{"body bare number is seconds", nil, `retry after 4.`, 4 * time.Second, true},
		{"body upper case", nil, `PLEASE RETRY AFTER 5 SECONDS`, 5 * time.Second, true},
		{"nothing", headers(), `{"error":{"code":"429","message":"Too many requests."}}`, 0, false},
		{"nil header nil body", nil, "", 0, false},
		{"policy-id alone", headers("policy-id", "DeploymentRatelimit-Token"), "", 0, false},

		// Precedence: the first valid form wins.
		{"ms before x-ms", headers("retry-after-ms", "10", "x-ms-retry-after-ms", "20"), "", 10 * time.Millisecond, true},
		{"x-ms before retry-after", headers("x-ms-retry-after-ms", "20", "retry-after", "5"), "", 20 * time.Millisecond, true},
		{"retry-after before reset", headers("retry-after", "5", "x-ratelimit-reset-tokens", "9"), "", 5 * time.Second, true},
		{"reset before body", headers("x-rate-limit-reset-tokens", "9"), tokenBody, 9 * time.Second, true},
		{"headers before body", headers("Retry-After-Ms", "40", "Retry-After", "1"), tokenBody, 40 * time.Millisecond, true},

		// Invalid values fall through to the next form.
		{"negative ms skipped", headers("retry-after-ms", "-5", "retry-after", "2"), "", 2 * time.Second, true},
		{"garbage ms skipped", headers("retry-after-ms", "soon", "x-ms-retry-after-ms", "30"), "", 30 * time.Millisecond, true},
		{"NaN skipped", headers("retry-after-ms", "NaN", "retry-after", "1"), "", time.Second, true},
		{"Inf skipped", headers("retry-after-ms", "+Inf", "retry-after", "1"), "", time.Second, true},
		{"bad date skipped", headers("retry-after", "tomorrow", "x-ratelimit-reset-tokens", "3"), "", 3 * time.Second, true},
		{"negative reset skipped", headers("x-ratelimit-reset-requests", "-1", "x-ratelimit-reset-tokens", "4"), "", 4 * time.Second, true},
		{"negative duration reset skipped", headers("x-ratelimit-reset-requests", "-1s"), shortBody, 2 * time.Second, true},
		{"all invalid", headers("retry-after-ms", "x", "retry-after", "-1"), "retry after soon", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(now, c.header, []byte(c.body))
			if got != c.want || ok != c.wantOK {
				t.Errorf("ParseRetryAfter = %v, %v; want %v, %v", got, ok, c.want, c.wantOK)
			}
		})
	}
}

func TestParseRetryAfterLongBody(t *testing.T) {
	body := strings.Repeat("x", maxBodyScan) + "retry after 5 seconds"
	if d, ok := ParseRetryAfter(epoch, nil, []byte(body)); ok {
		t.Errorf("message beyond the scanned prefix found: %v", d)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range [][3]string{
		{"40", "", ""}, {"", "6", ""}, {"", "Fri, 27 Nov 2026 12:00:09 GMT", ""}, {"", "", tokenBody},
		{"", "", shortBody}, {"-1", "1e400", "try again in 6m0s"}, {"NaN", "86400", "retry after 99999999999999999999 seconds"},
		{"1.5", "", "retry after 1.2.3s"}, {"", "", "Try again in 0.000000001ms"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ms, retryAfter, body string) {
		h := headers("retry-after-ms", ms, "retry-after", retryAfter, "x-ratelimit-reset-tokens", retryAfter)
		d, ok := ParseRetryAfter(now, h, []byte(body))
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q, %q, %q) = %v, out of [0, week]", ms, retryAfter, body, d)
		}
		if !ok && d != 0 {
			t.Fatalf("not ok but %v", d)
		}
		if d2, ok2 := ParseRetryAfter(now, nil, []byte(body)); d2 < 0 || d2 > maxRetryAfter || (!ok2 && d2 != 0) {
			t.Fatalf("body only: %v %v", d2, ok2)
		}
	})
}
