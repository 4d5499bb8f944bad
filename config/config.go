package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/spillway-gw/spillway/azure"
)

// Config is the whole gateway configuration file.
type Config struct {
	// Gateway is what Envoy serves to clients.
	Gateway Gateway `yaml:"gateway"`
	// Control is where spillway itself listens.
	Control Control `yaml:"control"`
	// Consumers are the clients the gateway accepts, by key or by Microsoft
	// Entra ID token. Empty: no client auth.
	Consumers []Consumer `yaml:"consumers"`
	// ClientAuth validates Microsoft Entra ID tokens clients present.
	ClientAuth ClientAuth `yaml:"client_auth"`
	// Models are the names clients use, each served by a pool of backends.
	Models []Model `yaml:"models"`
	// Retry is how Envoy retries an attempt on the next backend.
	Retry Retry `yaml:"retry"`
	// Quotas are the Azure quotas the backends' TPM must fit in.
	Quotas []Quota `yaml:"quotas"`
	// Routing is how backends are chosen: capacity (spillway's model of
	// each backend's remaining capacity) or reactive (static order, retry
	// on 429: what other gateways do, kept to measure the difference).
	Routing Routing `yaml:"routing"`
	// Capacity tunes the capacity model (routing: capacity).
	Capacity Capacity `yaml:"capacity"`
	// Tracing configures Envoy's spans; spillway's own spans and metrics
	// follow the standard OTEL_* environment variables.
	Tracing Tracing `yaml:"tracing"`
	// State says where the capacity model keeps its state: in this process,
	// or in Redis shared by several replicas.
	State State `yaml:"state"`
	// Limits are settings shared by the consumers' limits.
	Limits Limits `yaml:"limits"`
	// Priorities say how much of each PTU lower-priority consumers leave
	// to higher ones.
	Priorities Priorities `yaml:"priorities"`
}

// StoreKind is where the capacity state lives.
type StoreKind string

const (
	// StoreMemory keeps the state in the process: one replica.
	StoreMemory StoreKind = "memory"
	// StoreRedis keeps it in Redis, shared by every replica.
	StoreRedis StoreKind = "redis"
)

// State configures the capacity state store. It is read when spillway
// starts; a reload that changes it is logged and applies at the next start.
type State struct {
	// Store is memory (the default, one replica) or redis.
	Store StoreKind `yaml:"store"`
	Redis Redis     `yaml:"redis"`
	// Replicas is how many replicas share the state. While Redis fails, a
	// replica serves from its own model with 1/Replicas of every backend,
	// so that the replicas together stay within the backends' limits.
	Replicas int `yaml:"replicas"`
}

