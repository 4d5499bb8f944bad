package plan

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// model4o is gpt-4o (2,500 input TPM per PTU, data zone 15 + 5k) with
// completion_tokens 0, so a token weighs one normalized token: the peak
// 100,000 and average 60,000 TPM give a load falling from 100,000 to 20,000.
// A token costs 2.5e-6, a month is 43,800 minutes: all-TPM is 6,570.
func model4o(latency LatencyClass, ptuHourly float64) Model {
	return Model{Name: "gpt-4o", PeakTPM: 100000, AverageTPM: 60000, PromptTokens: 1000, Latency: latency, Regions: []string{"eastus2"},
		Prices: Prices{PTUHourly: ptuHourly, InputPer1K: 0.0025, OutputPer1K: 0.01}}
}

func TestSizeModel(t *testing.T) {
	for _, c := range []struct {
		name        string
		m           Model
		ptu         int
		util, spill float64
		cost        float64
		needTPM     float64
	}{
		{
			// PTUs at 730 a month each never beat 6,570 of tokens.
			name: "batch, dear PTU: none", m: model4o(Batch, 1),
			ptu: 0, util: 0, spill: 1, cost: 6570, needTPM: 100000,
		},
		{
			// The floor is Units(60,000 / 2,500 = 24) = 25; 25 beats 30, 35, 40.
			// Excess over 62,500: 37,500² / (2 × 80,000) = 8,789.0625 a minute.
			name: "interactive, dear PTU: the average", m: model4o(Interactive, 1),
			ptu: 25, util: (60000 - 8789.0625) / 62500, spill: 8789.0625 / 60000,
			cost: 25*730 + 8789.0625*43800*2.5e-6, needTPM: 37500,
		},
		{
			// At 36.5 a month a PTU pays while the load is above it 13.3 % of
			// the time: 35 units (1,384.43) beat 30 (1,522.73) and 40 (1,460).
			name: "batch, cheap PTU: where it pays", m: model4o(Batch, 0.05),
			ptu: 35, util: (60000 - 976.5625) / 87500, spill: 976.5625 / 60000,
			cost: 35*36.5 + 976.5625*43800*2.5e-6, needTPM: 12500,
		},
		{
			name: "strict: the peak", m: model4o(Strict, 1),
			ptu: 40, util: 60000.0 / 100000, spill: 0, cost: 40 * 730, needTPM: 0,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &Workload{Models: []Model{c.m}}
			if err := w.complete(); err != nil {
				t.Fatal(err)
			}
			mp := sizeModel(w.Models[0], DefaultHoursPerMonth)
			if mp.PTU != c.ptu || !approx(mp.Utilization, c.util) || !approx(mp.SpillShare, c.spill) || !approx(mp.Cost, c.cost) || !approx(mp.NeedTPM, c.needTPM) {
				t.Errorf("ptu %d util %v spill %v cost %v need %v; want %d %v %v %v %v",
					mp.PTU, mp.Utilization, mp.SpillShare, mp.Cost, mp.NeedTPM, c.ptu, c.util, c.spill, c.cost, c.needTPM)
			}
			if !approx(mp.AllTPMCost, 6570) || mp.PeakPTU != 40 || !approx(mp.AllPTUCost, 40*730*c.m.Prices.PTUHourly) {
				t.Errorf("all-TPM %v, all-PTU %d units %v", mp.AllTPMCost, mp.PeakPTU, mp.AllPTUCost)
			}
			// A batch plan is the cheapest of every count of units Azure sells.
			if c.m.Latency != Batch {
				return
			}
			curve := Curve{Peak: 100000, Average: 60000}
			for _, u := range w.Models[0].PTU.Steps(40) {
				if other := float64(u)*c.m.Prices.PTUHourly*730 + curve.Excess(float64(u)*2500)*43800*2.5e-6; other < mp.Cost-1e-9 {
					t.Errorf("%d units cost %v, less than the plan's %v", u, other, mp.Cost)
				}
			}
		})
	}
}

func TestSizeModelNormalizesOutput(t *testing.T) {
	// Microsoft's example: 1,000 RPM × (200 in + 20 out) on gpt-5.2, output
	// weighing 8: 360,000 normalized TPM, 105.9 PTU, 110 in data zone units.
	w := &Workload{Models: []Model{{Name: "gpt-5.2", PeakTPM: 220000, AverageTPM: 220000, PromptTokens: 200, CompletionTokens: 20,
		Latency: Strict, Regions: []string{"eastus2"}, Prices: Prices{PTUHourly: 1, InputPer1K: 1, OutputPer1K: 1}}}}
	if err := w.complete(); err != nil {
		t.Fatal(err)
	}
	mp := sizeModel(w.Models[0], DefaultHoursPerMonth)
	if !approx(mp.PeakNormalized, 360000) || mp.PTU != 110 || !approx(mp.Model.PeakRPM, 1000) || !approx(mp.PTUTokensPerMinute, 110*3400*220/360.0) {
		t.Errorf("normalized %v, PTU %d, RPM %v, capacity %v tokens/min", mp.PeakNormalized, mp.PTU, mp.Model.PeakRPM, mp.PTUTokensPerMinute)
	}
}

