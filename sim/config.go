package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Deployment kinds.
const (
	KindStandard    = "standard"
	KindProvisioned = "provisioned"
)

// Completion length modes.
const (
	CompletionFixed     = "fixed"
	CompletionMaxTokens = "max_tokens"
	CompletionRandom    = "random"
)

// Estimate rules for the token cost charged on arrival to a standard deployment.
const (
	EstimateMaxTokens           = "max_tokens"
	EstimatePromptPlusMaxTokens = "prompt_plus_max_tokens"
)

// Throttle header forms (see throttle.go for what each one sends).
const (
	HeadersRetryAfter    = "retry-after"
	HeadersRetryAfterMs  = "retry-after-ms"
	HeadersXMsRetryAfter = "x-ms-retry-after-ms"
	HeadersBoth          = "both"
	HeadersReset         = "reset"
	HeadersResetMisspelt = "reset-misspelt"
	HeadersNone          = "none"
	HeadersHuge          = "huge"
)

// Throttle message wordings.
const (
	MessageRateLimit  = "rate-limit"
	MessageShort      = "short"
	MessageHighDemand = "high-demand"
)

// Defaults applied by Parse before validation.
const (
	DefaultMaxBodyBytes        = 1 << 20
	DefaultContextWindow       = 128000
	DefaultCompletionTokens    = 20
	DefaultMissingMaxTokens    = 16
	DefaultEmbeddingDimensions = 16
)

// Config is the simulator's YAML file.
type Config struct {
	// Keys are the accepted api-key / Bearer values; empty (and no entra)
	// means no auth check.
	Keys []string `yaml:"keys"`
	// Entra accepts Microsoft Entra ID bearer tokens (see entra.go).
	Entra *Entra `yaml:"entra"`
	// TimeScale scales every window, the provisioned drain and the retry-after
	// values: 0.1 makes a "minute" last 6 s. Default 1.
	TimeScale float64 `yaml:"time_scale"`
	// MaxBodyBytes is the request body limit; larger bodies get 413. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Seed makes generated text, random lengths, probabilistic faults and ids repeatable.
	Seed        uint64       `yaml:"seed"`
	Deployments []Deployment `yaml:"deployments"`
}

// Deployment is one simulated Azure OpenAI deployment.
type Deployment struct {
	Name   string `yaml:"name"`
	Kind   string `yaml:"kind"`
	Model  string `yaml:"model"`
	Region string `yaml:"region"`

	// Standard: tokens per minute and requests per minute (default 6 per 1000 TPM).
	TPM int64 `yaml:"tpm"`
	RPM int64 `yaml:"rpm"`
	// Estimate is the arrival charge rule on standard deployments:
	// "max_tokens" (max_tokens, else MissingMaxTokens; the default) or
	// "prompt_plus_max_tokens". Provisioned deployments always charge prompt + max_tokens.
	Estimate string `yaml:"estimate"`

	// Provisioned: tokens per minute the utilization bucket drains (100 % = one minute's worth).
	CapacityTPM int64 `yaml:"capacity_tpm"`
	// Provisioned: how many input tokens one output token weighs in the
	// bucket (Azure's output-to-input ratio: 4 for gpt-4o, 8 for gpt-5).
	// Default 1: output counted as it is.
	OutputRatio float64 `yaml:"output_ratio"`

	// PromptCache is Azure's prompt caching (promptcache.go): on by default,
	// as on Azure for gpt-4o and newer models.
	PromptCache PromptCache `yaml:"prompt_cache"`

	// MissingMaxTokens is the max_tokens assumed when a request sets none. Default 16.
	MissingMaxTokens int64 `yaml:"missing_max_tokens"`
	// ContextWindow is the model's window in tokens. Default 128000.
	ContextWindow int64 `yaml:"context_window"`

	Latency    Latency    `yaml:"latency"`
	Completion Completion `yaml:"completion"`

	// ThrottleHeaders picks the 429 header form. Default "both".
	ThrottleHeaders string `yaml:"throttle_headers"`
	// ThrottleMessage picks the 429 body wording. Default "rate-limit".
	ThrottleMessage string `yaml:"throttle_message"`
	// ThrottleHeadersMissing is the share of 429s (0 to 1) sent with no
	// retry header at all, whatever throttle_headers says: only the message
	// says when to retry. Deterministic: 0.5 leaves out every second one.
	ThrottleHeadersMissing float64 `yaml:"throttle_headers_missing"`
	// NoRateLimitHeaders: a standard deployment sends no x-ratelimit-*
	// headers, as some standard deployments do not.
	NoRateLimitHeaders bool `yaml:"no_rate_limit_headers"`
	// NoUtilizationHeader: a provisioned deployment sends no
	// azure-openai-deployment-utilization header (it is undocumented).
	NoUtilizationHeader bool `yaml:"no_utilization_header"`

	// ContentFilterPhrase, when set, makes any prompt containing it (case-insensitive) a 400 content_filter.
	ContentFilterPhrase string `yaml:"content_filter_phrase"`
	// CompletionFilterPhrase, when set, makes the output filter stop the
	// completion of any prompt containing it: HTTP 200, finish_reason content_filter.
	CompletionFilterPhrase string `yaml:"completion_filter_phrase"`
	// AsyncContentFilter streams like Azure's asynchronous filter: content
	// deltas without filter results, and annotation-only events with
	// content_filter_results and content_filter_offsets.
	AsyncContentFilter bool `yaml:"async_content_filter"`
	// EmbeddingDimensions is the length of returned embedding vectors. Default 16.
	EmbeddingDimensions int `yaml:"embedding_dimensions"`

	Faults Faults `yaml:"faults"`

	// DisableLocalAuth refuses keys: only Entra ID tokens are accepted, as
	// on an Azure resource with disableLocalAuth set.
	DisableLocalAuth bool `yaml:"disable_local_auth"`

	// Keys are this deployment's own keys, as an Azure resource has its
	// own: they open this deployment and no other (top-level keys open
	// every deployment). Stored responses are found through them on the
	// /responses/{id} routes, which name no deployment.
	Keys []string `yaml:"keys"`
}

