package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/config"
)

// TestWriteGateway writes the config of a one-model plan and checks the PTU
// backend's size fields and that the gateway config accepts it.
func TestWriteGateway(t *testing.T) {
	for _, c := range []struct {
		name, model, ptu string
		want, not        []string
	}{
		{name: "published figures: units and type", model: "gpt-4o", ptu: "",
			want: []string{"ptu_units: 15\n", "deployment_type: data_zone\n"}, not: []string{"output_ratio", "input_tpm_per_ptu", "capacity_tpm"}},
		{name: "another output ratio", model: "gpt-4o", ptu: "ptu: {output_ratio: 2}",
			want: []string{"ptu_units: 15\n", "output_ratio: 2\n"}, not: []string{"input_tpm_per_ptu", "capacity_tpm"}},
		{name: "a model the table lacks", model: "my-finetune", ptu: "ptu: {input_tpm_per_ptu: 1000, output_ratio: 3, minimum: 15, increment: 5}",
			want: []string{"ptu_units: 30\n", "input_tpm_per_ptu: 1000\n", "output_ratio: 3\n"}, not: []string{"capacity_tpm"}},
		{name: "units in other steps than Azure's: the capacity", model: "gpt-4o", ptu: "ptu: {minimum: 10, increment: 10}",
			want: []string{"capacity_tpm: 50000 ", "output_ratio: 4\n"}, not: []string{"ptu_units"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := Parse([]byte(`
models:
  - name: ` + c.model + `
    peak_tpm: 30000
    average_tpm: 20000
    prompt_tokens: 1000
    completion_tokens: 0
    latency: strict
    regions: [eastus2]
    ` + c.ptu + `
    prices: {ptu_hourly: 1, input_per_1k: 1, output_per_1k: 1}
quotas:
  - {subscription: s, region: eastus2, model: ` + c.model + `, tpm: 1000}
`))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := WriteGateway(&b, Make(w), w, GatewayOptions{}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, s := range c.want {
				if !strings.Contains(out, s) {
					t.Errorf("config lacks %q:\n%s", s, out)
				}
			}
			for _, s := range c.not {
				if strings.Contains(out, s) {
					t.Errorf("config has %q:\n%s", s, out)
				}
			}
			dir := t.TempDir()
			for _, f := range []string{"client-key", "aoai-eastus2.key"} {
				if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "secrets", f), []byte("k\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Parse([]byte(out))
			if err == nil {
				err = cfg.Validate(dir)
			}
			if err != nil {
				t.Errorf("the gateway config refuses it: %v\n%s", err, out)
			}
		})
	}
}