// Redis is how to reach the Redis server (or Redis-compatible service).
type Redis struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Username and Password authenticate (ACL or requirepass); the password
	// comes from the environment or a file, like every secret.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// TLS connects with TLS, verifying the server against CAFile (the
	// system roots when empty) and ServerName (the address's host when
	// empty).
	TLS        bool   `yaml:"tls"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// KeyPrefix starts every key spillway writes ("spillway:"). On a Redis
	// Cluster, use a hash tag: "{spillway}:".
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout bounds connecting; Timeout bounds one operation, after
	// which the replica serves from its local share (defaults 1s, 50ms).
	DialTimeout Duration `yaml:"dial_timeout"`
	Timeout     Duration `yaml:"timeout"`
}

// Defaults of the state store.
const (
	DefaultRedisKeyPrefix   = "spillway:"
	DefaultRedisDialTimeout = Duration(time.Second)
	DefaultRedisTimeout     = Duration(50 * time.Millisecond)
)

// Tracing configures Envoy's OpenTelemetry tracer.
type Tracing struct {
	// OTLPGRPC is the host:port of an OTLP/gRPC collector Envoy sends its
	// spans to. Empty: Envoy does not trace (spillway still joins the
	// client's traceparent).
	OTLPGRPC string `yaml:"otlp_grpc"`
	// SamplingPercent of requests Envoy starts a trace for when the client
	// sent none. Default 100.
	SamplingPercent *float64 `yaml:"sampling_percent"`
	// RecordContent puts prompt and completion text on spillway's spans.
	// Off by default: prompts are often confidential.
	RecordContent bool `yaml:"record_content"`
}

// Sampling returns the sampling percentage, 100 when unset.
func (t Tracing) Sampling() float64 {
	if t.SamplingPercent == nil {
		return 100
	}
	return *t.SamplingPercent
}

// Routing is a backend selection mode.
type Routing string

const (
	// RoutingCapacity sends each request to a backend that can take it now.
	RoutingCapacity Routing = "capacity"
	// RoutingReactive tries backends in static order and spills on 429.
	RoutingReactive Routing = "reactive"
)

// Capacity tunes the capacity model.
type Capacity struct {
	// TokenWindow is the length of Azure's token budget window (1m); tests
	// and simulations with a time-scaled simulator shorten it.
	TokenWindow Duration `yaml:"token_window"`
	// RequestWindow is the length of Azure's request window (10s).
	RequestWindow Duration `yaml:"request_window"`
	// MaxCooldown clamps a retry-after a backend sends (Azure can say 86400 s).
	MaxCooldown Duration `yaml:"max_cooldown"`
	// MaxWait bounds how long a request is held when no backend has room
	// before it is answered 429.
	MaxWait Duration `yaml:"max_wait"`
	// DefaultCooldown is the cooldown after a 429 that does not say when to
	// come back; it doubles with each such 429 in a row, up to MaxCooldown.
	DefaultCooldown Duration `yaml:"default_cooldown"`
}

// Gateway configures the Envoy listener clients call.
type Gateway struct {
	// Listen is the address Envoy listens on, host:port.
	Listen string `yaml:"listen"`
	// BodyLimitBytes bounds a request body; larger bodies are answered 413.
	// It also sizes Envoy's retry buffer so big prompts are retried, not dropped.
	BodyLimitBytes int64 `yaml:"body_limit_bytes"`
	// RequestTimeout bounds a whole request, every attempt and backoff included.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// Control configures spillway's own listeners.
type Control struct {
	// GRPCListen serves ext_proc and xDS (ADS) to Envoy.
	GRPCListen string `yaml:"grpc_listen"`
	// AdminListen serves health and metrics over HTTP.
	AdminListen string `yaml:"admin_listen"`
	// NodeID is the Envoy node id the xDS snapshot is served to.
	NodeID string `yaml:"node_id"`
	// MessageTimeout is Envoy's per-message ext_proc timeout.
	MessageTimeout Duration `yaml:"message_timeout"`
	// TLS, when set, serves GRPCListen over TLS (mutual TLS with a client CA).
	TLS *ControlTLS `yaml:"tls"`
}

// Consumer is one client identity: its key, the Entra ID token claims that
// identify it, or both.
type Consumer struct {
	Name   string `yaml:"name"`
	APIKey Secret `yaml:"api_key"`
	// Entra maps a validated Entra ID token to this consumer.
	Entra ConsumerEntra `yaml:"entra"`
	// Limits are the consumer's token and request rates and quotas; nil:
	// unlimited.
	Limits *ConsumerLimits `yaml:"limits"`
	// Priority is interactive, standard (the default) or batch: a lower
	// priority leaves PTU headroom to the higher (Priorities).
	Priority string `yaml:"priority"`
	// Spill is allow (the default: requests may go to TPM backends) or
	// never (PTU only: a request waits for PTU room, or is answered 429).
	Spill string `yaml:"spill"`
	// Regions, when set, are the only backend regions that may serve the
	// consumer (data residency).
	Regions []string `yaml:"regions"`
}

// Model is a model name clients use and the pool that serves it.
type Model struct {
	Name string `yaml:"name"`
	// Encoding overrides the tokenizer chosen from the model name.
	Encoding string `yaml:"encoding"`
	// ContextWindow is the model's maximum prompt + completion tokens. 0: unchecked.
	ContextWindow int       `yaml:"context_window"`
	Backends      []Backend `yaml:"backends"`
}

// Kind is a backend's deployment type.
type Kind string

const (
	// PTU is a provisioned deployment: paid per hour, used first.
	PTU Kind = "ptu"
	// TPM is a standard pay-as-you-go deployment: used when the PTU cannot serve.
	TPM Kind = "tpm"
)

// Backend is one Azure OpenAI deployment.
type Backend struct {
	Name string `yaml:"name"`
	Kind Kind   `yaml:"kind"`
	// Endpoint is the resource's base URL, e.g. https://myres.openai.azure.com.
	Endpoint     string `yaml:"endpoint"`
	Deployment   string `yaml:"deployment"`
	APIVersion   string `yaml:"api_version"`
	Auth         Auth   `yaml:"auth"`
	Region       string `yaml:"region"`
	Subscription string `yaml:"subscription"`
	// TPM and RPM are a standard deployment's limits.
	TPM int `yaml:"tpm"`
	RPM int `yaml:"rpm"`
	// CapacityTPM is a provisioned deployment's throughput in (normalized)
	// tokens per minute. Set it, or PTUUnits.
	CapacityTPM int `yaml:"capacity_tpm"`
	// PTUUnits is a provisioned deployment's size in PTUs: its capacity is
	// PTUUnits × the model's input TPM per PTU. DeploymentType (global, the
	// default, data_zone or regional) sets the minimum and increment the
	// units are bought in.
	PTUUnits       int    `yaml:"ptu_units"`
	DeploymentType string `yaml:"deployment_type"`
	// InputTPMPerPTU and OutputRatio override the model's published figures
	// (azure.PTUFigures): a model the table lacks needs them.
	InputTPMPerPTU int     `yaml:"input_tpm_per_ptu"`
	OutputRatio    float64 `yaml:"output_ratio"`
	// Priority orders backends: lower is tried first. PTUs always precede TPMs.
	Priority int `yaml:"priority"`
	// Weight breaks ties within a priority: higher is tried first.
	Weight int `yaml:"weight"`
}

// Auth is how spillway authenticates to a backend: an api-key or a
// Microsoft Entra ID token, never both.
type Auth struct {
	APIKey Secret `yaml:"api_key"`
	// Entra gets bearer tokens from Microsoft Entra ID (see entra.go).
	Entra *EntraCredential `yaml:"entra"`
}

// Secret is a value read from an environment variable or a file, never
// written in the config itself, never logged and never sent to a client.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// UnmarshalYAML accepts only {env: NAME} and {file: PATH}. A key written
// inline is refused with an error that does not repeat it: the decoder's own
// type error would quote the first characters of the value, and config
// errors are printed and logged.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a secret is {env: VARIABLE} or {file: PATH}, never the key itself", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "env" && k.Value != "file" {
			return fmt.Errorf("line %d: field %s not found in a secret: use env or file", k.Line, k.Value)
		}
	}
	type plain Secret
	var p plain
	if err := n.Decode(&p); err != nil {
		return fmt.Errorf("line %d: a secret's env and file are strings", n.Line)
	}
	*s = Secret(p)
	return nil
}

// IsZero reports whether no source is set.
func (s Secret) IsZero() bool { return s.Env == "" && s.File == "" }

// Resolve reads the secret's value. dir resolves a relative file path.
func (s Secret) Resolve(dir string) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", fmt.Errorf("set env or file, not both")
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		p := s.File
		if !strings.HasPrefix(p, "/") && dir != "" {
			p = dir + "/" + p
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", s.File, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("file %s is empty", s.File)
		}
		return v, nil
	default:
		return "", nil
	}
}

// String never reveals the value.
func (s Secret) String() string {
	if s.Env != "" {
		return "env:" + s.Env
	}
	if s.File != "" {
		return "file:" + s.File
	}
	return "none"
}

// Retry is the retry policy Envoy applies across backends.
type Retry struct {
	// StatusCodes are the upstream statuses retried on the next backend.
	StatusCodes []int `yaml:"status_codes"`
	// Attempts bounds the attempts per request, the first included.
	// 0: one attempt per backend of the pool.
	Attempts      int      `yaml:"attempts"`
	BackoffBase   Duration `yaml:"backoff_base"`
	BackoffMax    Duration `yaml:"backoff_max"`
	PerTryTimeout Duration `yaml:"per_try_timeout"`
}

// Quota is an Azure quota: the TPM all standard deployments of Model in
// Subscription and Region may add up to.
type Quota struct {
	Subscription string `yaml:"subscription"`
	Region       string `yaml:"region"`
	Model        string `yaml:"model"`
	TPM          int    `yaml:"tpm"`
}

// Duration is a time.Duration written as "250ms" or "2m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 250ms or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults used when a field is left out.
const (
	DefaultBodyLimit      = 8 << 20
	DefaultRequestTimeout = Duration(5 * time.Minute)
	DefaultMessageTimeout = Duration(5 * time.Second)
	DefaultBackoffBase    = Duration(25 * time.Millisecond)
	DefaultBackoffMax     = Duration(250 * time.Millisecond)
	DefaultPerTryTimeout  = Duration(2 * time.Minute)
	DefaultNodeID         = "spillway"
	DefaultAdminListen    = "127.0.0.1:9464"
	DefaultGRPCListen     = "127.0.0.1:18000"
)

// DefaultRetryStatusCodes are retried unless the config says otherwise:
// throttles (429, and 424 from old API versions), timeouts and server errors.
// 400 is never retried: the next backend would refuse the same request.
var DefaultRetryStatusCodes = []int{429, 424, 408, 500, 502, 503, 504}

// Parse decodes a config, rejecting unknown fields, and applies defaults.
// It does not validate; call Validate.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is an empty config: validation then names what is missing.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	c.applyDefaults()
	return &c, nil
}

// Load reads, parses and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(dirOf(path)); err != nil {
		return nil, err
	}
	return c, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return "."
}

func (c *Config) applyDefaults() {
	if c.Gateway.BodyLimitBytes == 0 {
		c.Gateway.BodyLimitBytes = DefaultBodyLimit
	}
	if c.Gateway.RequestTimeout == 0 {
		c.Gateway.RequestTimeout = DefaultRequestTimeout
	}
	if c.Control.GRPCListen == "" {
		c.Control.GRPCListen = DefaultGRPCListen
	}
	if c.Control.AdminListen == "" {
		c.Control.AdminListen = DefaultAdminListen
	}
	if c.Control.NodeID == "" {
		c.Control.NodeID = DefaultNodeID
	}
	if c.Control.MessageTimeout == 0 {
		c.Control.MessageTimeout = DefaultMessageTimeout
	}
	if c.Routing == "" {
		c.Routing = RoutingCapacity
	}
	if c.State.Store == "" {
		c.State.Store = StoreMemory
	}
	if c.State.Replicas == 0 {
		c.State.Replicas = 1
	}
	if c.State.Redis.KeyPrefix == "" {
		c.State.Redis.KeyPrefix = DefaultRedisKeyPrefix
	}
	if c.State.Redis.DialTimeout == 0 {
		c.State.Redis.DialTimeout = DefaultRedisDialTimeout
	}
	if c.State.Redis.Timeout == 0 {
		c.State.Redis.Timeout = DefaultRedisTimeout
	}
	if c.Capacity.TokenWindow == 0 {
		c.Capacity.TokenWindow = Duration(time.Minute)
	}
	if c.Capacity.RequestWindow == 0 {
		c.Capacity.RequestWindow = Duration(10 * time.Second)
	}
	if c.Capacity.MaxCooldown == 0 {
		c.Capacity.MaxCooldown = Duration(time.Minute)
	}
	if c.Capacity.MaxWait == 0 {
		c.Capacity.MaxWait = Duration(time.Second)
	}
	if c.Capacity.DefaultCooldown == 0 {
		c.Capacity.DefaultCooldown = Duration(min(time.Second, max(0, c.Capacity.MaxCooldown.D())))
	}
	c.ClientAuth.applyDefaults()
	c.limitsDefaults()
	if c.Retry.StatusCodes == nil {
		c.Retry.StatusCodes = append([]int(nil), DefaultRetryStatusCodes...)
	}
	if c.Retry.BackoffBase == 0 {
		c.Retry.BackoffBase = DefaultBackoffBase
	}
	if c.Retry.BackoffMax == 0 {
		c.Retry.BackoffMax = DefaultBackoffMax
	}
	if c.Retry.PerTryTimeout == 0 {
		c.Retry.PerTryTimeout = DefaultPerTryTimeout
	}
	for i := range c.Models {
		for j := range c.Models[i].Backends {
			b := &c.Models[i].Backends[j]
			if b.Weight == 0 {
				b.Weight = 1
			}
			if e := b.Auth.Entra; e != nil && e.Scope == "" {
				e.Scope = DefaultEntraScope
			}
			if b.Kind == TPM && b.RPM == 0 && b.TPM > 0 {
				b.RPM = b.TPM * 6 / 1000 // Azure's ratio for most chat models
			}
		}
	}
}

// Model returns the model named name, or nil.
func (c *Config) Model(name string) *Model {
	for i := range c.Models {
		if c.Models[i].Name == name {
			return &c.Models[i]
		}
	}
	return nil
}

// URL is a parsed backend endpoint.
type URL struct {
	TLS  bool
	Host string // host name or IP, no port
	Port uint32
}

// ParseEndpoint splits a backend endpoint URL into what Envoy needs.
func ParseEndpoint(endpoint string) (URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return URL{}, err
	}
	var out URL
	switch u.Scheme {
	case "https":
		out.TLS, out.Port = true, 443
	case "http":
		out.Port = 80
	default:
		return URL{}, fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return URL{}, fmt.Errorf("must be the resource's base URL without a path, got path %q", u.Path)
	}
	out.Host = u.Hostname()
	if out.Host == "" {
		return URL{}, fmt.Errorf("has no host")
	}
	if p := u.Port(); p != "" {
		var n uint32
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n == 0 || n > 65535 {
			return URL{}, fmt.Errorf("port %q is not valid", p)
		}
		out.Port = n
	}
	return out, nil
}

// PTUFigures are the figures a ptu backend of model is measured by: the
// published ones for the model and deployment type, overridden by the
// backend's input_tpm_per_ptu and output_ratio. published is false when the
// table lacks the model (or the type): the minimum and increment are then
// unknown.
func (b *Backend) PTUFigures(model string) (f azure.PTU, published bool) {
	f, published = azure.PTUFigures(model, b.DeploymentType)
	if b.InputTPMPerPTU > 0 {
		f.InputTPMPerPTU = b.InputTPMPerPTU
	}
	if b.OutputRatio > 0 {
		f.OutputRatio = b.OutputRatio
	}
	return f, published
}

// PTUCapacity is a ptu backend's capacity in normalized tokens per minute:
// capacity_tpm if set, else ptu_units × input TPM per PTU.
func (b *Backend) PTUCapacity(model string) int {
	if b.CapacityTPM > 0 {
		return b.CapacityTPM
	}
	f, _ := b.PTUFigures(model)
	return b.PTUUnits * f.InputTPMPerPTU
}

// PTUOutputRatio is how many input tokens one output token weighs on a ptu
// backend of model: output_ratio, else the model's published ratio, else 1.
func (b *Backend) PTUOutputRatio(model string) float64 {
	if f, _ := b.PTUFigures(model); f.OutputRatio > 0 {
		return f.OutputRatio
	}
	return 1
}
