package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"

	"github.com/spillway-gw/spillway/azure"
)

// FieldError is one problem in a config file, at a field path such as
// models[0].backends[2].tpm.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Limits Azure enforces per subscription and region.
const (
	MaxResourcesPerSubscriptionRegion = 30
)

// MaxBodyLimit bounds gateway.body_limit_bytes: Envoy's buffer limits are
// 32-bit and must hold twice the body (the ext_proc copy and the retry copy).
const MaxBodyLimit = 1 << 30

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks the whole config and returns every problem at once, joined
// with errors.Join; each is a *FieldError. dir resolves relative secret files.
func (c *Config) Validate(dir string) error {
	v := &validator{}
	if v.hostPort("gateway.listen", c.Gateway.Listen, true) {
		// Envoy binds listeners to IP addresses only: a host name or an
		// empty host is refused by Envoy, not by spillway, if let through.
		if host, _, _ := net.SplitHostPort(c.Gateway.Listen); net.ParseIP(host) == nil {
			v.add("gateway.listen", "%q: Envoy listens on an IP address, not a host name, e.g. 0.0.0.0:10000 or 127.0.0.1:10000", c.Gateway.Listen)
		}
	}
	v.hostPort("control.grpc_listen", c.Control.GRPCListen, true)
	v.hostPort("control.admin_listen", c.Control.AdminListen, true)
	c.Control.TLS.validate(v, dir)
	if c.Gateway.BodyLimitBytes < 1024 {
		v.add("gateway.body_limit_bytes", "must be at least 1024 (a chat request needs more)")
	} else if c.Gateway.BodyLimitBytes > MaxBodyLimit {
		v.add("gateway.body_limit_bytes", "must be at most %d (1 GiB): Envoy buffers twice the body in 32-bit limits", MaxBodyLimit)
	}
	if c.Gateway.RequestTimeout.D() <= 0 {
		v.add("gateway.request_timeout", "must be > 0")
	}
	if c.Control.MessageTimeout.D() <= 0 {
		v.add("control.message_timeout", "must be > 0")
	}
	switch c.Routing {
	case RoutingCapacity, RoutingReactive:
	default:
		v.add("routing", "%q is not a routing mode: use capacity or reactive", c.Routing)
	}
	if c.Capacity.TokenWindow.D() <= 0 || c.Capacity.RequestWindow.D() <= 0 {
		v.add("capacity", "token_window and request_window must be > 0")
	}
	if c.Capacity.MaxCooldown.D() <= 0 {
		v.add("capacity.max_cooldown", "must be > 0")
	}
	if d := c.Capacity.DefaultCooldown.D(); d < 0 || c.Capacity.MaxCooldown.D() > 0 && d > c.Capacity.MaxCooldown.D() {
		v.add("capacity.default_cooldown", "must be >= 0 (0 takes the default, 1s) and at most max_cooldown")
	}
	if c.Capacity.MaxWait.D() < 0 {
		v.add("capacity.max_wait", "must be >= 0 (0 takes the default, 1s)")
	}
	if mt := c.Control.MessageTimeout.D(); mt > 0 && c.Capacity.MaxWait.D() >= mt {
		v.add("capacity.max_wait", "must be shorter than control.message_timeout (%v): Envoy gives up on spillway after that", c.Control.MessageTimeout.D())
	}
	v.hostPort("tracing.otlp_grpc", c.Tracing.OTLPGRPC, false)
	if sp := c.Tracing.Sampling(); sp < 0 || sp > 100 {
		v.add("tracing.sampling_percent", "must be between 0 and 100")
	}
	c.validateState(v, dir)
	c.validateConsumers(v, dir)
	c.validateLimits(v)
	c.validatePriorities(v)
	c.validateClientAuth(v)
	c.validateModels(v, dir)
	c.validateRetry(v)
	c.validateQuotas(v)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// hostPort reports whether addr is a host:port with a numeric port in 1-65535.
func (v *validator) hostPort(path, addr string, required bool) bool {
	if addr == "" {
		if required {
			v.add(path, "is required, e.g. 127.0.0.1:10000")
		}
		return false
	}
	_, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		v.add(path, "%q is not host:port with a fixed port, e.g. 127.0.0.1:10000", addr)
		return false
	}
	return true
}

