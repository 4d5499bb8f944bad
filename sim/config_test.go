package sim

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join("..", "examples", "sim.yaml"))
	if err != nil {
		t.Fatalf("Load(examples/sim.yaml): %v", err)
	}
	kinds := map[string]int{}
	regions := map[string]bool{}
	for _, d := range c.Deployments {
		kinds[d.Kind]++
		regions[d.Region] = true
		if d.Model != "gpt-4o" {
			t.Errorf("%s: model %q, want gpt-4o", d.Name, d.Model)
		}
	}
	if kinds[KindProvisioned] != 1 || kinds[KindStandard] != 2 || len(regions) != 3 {
		t.Errorf("example has kinds %v in regions %v, want 1 provisioned + 2 standard in 3 regions", kinds, regions)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`
deployments:
  - name: a
    kind: standard
    tpm: 20000
  - name: b
    kind: provisioned
    capacity_tpm: 1000
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a, b := c.Deployments[0], c.Deployments[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"time_scale", c.TimeScale, 1.0},
		{"max_body_bytes", c.MaxBodyBytes, int64(DefaultMaxBodyBytes)},
		{"rpm = 6 per 1000 tpm", a.RPM, int64(120)},
		{"request window limit", a.requestLimit10s(), int64(20)},
		{"model defaults to name", a.Model, "a"},
		{"estimate", a.Estimate, EstimateMaxTokens},
		{"missing_max_tokens", a.MissingMaxTokens, int64(16)},
		{"context_window", b.ContextWindow, int64(DefaultContextWindow)},
		{"completion mode", b.Completion.Mode, CompletionFixed},
		{"completion tokens", b.Completion.Tokens, int64(DefaultCompletionTokens)},
		{"throttle_headers", b.ThrottleHeaders, HeadersBoth},
		{"throttle_message", b.ThrottleMessage, MessageRateLimit},
		{"provisioned has no rpm", b.RPM, int64(0)},
		{"prompt cache on, 5 minutes", [2]any{b.PromptCache.Disabled, b.PromptCache.TTLSeconds}, [2]any{false, 300.0}},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if ck.got != ck.want {
				t.Errorf("got %v, want %v", ck.got, ck.want)
			}
		})
	}
}

func TestParseFaultKindsAcceptNumbers(t *testing.T) {
	c, err := Parse([]byte(`
deployments:
  - {name: a, kind: standard, tpm: 1000, faults: {probability: 0.5, kinds: [503, "reset", slow-first-byte=20]}}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := strings.Join(c.Deployments[0].Faults.Kinds, ","); got != "503,reset,slow-first-byte=20" {
		t.Errorf("kinds = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every one must appear in the error
	}{
		{"empty", ``, []string{"deployments: must list at least one deployment"}},
		{"not yaml", `deployments: [`, []string{"parse sim config"}},
		{"unknown field", "deployments:\n  - {name: a, kind: standard, tpm: 1, tmp: 2}", []string{"field tmp not found"}},
		{
			name: "everything at once",
			yaml: `
time_scale: -1
keys: [""]
deployments:
  - {kind: standard}
  - {name: a/b, kind: serverless}
  - {name: p, kind: provisioned, tpm: 5, keys: ["ok", ""]}
  - {name: p, kind: standard, tpm: 100, capacity_tpm: 3, estimate: guess, completion: {mode: random, min: 5, max: 2},
     throttle_headers: loud, throttle_message: rude, faults: {probability: 2, kinds: [418]}, latency: {first_token_ms: -1}}
`,
			want: []string{
				"time_scale: must be > 0",
				"keys[0]: must not be empty",
				"deployments[0].name: must be set",
				"deployments[0].tpm: must be > 0",
				`deployments[1].name: "a/b" must not contain`,
				`deployments[1].kind: "serverless" must be`,
				"deployments[2].capacity_tpm: must be > 0",
				"deployments[2].keys[1]: must not be empty",
				"deployments[2].tpm: tpm and rpm only apply to standard",
				`deployments[3].name: "p" already used by deployments[2]`,
				"deployments[3].capacity_tpm: only applies to provisioned",
				`deployments[3].estimate: "guess"`,
				"deployments[3].completion: random mode needs 1 <= min <= max",
				`deployments[3].throttle_headers: "loud"`,
				`deployments[3].throttle_message: "rude"`,
				"deployments[3].faults.probability: must be between 0 and 1",
				`deployments[3].faults.kinds[0]: unknown fault "418"`,
				"deployments[3].latency.first_token_ms: must be >= 0",
			},
		},
		{"sparse headers and cache out of range", "deployments:\n" +
			"  - {name: a, kind: standard, tpm: 1, throttle_headers_missing: 1.5, no_utilization_header: true, prompt_cache: {ttl_s: -1}}\n" +
			"  - {name: b, kind: provisioned, capacity_tpm: 1, no_rate_limit_headers: true}",
			[]string{"deployments[0].throttle_headers_missing: must be between 0 and 1",
				"deployments[0].no_utilization_header: only applies to provisioned",
				"deployments[0].prompt_cache.ttl_s: must be > 0",
				"deployments[1].no_rate_limit_headers: only applies to standard"}},
		{"probability without kinds", "deployments:\n  - {name: a, kind: standard, tpm: 1, faults: {probability: 0.1}}",
			[]string{"deployments[0].faults.kinds: must list at least one fault"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want a not-exist error", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "sim.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("deployments: [{name: a, kind: standard, tpm: 1}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err == nil {
			if _, err := New(c, Options{Clock: newFakeClock()}); err != nil {
				t.Fatalf("New rejected a config Parse accepted: %v", err)
			}
		}
	})
}