func TestNeedTPM(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Model
		want float64
	}{
		// 100,000 TPM of 1,000-token requests: 100 RPM, 16,667 TPM by the RPM rule.
		{"tokens", Model{PromptTokens: 1000}, 100000},
		// 50-token requests: 2,000 RPM need 333,333 TPM at 6 RPM per 1,000.
		{"requests: 6 RPM per 1,000 TPM", Model{PromptTokens: 50}, 2000 * 1000 / 6.0},
		// 1,100-token requests sending max_tokens 1,000 are charged 2,000 each.
		{"max_tokens charged on arrival", Model{PromptTokens: 1000, CompletionTokens: 100, MaxTokens: 1000}, 100000 / 1100.0 * 2000},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			m.Name, m.PeakTPM, m.AverageTPM, m.Latency, m.Regions = "gpt-4o", 100000, 50000, Batch, []string{"eastus2"}
			m.PTU.OutputRatio = 1 // so the plan's weight is 1 and the PTU stays out (dear)
			m.Prices = Prices{PTUHourly: 100, InputPer1K: 0.001, OutputPer1K: 0.001}
			w := &Workload{Models: []Model{m}}
			if err := w.complete(); err != nil {
				t.Fatal(err)
			}
			mp := sizeModel(w.Models[0], DefaultHoursPerMonth)
			if mp.PTU != 0 || !approx(mp.NeedTPM, c.want) {
				t.Errorf("PTU %d, need %v TPM, want 0 and %v", mp.PTU, mp.NeedTPM, c.want)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	w, err := Parse([]byte(`
currency: EUR
models:
  - name: gpt-4o
    peak_tpm: 100000
    average_tpm: 50000
    prompt_tokens: 50
    completion_tokens: 0
    latency: batch
    regions: [eastus2, westus3]
    prices: {ptu_hourly: 100, input_per_1k: 0.001, output_per_1k: 0.001}
  - name: gpt-4o-mini
    peak_tpm: 1000000
    average_tpm: 500000
    prompt_tokens: 1000
    completion_tokens: 100
    latency: strict
    regions: [swedencentral, eastus2]
    prices: {ptu_hourly: 1, input_per_1k: 0.001, output_per_1k: 0.001}
quotas:
  - {subscription: c, region: northeurope, model: gpt-4o, tpm: 999000}
  - {subscription: b, region: westus3, model: gpt-4o, tpm: 150000}
  - {subscription: a, region: eastus2, model: gpt-4o, tpm: 150500}
ptu_quotas:
  - {subscription: a, region: eastus2, ptu: 500}
  - {subscription: s, region: swedencentral, ptu: 20}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := Make(w)
	// 2,000 RPM need 333,334 TPM: eastus2 first (150,000 of 150,500: whole
	// thousands), then westus3; northeurope is not allowed.
	want := []TPMDeployment{{"a", "eastus2", 150000, 900}, {"b", "westus3", 150000, 900}}
	if got := p.Models[0].TPM; !slices.Equal(got, want) || p.Models[0].Shortfall != 34000 {
		t.Errorf("TPM deployments %+v, shortfall %d; want %+v, 34000", got, p.Models[0].Shortfall, want)
	}
	// gpt-4o-mini peak: 1e6 × (1000 + 400)/1100 normalized / 37,000 = 34.4 -> 35 units;
	// swedencentral's 20 do not hold them, eastus2's 500 do.
	if m := p.Models[1]; m.PTU != 35 || m.PTURegion != "eastus2" || m.PTUSubscription != "a" || len(m.TPM) != 0 {
		t.Errorf("gpt-4o-mini: %d PTU in %s/%s, TPM %+v", m.PTU, m.PTUSubscription, m.PTURegion, m.TPM)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "gpt-4o: TPM quota in the allowed regions is 34000 TPM short") {
		t.Errorf("warnings = %q", p.Warnings)
	}
	if !approx(p.Cost, p.Models[0].Cost+p.Models[1].Cost) || !approx(p.AllTPMCost, p.Models[0].AllTPMCost+p.Models[1].AllTPMCost) {
		t.Errorf("totals %v %v", p.Cost, p.AllTPMCost)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"empty", ``, []string{"models: at least one"}},
		{"unknown field", "modles: []", []string{"field modles not found"}},
		{"every problem at once", `
hours_per_month: 1000
models:
  - name: "bad name"
    peak_tpm: 10
    average_tpm: 20
    prompt_tokens: 0
    latency: fast
    ptu_type: zonal
    regions: [East US]
  - name: my-finetune
    peak_tpm: 10
    average_tpm: 5
    prompt_tokens: 1
    prices: {ptu_hourly: 1, input_per_1k: 1}
quotas:
  - {subscription: s, region: r, model: nope, tpm: 0}
`, []string{"hours_per_month:", "models[0].name:", "models[0].average_tpm:", "models[0]: prompt_tokens", "models[0].latency:",
			"models[0].ptu_type:", "models[0].regions[0]:", "models[1].regions: at least one", "models[0].prices:", "models[1].ptu: model \"my-finetune\" is not in the published table", "quotas[0]:", "quotas[0].tpm:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
