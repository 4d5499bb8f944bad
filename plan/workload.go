package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Workload is what `spillway plan -f` reads: the models' load, the quotas
// and the prices. Nothing in it has a built-in value except the PTU facts
// of known models and the hours in a month.
type Workload struct {
	// Currency labels the prices and costs; it converts nothing.
	Currency string `yaml:"currency"`
	// HoursPerMonth prices the PTUs and counts the month's tokens; 730 when 0.
	HoursPerMonth float64 `yaml:"hours_per_month"`
	Models        []Model `yaml:"models"`
	// Quotas are the standard (TPM) quotas: per subscription × region × model.
	Quotas []Quota `yaml:"quotas"`
	// PTUQuotas are the provisioned quotas, per subscription × region, in
	// units, shared by every model. Without them PTU quota is not checked.
	PTUQuotas []PTUQuota `yaml:"ptu_quotas"`
}

// Model is one model's load and what may serve it.
type Model struct {
	Name string `yaml:"name"`
	// PeakTPM and AverageTPM are tokens per minute, prompt + completion:
	// the busiest minute and the month's mean.
	PeakTPM    float64 `yaml:"peak_tpm"`
	AverageTPM float64 `yaml:"average_tpm"`
	// PromptTokens and CompletionTokens are a request's mean sizes.
	PromptTokens     float64 `yaml:"prompt_tokens"`
	CompletionTokens float64 `yaml:"completion_tokens"`
	// MaxTokens is the max_tokens requests send (0: unknown). A standard
	// deployment charges prompt + max_tokens against its TPM on arrival.
	MaxTokens float64 `yaml:"max_tokens"`
	// PeakRPM is requests per minute at peak; PeakTPM / (prompt +
	// completion) when 0.
	PeakRPM float64 `yaml:"peak_rpm"`
	// Latency is strict (the PTU takes the peak), interactive (the PTU
	// takes at least the average, more while it pays) or batch (as many
	// PTUs as pay for themselves, maybe none).
	Latency LatencyClass `yaml:"latency"`
	// Regions the model may be deployed in, preferred first; at least one.
	Regions []string `yaml:"regions"`
	// PTUType is the provisioned deployment type: global, data_zone or
	// regional.
	PTUType DeploymentType `yaml:"ptu_type"`
	// PTU overrides the published facts of the model, field by field.
	PTU    Facts  `yaml:"ptu"`
	Prices Prices `yaml:"prices"`
}

// LatencyClass is how much of a model's load must be on provisioned
// capacity.
type LatencyClass string

// Latency classes.
const (
	Strict      LatencyClass = "strict"
	Interactive LatencyClass = "interactive"
	Batch       LatencyClass = "batch"
)

// Prices of one model, in Workload.Currency.
type Prices struct {
	// PTUHourly is the price of one PTU for an hour.
	PTUHourly float64 `yaml:"ptu_hourly"`
	// InputPer1K and OutputPer1K are the standard deployment's prices of
	// 1,000 prompt and completion tokens.
	InputPer1K  float64 `yaml:"input_per_1k"`
	OutputPer1K float64 `yaml:"output_per_1k"`
}

// Quota is a standard deployment quota.
type Quota struct {
	Subscription string `yaml:"subscription"`
	Region       string `yaml:"region"`
	Model        string `yaml:"model"`
	TPM          int    `yaml:"tpm"`
}

// PTUQuota is a provisioned quota, in units.
type PTUQuota struct {
	Subscription string `yaml:"subscription"`
	Region       string `yaml:"region"`
	PTU          int    `yaml:"ptu"`
}

// DefaultHoursPerMonth is 365 × 24 / 12.
const DefaultHoursPerMonth = 730

// namePattern is the gateway config's rule for names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Load reads and validates a workload file.
func Load(path string) (*Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes a workload, rejecting unknown fields, fills the PTU facts
// the workload leaves out, and validates every field at once.
func Parse(b []byte) (*Workload, error) {
	var w Workload
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse workload: %w", err)
	}
	if err := w.complete(); err != nil {
		return nil, err
	}
	return &w, nil
}