func (v *validator) name(path, name string) {
	switch {
	case name == "":
		v.add(path, "is required")
	case !namePattern.MatchString(name):
		v.add(path, "%q may hold only letters, digits, '.', '_' and '-'", name)
	}
}

func (v *validator) secret(path string, s Secret, dir string, required bool) {
	if s.IsZero() {
		if required {
			v.add(path, "is required: set env (an environment variable) or file (a file holding the key)")
		}
		return
	}
	if _, err := s.Resolve(dir); err != nil {
		v.add(path, "%v", err)
	}
}

func (c *Config) validateConsumers(v *validator, dir string) {
	seen := map[string]bool{}
	for i, cons := range c.Consumers {
		p := fmt.Sprintf("consumers[%d]", i)
		v.name(p+".name", cons.Name)
		if seen[cons.Name] && cons.Name != "" {
			v.add(p+".name", "%q is used twice", cons.Name)
		}
		seen[cons.Name] = true
		if cons.APIKey.IsZero() && cons.Entra.IsZero() {
			v.add(p, "needs api_key (env or file), entra (the token claims that identify it), or both")
		}
		v.secret(p+".api_key", cons.APIKey, dir, false)
	}
}

func (c *Config) validateModels(v *validator, dir string) {
	if len(c.Models) == 0 {
		v.add("models", "at least one model is required")
	}
	models := map[string]bool{}
	backends := map[string]string{}
	for i, m := range c.Models {
		p := fmt.Sprintf("models[%d]", i)
		v.name(p+".name", m.Name)
		if models[m.Name] && m.Name != "" {
			v.add(p+".name", "%q is used twice", m.Name)
		}
		models[m.Name] = true
		if m.Encoding != "" && m.Encoding != "o200k_base" && m.Encoding != "cl100k_base" {
			v.add(p+".encoding", "%q is not known: use o200k_base or cl100k_base, or leave it out", m.Encoding)
		}
		if m.ContextWindow < 0 {
			v.add(p+".context_window", "must be >= 0 (0 turns the check off)")
		}
		if len(m.Backends) == 0 {
			v.add(p+".backends", "at least one backend is required")
		}
		for j, b := range m.Backends {
			bp := fmt.Sprintf("%s.backends[%d]", p, j)
			if prev, dup := backends[b.Name]; dup && b.Name != "" {
				v.add(bp+".name", "%q is already used at %s: backend names are unique across models", b.Name, prev)
			} else {
				backends[b.Name] = bp
			}
			b.validate(v, bp, m.Name, dir)
		}
	}
}