// PromptCache configures a deployment's prompt cache: prompts of at least
// 1,024 tokens whose prefix repeats a recent prompt's are partly served from
// it, in steps of 128 tokens, and report cached_tokens in their usage.
type PromptCache struct {
	// Disabled turns caching off: cached_tokens is always 0.
	Disabled bool `yaml:"disabled"`
	// TTLSeconds is how long a prefix stays cached after its last use, in
	// seconds scaled by time_scale. Default 300 (Azure: 5 to 10 minutes of
	// inactivity).
	TTLSeconds float64 `yaml:"ttl_s"`
}

// Latency is the response time model: time to first token, then output speed.
// It is wall-clock time and is not scaled by time_scale.
type Latency struct {
	FirstTokenMs    int64   `yaml:"first_token_ms"`
	TokensPerSecond float64 `yaml:"tokens_per_second"` // 0 = no per-token delay
}

// Completion decides how many tokens a response has.
type Completion struct {
	Mode   string `yaml:"mode"`   // fixed (default) | max_tokens | random
	Tokens int64  `yaml:"tokens"` // fixed; also the length when max_tokens mode gets no max_tokens
	Min    int64  `yaml:"min"`    // random
	Max    int64  `yaml:"max"`    // random
}

// Faults injects failures at random, drawn from the seeded source.
type Faults struct {
	Probability float64  `yaml:"probability"`
	Kinds       []string `yaml:"kinds"`
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sim config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (unknown fields are errors), applies defaults and
// validates everything at once.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse sim config: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Entra != nil && c.Entra.Audience == "" {
		c.Entra.Audience = DefaultEntraAudience
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	for i := range c.Deployments {
		d := &c.Deployments[i]
		if d.Model == "" {
			d.Model = d.Name
		}
		if d.Kind == KindStandard && d.RPM == 0 && d.TPM > 0 {
			d.RPM = max(1, d.TPM*6/1000)
		}
		if d.Estimate == "" {
			d.Estimate = EstimateMaxTokens
		}
		if d.MissingMaxTokens == 0 {
			d.MissingMaxTokens = DefaultMissingMaxTokens
		}
		if d.ContextWindow == 0 {
			d.ContextWindow = DefaultContextWindow
		}
		if d.Completion.Mode == "" {
			d.Completion.Mode = CompletionFixed
		}
		if d.Completion.Tokens == 0 {
			d.Completion.Tokens = DefaultCompletionTokens
		}
		if d.ThrottleHeaders == "" {
			d.ThrottleHeaders = HeadersBoth
		}
		if d.ThrottleMessage == "" {
			d.ThrottleMessage = MessageRateLimit
		}
		if d.EmbeddingDimensions == 0 {
			d.EmbeddingDimensions = DefaultEmbeddingDimensions
		}
		if d.PromptCache.TTLSeconds == 0 {
			d.PromptCache.TTLSeconds = defaultCacheTTL.Seconds()
		}
	}
}