// complete fills defaults and validates.
func (w *Workload) complete() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if w.HoursPerMonth == 0 {
		w.HoursPerMonth = DefaultHoursPerMonth
	}
	if w.HoursPerMonth < 0 || w.HoursPerMonth > 744 {
		bad("hours_per_month: %v must be > 0 and at most 744 (31 days)", w.HoursPerMonth)
	}
	if len(w.Models) == 0 {
		bad("models: at least one model is required")
	}
	seen := map[string]bool{}
	for i := range w.Models {
		m := &w.Models[i]
		p := fmt.Sprintf("models[%d]", i)
		if !namePattern.MatchString(m.Name) {
			bad("%s.name: %q must match %s (it names the gateway's model)", p, m.Name, namePattern)
		} else if seen[m.Name] {
			bad("%s.name: %q is listed twice", p, m.Name)
		}
		seen[m.Name] = true
		if m.PeakTPM <= 0 {
			bad("%s.peak_tpm: must be > 0", p)
		}
		if m.AverageTPM <= 0 || m.AverageTPM > m.PeakTPM {
			bad("%s.average_tpm: %v must be > 0 and at most peak_tpm (%v)", p, m.AverageTPM, m.PeakTPM)
		}
		if m.PromptTokens <= 0 || m.CompletionTokens < 0 {
			bad("%s: prompt_tokens must be > 0 and completion_tokens >= 0", p)
		}
		if m.MaxTokens < 0 || m.PeakRPM < 0 {
			bad("%s: max_tokens and peak_rpm must be >= 0 (0: unknown, derived)", p)
		}
		if m.PeakRPM == 0 && m.PromptTokens+m.CompletionTokens > 0 {
			m.PeakRPM = m.PeakTPM / (m.PromptTokens + m.CompletionTokens)
		}
		if len(m.Regions) == 0 {
			bad("%s.regions: at least one region the model may be deployed in, preferred first", p)
		}
		for j, r := range m.Regions {
			if !namePattern.MatchString(r) {
				bad("%s.regions[%d]: %q is not a region name like eastus2", p, j, r)
			}
		}
		switch m.Latency {
		case "":
			m.Latency = Interactive
		case Strict, Interactive, Batch:
		default:
			bad("%s.latency: %q is not strict, interactive or batch", p, m.Latency)
		}
		switch m.PTUType {
		case "":
			m.PTUType = DataZone
		case Global, DataZone, Regional:
		default:
			bad("%s.ptu_type: %q is not global, data_zone or regional", p, m.PTUType)
		}
		def, known := DefaultFacts(m.Name, m.PTUType)
		m.PTU = overlay(def, m.PTU)
		if !known && (m.PTU.InputTPMPerPTU == 0 || m.PTU.OutputRatio == 0) {
			bad("%s.ptu: model %q is not in the published table: set input_tpm_per_ptu and output_ratio (minimum and increment too for a regional deployment)", p, m.Name)
		} else {
			errs = append(errs, m.PTU.validate(p+".ptu")...)
		}
		if m.Prices.PTUHourly <= 0 || m.Prices.InputPer1K <= 0 || m.Prices.OutputPer1K < 0 {
			bad("%s.prices: ptu_hourly and input_per_1k must be > 0, output_per_1k >= 0 (no price is built in)", p)
		}
	}
	for i, q := range w.Quotas {
		if !namePattern.MatchString(q.Subscription) || !namePattern.MatchString(q.Region) || !seen[q.Model] {
			bad("quotas[%d]: subscription and region (names) and a model of models[] are required", i)
		}
		if q.TPM <= 0 {
			bad("quotas[%d].tpm: must be > 0", i)
		}
	}
	for i, q := range w.PTUQuotas {
		if !namePattern.MatchString(q.Subscription) || !namePattern.MatchString(q.Region) || q.PTU <= 0 {
			bad("ptu_quotas[%d]: subscription and region (names) and ptu > 0 are required", i)
		}
	}
	return errors.Join(errs...)
}

// overlay returns def with the fields set in o replacing its own.
func overlay(def, o Facts) Facts {
	if o.InputTPMPerPTU != 0 {
		def.InputTPMPerPTU = o.InputTPMPerPTU
	}
	if o.OutputRatio != 0 {
		def.OutputRatio = o.OutputRatio
	}
	if o.Minimum != 0 {
		def.Minimum = o.Minimum
	}
	if o.Increment != 0 {
		def.Increment = o.Increment
	}
	return def
}