func (b *Backend) validate(v *validator, p, model, dir string) {
	v.name(p+".name", b.Name)
	switch b.Kind {
	case PTU:
		b.validatePTU(v, p, model)
		if b.TPM != 0 {
			v.add(p+".tpm", "applies to tpm backends only; a ptu backend declares capacity_tpm")
		}
		if b.RPM != 0 {
			v.add(p+".rpm", "applies to tpm backends only; a ptu backend declares capacity_tpm")
		}
	case TPM:
		if b.TPM <= 0 {
			v.add(p+".tpm", "must be > 0 for a tpm backend (the deployment's tokens-per-minute limit)")
		}
		if b.RPM < 0 {
			v.add(p+".rpm", "must be >= 0 (0: 6 per 1000 TPM)")
		}
		if b.CapacityTPM != 0 {
			v.add(p+".capacity_tpm", "applies to ptu backends only; a tpm backend declares tpm and rpm")
		}
		if b.PTUUnits != 0 || b.DeploymentType != "" || b.InputTPMPerPTU != 0 || b.OutputRatio != 0 {
			v.add(p, "ptu_units, deployment_type, input_tpm_per_ptu and output_ratio apply to ptu backends only")
		}
	case "":
		v.add(p+".kind", "is required: ptu or tpm")
	default:
		v.add(p+".kind", "%q is not a kind: use ptu or tpm", b.Kind)
	}
	if b.Endpoint == "" {
		v.add(p+".endpoint", "is required, e.g. https://myresource.openai.azure.com")
	} else if _, err := ParseEndpoint(b.Endpoint); err != nil {
		v.add(p+".endpoint", "%v", err)
	}
	if b.Deployment == "" {
		v.add(p+".deployment", "is required: the Azure deployment name")
	} else if !namePattern.MatchString(b.Deployment) {
		v.add(p+".deployment", "%q is not a valid deployment name", b.Deployment)
	}
	if b.APIVersion == "" {
		v.add(p+".api_version", "is required, e.g. 2024-10-21")
	}
	v.secret(p+".auth.api_key", b.Auth.APIKey, dir, false)
	if b.Auth.Entra != nil {
		if !b.Auth.APIKey.IsZero() {
			v.add(p+".auth", "set api_key or entra, not both")
		}
		b.Auth.Entra.validate(v, p+".auth.entra", dir)
	}
	if b.Region == "" {
		v.add(p+".region", "is required, e.g. eastus")
	}
	if b.Priority < 0 {
		v.add(p+".priority", "must be >= 0 (lower is tried first)")
	}
	if b.Weight < 0 {
		v.add(p+".weight", "must be > 0")
	}
}

func (c *Config) validateRetry(v *validator) {
	r := c.Retry
	for i, code := range r.StatusCodes {
		p := fmt.Sprintf("retry.status_codes[%d]", i)
		switch {
		case code < 400 || code > 599:
			v.add(p, "%d is not an error status (400-599)", code)
		case code == 400 || code == 401 || code == 403 || code == 404 || code == 413:
			v.add(p, "%d must not be retried: every backend would refuse the same request", code)
		}
	}
	if r.Attempts < 0 {
		v.add("retry.attempts", "must be >= 0 (0: one attempt per backend)")
	}
	if r.BackoffBase.D() <= 0 {
		v.add("retry.backoff_base", "must be > 0")
	}
	if r.BackoffMax.D() < r.BackoffBase.D() {
		v.add("retry.backoff_max", "must be >= retry.backoff_base")
	}
	if r.PerTryTimeout.D() <= 0 {
		v.add("retry.per_try_timeout", "must be > 0")
	}
}

// validateQuotas checks Azure's quota rules where quotas are declared: the
// TPM of all standard deployments of a model in one subscription and region
// fits the quota, and a subscription has at most 30 resources per region.
func (c *Config) validateQuotas(v *validator) {
	type key struct{ sub, region, model string }
	used := map[key]int{}
	resources := map[[2]string][]string{}
	for _, m := range c.Models {
		for _, b := range m.Backends {
			if b.Subscription == "" {
				continue
			}
			if b.Kind == TPM {
				used[key{b.Subscription, b.Region, m.Name}] += b.TPM
			}
			u, err := ParseEndpoint(b.Endpoint)
			if err != nil {
				continue
			}
			k := [2]string{b.Subscription, b.Region}
			if !slices.Contains(resources[k], u.Host) {
				resources[k] = append(resources[k], u.Host)
			}
		}
	}
	for i, q := range c.Quotas {
		p := fmt.Sprintf("quotas[%d]", i)
		if q.Subscription == "" || q.Region == "" || q.Model == "" {
			v.add(p, "subscription, region and model are all required")
			continue
		}
		if q.TPM <= 0 {
			v.add(p+".tpm", "must be > 0")
			continue
		}
		if got := used[key{q.Subscription, q.Region, q.Model}]; got > q.TPM {
			v.add(p+".tpm", "backends of model %s in subscription %s, region %s add up to %d TPM, over the quota of %d: lower their tpm or raise the quota",
				q.Model, q.Subscription, q.Region, got, q.TPM)
		}
	}
	keys := slices.Collect(maps.Keys(resources))
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		if hosts := resources[k]; len(hosts) > MaxResourcesPerSubscriptionRegion {
			v.add("models", "subscription %s has %d resources in region %s; Azure allows %d per subscription and region",
				k[0], len(hosts), k[1], MaxResourcesPerSubscriptionRegion)
		}
	}
}

