package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// barWidth is the width of the status histogram's longest bar.
const barWidth = 40

// WriteText writes s as a report for a person to read: the status
// histogram, latency percentiles, tokens by backend and tier, upstream
// attempts and 429s, and the most frequent errors.
func WriteText(w io.Writer, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	rate := 0.0
	if s.ElapsedS > 0 {
		rate = float64(s.Sent) / s.ElapsedS
	}
	p("requests\t%d offered, %d sent, %d dropped (in-flight cap) in %.1fs (%.1f sent/s)\n", s.Offered, s.Sent, s.Dropped, s.ElapsedS, rate)
	p("\nstatus\n")
	statuses := slices.SortedFunc(maps.Keys(s.ByStatus), statusOrder)
	top := 0
	for _, k := range statuses {
		top = max(top, s.ByStatus[k])
	}
	for _, k := range statuses {
		n := s.ByStatus[k]
		p("  %s\t%d\t%5.1f%%\t%s\n", k, n, pct(n, s.Sent), strings.Repeat("█", bar(n, top)))
	}

	p("\nlatency (complete 2xx)\tn\tp50\tp90\tp99\tmax\n")
	for _, q := range []struct {
		name string
		q    Quantiles
	}{{"  total", s.Latency}, {"  first byte", s.TTFB}, {"  first token (streams)", s.TTFT}} {
		if q.q.N == 0 {
			p("%s\t0\t-\t-\t-\t-\n", q.name)
			continue
		}
		p("%s\t%d\t%s\t%s\t%s\t%s\n", q.name, q.q.N, msText(q.q.P50), msText(q.q.P90), msText(q.q.P99), msText(q.q.Max))
	}

	for _, g := range []struct {
		title string
		m     map[string]Tokens
	}{{"tokens by tier", s.TokensByTier}, {"tokens by backend", s.TokensByBackend}} {
		p("\n%s\trequests\tprompt\tcompletion\ttotal\n", g.title)
		if len(g.m) == 0 {
			p("  (no response reported usage)\n")
		}
		for _, k := range slices.Sorted(maps.Keys(g.m)) {
			t := g.m[k]
			p("  %s\t%d\t%d\t%d\t%d\n", cmp.Or(k, "(no header)"), t.Requests, t.Prompt, t.Completion, t.Total)
		}
	}

	answered := s.Sent - s.ByStatus["error"]
	p("\nupstream (x-spillway-attempts)\n")
	if s.Attempts == 0 && len(s.ByBackend) <= 1 && len(s.ByTier) <= 1 && s.ByBackend[""] == s.ByTier[""] {
		p("  no answer carried x-spillway-* headers: the endpoint is not spillway, or no request reached a backend\n")
	} else {
		p("  attempts\t%d for %d answers (%.2f each)\n", s.Attempts, answered, ratio(s.Attempts, answered))
		p("  answers retried\t%d\n", s.Retried)
		p("  failed attempts\t%d (429 or 5xx from a backend)\n", s.FailedAttempts)
		p("  429 to the client\t%d from a backend, %d from spillway without an upstream attempt\n", s.Upstream429, s.Local429)
	}
	if len(s.TopErrors) > 0 {
		p("\ntop errors\n")
		for _, e := range s.TopErrors {
			p("  %d×\t%s\t%s\n", e.Count, e.Status, cmp.Or(clip(e.Body, maxErrorText), "(empty body)"))
		}
	}
	return tw.Flush()
}

// maxErrorText is the most of an error body the report shows.
const maxErrorText = 120

// clip shortens s to n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// statusOrder sorts numeric statuses first, in order, then the rest.
func statusOrder(a, b string) int {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	switch {
	case ea == nil && eb == nil:
		return na - nb
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func bar(n, top int) int {
	if top == 0 || n == 0 {
		return 0
	}
	return max(1, n*barWidth/top)
}

func pct(n, of int) float64 { return 100 * ratio(n, of) }

func ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func msText(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}