// Validate reports every problem at once, each naming its field path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	if c.TimeScale <= 0 {
		bad("time_scale", "must be > 0 (1 = real time, 0.1 = a minute lasts 6 s)")
	}
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes", "must be > 0")
	}
	for i, k := range c.Keys {
		if k == "" {
			bad(fmt.Sprintf("keys[%d]", i), "must not be empty")
		}
	}
	if len(c.Deployments) == 0 {
		bad("deployments", "must list at least one deployment")
	}
	errs = append(errs, c.Entra.validate()...)
	seen := make(map[string]int)
	for i := range c.Deployments {
		d := &c.Deployments[i]
		p := fmt.Sprintf("deployments[%d]", i)
		switch {
		case d.Name == "":
			bad(p+".name", "must be set")
		case strings.ContainsAny(d.Name, "/?#% \t\r\n"):
			bad(p+".name", "%q must not contain '/', '?', '#', '%%' or spaces", d.Name)
		}
		if j, dup := seen[d.Name]; dup && d.Name != "" {
			bad(p+".name", "%q already used by deployments[%d]", d.Name, j)
		}
		seen[d.Name] = i
		for j, k := range d.Keys {
			if k == "" {
				bad(fmt.Sprintf("%s.keys[%d]", p, j), "must not be empty")
			}
		}
		switch d.Kind {
		case KindStandard:
			if d.TPM <= 0 {
				bad(p+".tpm", "must be > 0 for a standard deployment")
			}
			if d.RPM <= 0 && d.TPM > 0 {
				bad(p+".rpm", "must be > 0 (default 6 per 1000 tpm)")
			}
			if d.CapacityTPM != 0 {
				bad(p+".capacity_tpm", "only applies to provisioned deployments; use tpm")
			}
			if d.OutputRatio != 0 {
				bad(p+".output_ratio", "only applies to provisioned deployments")
			}
		case KindProvisioned:
			if d.CapacityTPM <= 0 {
				bad(p+".capacity_tpm", "must be > 0 for a provisioned deployment")
			}
			if d.OutputRatio != 0 && (d.OutputRatio < 1 || d.OutputRatio > 100) {
				bad(p+".output_ratio", "must be between 1 and 100 (0: 1)")
			}
			if d.TPM != 0 || d.RPM != 0 {
				bad(p+".tpm", "tpm and rpm only apply to standard deployments; use capacity_tpm")
			}
		default:
			bad(p+".kind", "%q must be %q or %q", d.Kind, KindStandard, KindProvisioned)
		}
		if d.Estimate != EstimateMaxTokens && d.Estimate != EstimatePromptPlusMaxTokens {
			bad(p+".estimate", "%q must be %q or %q", d.Estimate, EstimateMaxTokens, EstimatePromptPlusMaxTokens)
		}
		if d.MissingMaxTokens < 0 {
			bad(p+".missing_max_tokens", "must be > 0")
		}
		if d.PromptCache.TTLSeconds < 0 {
			bad(p+".prompt_cache.ttl_s", "must be > 0 (default 300)")
		}
		if d.ContextWindow < 0 {
			bad(p+".context_window", "must be > 0")
		}
		if d.Latency.FirstTokenMs < 0 {
			bad(p+".latency.first_token_ms", "must be >= 0")
		}
		if d.Latency.TokensPerSecond < 0 {
			bad(p+".latency.tokens_per_second", "must be >= 0 (0 = no per-token delay)")
		}
		cm := d.Completion
		switch cm.Mode {
		case CompletionFixed, CompletionMaxTokens:
			if cm.Tokens < 0 {
				bad(p+".completion.tokens", "must be > 0")
			}
		case CompletionRandom:
			if cm.Min < 1 || cm.Max < cm.Min {
				bad(p+".completion", "random mode needs 1 <= min <= max (got min %d, max %d)", cm.Min, cm.Max)
			}
		default:
			bad(p+".completion.mode", "%q must be %q, %q or %q", cm.Mode, CompletionFixed, CompletionMaxTokens, CompletionRandom)
		}
		switch d.ThrottleHeaders {
		case HeadersRetryAfter, HeadersRetryAfterMs, HeadersXMsRetryAfter, HeadersBoth, HeadersReset, HeadersResetMisspelt, HeadersNone, HeadersHuge:
		default:
			bad(p+".throttle_headers", "%q must be one of retry-after, retry-after-ms, x-ms-retry-after-ms, both, reset, reset-misspelt, none, huge", d.ThrottleHeaders)
		}
		switch d.ThrottleMessage {
		case MessageRateLimit, MessageShort, MessageHighDemand:
		default:
			bad(p+".throttle_message", "%q must be one of rate-limit, short, high-demand", d.ThrottleMessage)
		}
		if d.ThrottleHeadersMissing < 0 || d.ThrottleHeadersMissing > 1 {
			bad(p+".throttle_headers_missing", "must be between 0 and 1 (the share of 429s with no retry header)")
		}
		if d.NoRateLimitHeaders && d.Kind != KindStandard {
			bad(p+".no_rate_limit_headers", "only applies to standard deployments (provisioned ones send none)")
		}
		if d.NoUtilizationHeader && d.Kind != KindProvisioned {
			bad(p+".no_utilization_header", "only applies to provisioned deployments")
		}
		if d.EmbeddingDimensions < 0 || d.EmbeddingDimensions > 4096 {
			bad(p+".embedding_dimensions", "must be between 1 and 4096")
		}
		if d.DisableLocalAuth && c.Entra == nil {
			bad(p+".disable_local_auth", "needs entra: with keys refused only tokens can be accepted")
		}
		if d.Faults.Probability < 0 || d.Faults.Probability > 1 {
			bad(p+".faults.probability", "must be between 0 and 1")
		}
		if d.Faults.Probability > 0 && len(d.Faults.Kinds) == 0 {
			bad(p+".faults.kinds", "must list at least one fault when probability > 0")
		}
		for j, k := range d.Faults.Kinds {
			if _, err := parseFaultKind(k); err != nil {
				bad(fmt.Sprintf("%s.faults.kinds[%d]", p, j), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// requestLimit10s is the request budget of a standard deployment's 10-second window.
func (d *Deployment) requestLimit10s() int64 { return max(1, d.RPM/6) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