func (c *Config) validateState(v *validator, dir string) {
	st := &c.State
	switch st.Store {
	case StoreMemory:
		if st.Replicas > 1 {
			v.add("state.replicas", "is %d but state.store is memory: replicas would not share capacity; use store: redis", st.Replicas)
		}
	case StoreRedis:
		v.hostPort("state.redis.address", st.Redis.Address, true)
		v.secret("state.redis.password", st.Redis.Password, dir, false)
		if st.Redis.CAFile != "" && !st.Redis.TLS {
			v.add("state.redis.ca_file", "is set but state.redis.tls is false")
		}
		if st.Redis.Timeout.D() < 0 || st.Redis.DialTimeout.D() < 0 {
			v.add("state.redis", "timeout and dial_timeout must be >= 0 (0 takes the default)")
		}
		if mt := c.Control.MessageTimeout.D(); mt > 0 && st.Redis.Timeout.D() >= mt/2 {
			v.add("state.redis.timeout", "must be under half of control.message_timeout (%v): a slow Redis must leave time to serve from the local share", mt)
		}
	default:
		v.add("state.store", "%q is not a state store: use memory or redis", st.Store)
	}
	if st.Replicas < 1 {
		v.add("state.replicas", "must be >= 1")
	}
}

// validatePTU checks a ptu backend's size: capacity_tpm, or ptu_units
// bought as Azure sells them for the model and deployment type.
func (b *Backend) validatePTU(v *validator, p, model string) {
	switch b.DeploymentType {
	case "", azure.DeploymentGlobal, azure.DeploymentDataZone, azure.DeploymentRegional:
	default:
		v.add(p+".deployment_type", "%q is not a deployment type: use global, data_zone or regional", b.DeploymentType)
		return
	}
	if b.InputTPMPerPTU < 0 {
		v.add(p+".input_tpm_per_ptu", "must be > 0 when set")
	}
	if b.OutputRatio < 0 || b.OutputRatio > 100 {
		v.add(p+".output_ratio", "must be between 1 and 100 when set (an output token weighs that many input tokens)")
	} else if b.OutputRatio > 0 && b.OutputRatio < 1 {
		v.add(p+".output_ratio", "must be >= 1: an output token weighs at least an input token")
	}
	f, published := b.PTUFigures(model)
	switch {
	case b.CapacityTPM < 0 || b.PTUUnits < 0:
		v.add(p, "capacity_tpm and ptu_units must be > 0 when set")
	case b.CapacityTPM > 0 && b.PTUUnits > 0:
		v.add(p+".capacity_tpm", "set capacity_tpm or ptu_units, not both")
	case b.CapacityTPM == 0 && b.PTUUnits == 0:
		v.add(p+".ptu_units", "a ptu backend needs ptu_units (its size in PTUs) or capacity_tpm (its throughput in tokens per minute)")
	case b.PTUUnits > 0 && f.InputTPMPerPTU <= 0:
		v.add(p+".input_tpm_per_ptu", "model %q has no published input TPM per PTU: set input_tpm_per_ptu, or capacity_tpm instead of ptu_units", model)
	case b.PTUUnits > 0 && published && !f.Purchasable(b.PTUUnits):
		typ := b.DeploymentType
		if typ == "" {
			typ = azure.DeploymentGlobal
		}
		v.add(p+".ptu_units", "%d cannot be bought: %s %s deployments come in %d units, then steps of %d (e.g. %d)",
			b.PTUUnits, model, typ, f.Minimum, f.Increment, f.Units(float64(b.PTUUnits)))
	}
}
