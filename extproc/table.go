package extproc

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/tokens"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/xds"
)

// Table is the routing state built from one config. A reload builds a new
// Table and swaps it in atomically; requests in flight keep the one they
// started with.
type Table struct {
	models    map[string]*Model
	backends  map[string]*Backend
	consumers []consumerKey
	// entraConsumers map validated client tokens to consumers, in config
	// order; verifier checks the tokens (nil: tokens are not accepted).
	entraConsumers []entraConsumer
	verifier       TokenVerifier
	audience       string
	// authRequired: consumers are configured, so a client must be one.
	authRequired bool
	bodyLimit    int64
	routing      config.Routing
	maxWait      time.Duration
	// capacityOptions tune the capacity model (kept across reloads).
	capacityOptions capacity.Options
	// specs are the backends as the capacity model sees them.
	specs []capacity.BackendSpec
	// limits are the limited consumers' rules, by consumer; limitHeaders
	// name the headers that report them.
	limits       map[string]*consumerLimits
	limitHeaders config.LimitHeaders
	// policies are the consumers' priorities and backend restrictions, by
	// consumer (absent: standard, every backend).
	policies map[string]*consumerPolicy
}

// Model is a model clients may ask for.
type Model struct {
	Name          string
	ContextWindow int
	// Order is the static order its backends are tried in.
	Order []*Backend
	// MaxAttempts bounds the attempts of one request (the route's retries + 1).
	MaxAttempts int
	// Tokens counts this model's requests.
	Tokens *tokens.Model
	// names are the backend names in static order, the capacity model's candidates.
	names []string
	// StreamUsage is true when every backend's api-version accepts
	// stream_options (2024-09-01-preview and later); only then does
	// spillway ask for usage on a client's behalf.
	StreamUsage bool
}

// streamOptionsSince is the first api-version accepting stream_options.
const streamOptionsSince = "2024-09-01"

func acceptsStreamOptions(apiVersion string) bool {
	return len(apiVersion) >= len(streamOptionsSince) && apiVersion[:len(streamOptionsSince)] >= streamOptionsSince
}

// Backend is one deployment with everything needed to call it.
type Backend struct {
	Name       string
	Model      string
	Tier       config.Kind
	Deployment string
	APIVersion string
	Region     string
	apiKey     string // never logged
	// entra: the backend is called with an Entra ID token, not apiKey.
	entra bool
}

type consumerKey struct {
	name string
	key  []byte
}

// NewTable resolves secrets and builds the routing state for cfg.
// dir resolves relative secret files.
func NewTable(cfg *config.Config, dir string) (*Table, error) {
	t := &Table{
		models:       map[string]*Model{},
		backends:     map[string]*Backend{},
		bodyLimit:    cfg.Gateway.BodyLimitBytes,
		routing:      cfg.Routing,
		maxWait:      cfg.Capacity.MaxWait.D(),
		specs:        capacitySpecs(cfg),
		limits:       newConsumerLimits(cfg),
		limitHeaders: cfg.Limits.Headers,
		capacityOptions: capacity.Options{
			MaxCooldown:     cfg.Capacity.MaxCooldown.D(),
			DefaultCooldown: cfg.Capacity.DefaultCooldown.D(),
			MaxWait:         cfg.Capacity.MaxWait.D(),
		},
	}
	overrides := map[string]string{}
	for _, m := range cfg.Models {
		if m.Encoding != "" {
			overrides[m.Name] = m.Encoding
		}
	}
	counting, err := tokens.NewTable(overrides)
	if err != nil {
		return nil, err
	}
	t.authRequired = len(cfg.Consumers) > 0
	for i, c := range cfg.Consumers {
		if !c.Entra.IsZero() {
			t.entraConsumers = append(t.entraConsumers, entraConsumer{name: c.Name, id: c.Entra})
		}
		if c.APIKey.IsZero() {
			continue
		}
		key, err := c.APIKey.Resolve(dir)
		if err != nil {
			return nil, fmt.Errorf("consumers[%d].api_key: %w", i, err)
		}
		t.consumers = append(t.consumers, consumerKey{name: c.Name, key: []byte(key)})
	}
	for i := range cfg.Models {
		m := &cfg.Models[i]
		tm, err := counting.Lookup(m.Name)
		if err != nil {
			return nil, fmt.Errorf("models[%d]: %w", i, err)
		}
		mr := &Model{Name: m.Name, ContextWindow: m.ContextWindow, MaxAttempts: xds.MaxAttempts(cfg, m), StreamUsage: true, Tokens: tm}
		for _, b := range m.StaticOrder() {
			key, err := b.Auth.APIKey.Resolve(dir)
			if err != nil {
				return nil, fmt.Errorf("backend %s: auth.api_key: %w", b.Name, err)
			}
			br := &Backend{
				Name:       b.Name,
				Model:      m.Name,
				Tier:       b.Kind,
				Deployment: b.Deployment,
				APIVersion: b.APIVersion,
				Region:     b.Region,
				apiKey:     key,
				entra:      b.Auth.Entra != nil,
			}
			t.backends[b.Name] = br
			mr.StreamUsage = mr.StreamUsage && acceptsStreamOptions(b.APIVersion)
			mr.Order = append(mr.Order, br)
			mr.names = append(mr.names, br.Name)
		}
		t.models[m.Name] = mr
	}
	t.policies = newConsumerPolicies(cfg, t.models)
	return t, nil
}

// consumer returns the consumer whose key is key. With no consumers
// configured every client is accepted as "anonymous".
func (t *Table) consumer(key string) (string, bool) {
	if !t.authRequired {
		return "anonymous", true
	}
	found := ""
	for _, c := range t.consumers {
		// Compare every key in constant time so timing reveals nothing.
		if subtle.ConstantTimeCompare(c.key, []byte(key)) == 1 {
			found = c.name
		}
	}
	return found, found != ""
}

// Retain copies into t the backends of prev that t no longer has. Envoy
// learns of a removed backend a moment after spillway does; an attempt
// already sent to it must still be rewritten correctly, so a reload keeps
// the old definitions reachable by name (never by routing).
func (t *Table) Retain(prev *Table) {
	if prev == nil {
		return
	}
	for name, b := range prev.backends {
		if _, ok := t.backends[name]; !ok {
			t.backends[name] = b
		}
	}
}

// Current returns the table in use.
func (s *Server) Current() *Table { return s.table.Load() }

func (m *Model) hasPTU() bool {
	for _, b := range m.Order {
		if b.Tier == config.PTU {
			return true
		}
	}
	return false
}

// Backend returns the backend named name, or nil.
func (t *Table) Backend(name string) *Backend { return t.backends[name] }
