package plan

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteText writes p for a person to read.
func WriteText(w io.Writer, p *Plan) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	f := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	cur := cmp.Or(p.Currency, "(currency of the prices)")
	for _, m := range p.Models {
		mm := m.Model
		f("model %s (%s, PTU %s: %d input TPM per PTU, output weighs %g, units %d + %d·k)\n", mm.Name, mm.Latency, mm.PTUType,
			mm.PTU.InputTPMPerPTU, mm.PTU.OutputRatio, mm.PTU.Minimum, mm.PTU.Increment)
		f("  load\tpeak %s TPM, average %s TPM, peak %s RPM; %s normalized TPM at peak (×%.2f)\n",
			num(mm.PeakTPM), num(mm.AverageTPM), num(mm.PeakRPM), num(m.PeakNormalized), m.Weight)
		if m.PTU > 0 {
			where := strings.Trim(m.PTUSubscription+"/"+m.PTURegion, "/")
			f("  PTU\t%d units in %s: %s normalized TPM = %s TPM of this workload's tokens\n", m.PTU, cmp.Or(where, "(no region)"),
				num(m.PTUNormalizedTPM), num(m.PTUTokensPerMinute))
			f("  \tutilization %.1f %% over the month; %.1f %% of the tokens spill to TPM\n", 100*m.Utilization, 100*m.SpillShare)
		} else {
			f("  PTU\tnone: every token goes to TPM deployments\n")
		}
		if m.NeedTPM > 0 {
			f("  TPM needed\t%s TPM at peak: %s TPM and %s RPM spill (6 RPM per 1,000 TPM; charged %s tokens a request on arrival)\n",
				num(m.NeedTPM), num(m.SpillPeakTPM), num(m.SpillPeakRPM), num(mm.PromptTokens+max(mm.MaxTokens, mm.CompletionTokens)))
		}
		for _, d := range m.TPM {
			f("  TPM\t%s TPM (%s RPM) in %s/%s\n", num(float64(d.TPM)), num(float64(d.RPM)), d.Subscription, d.Region)
		}
		if m.Shortfall > 0 {
			f("  TPM short\t%s TPM: no quota left in the allowed regions\n", num(float64(m.Shortfall)))
		}
		f("  cost a month\tplan %s %s (PTU %s + spilled tokens %s); all TPM %s; all PTU %s (%d units)\n", money(m.Cost), cur,
			money(m.PTUCost), money(m.SpillCost), money(m.AllTPMCost), money(m.AllPTUCost), m.PeakPTU)
		f("\n")
	}
	f("total a month (%g hours)\tplan %s %s; all TPM %s; all PTU %s\n", p.HoursPerMonth, money(p.Cost), cur, money(p.AllTPMCost), money(p.AllPTUCost))
	for _, w := range p.Warnings {
		f("warning\t%s\n", w)
	}
	return tw.Flush()
}

// num writes a count with thousands separators, without decimals.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// money writes an amount with thousands separators and cents.
func money(v float64) string {
	cents := int64(math.Round(v * 100))
	return fmt.Sprintf("%s.%02d", num(float64(cents/100)), cents%100)
}
