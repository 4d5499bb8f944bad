// Package entra gets Microsoft Entra ID access tokens for the backends that
// authenticate with one (auth.entra) instead of an api-key. Each distinct
// credential has one Source, refreshed before expiry off the request path;
// the Pool maps backends to sources, and its Healthy predicate takes a
// backend without a valid token out of routing rather than letting its
// requests fail with 401.
package entra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/spillway-gw/spillway/config"
)

// Metric names.
const (
	// MetricTokenFetches counts token requests to Entra ID by outcome
	// (success or failure).
	MetricTokenFetches = "spillway.entra.token.fetches"
	// MetricCredentialValid is 1 while a backend using Entra ID holds a
	// valid token, 0 while it is out of routing for want of one.
	MetricCredentialValid = "spillway.backend.credential_valid"
)

// Options are a Pool's collaborators; zero values get defaults.
type Options struct {
	Log *slog.Logger
	// Meter creates the pool's instruments; nil records nothing.
	Meter metric.Meter
	// Transport carries the credentials' requests; nil: the Azure SDK's
	// default (system roots, proxy from the environment).
	Transport policy.Transporter
	// Now is the clock health is judged by; default time.Now.
	Now func() time.Time
}

// Pool holds the token sources of the current config's backends.
type Pool struct {
	ctx  context.Context
	opts Options

	mu      sync.Mutex
	sources map[string]*Source // by credential key
	// backends maps a backend name to its source; swapped whole on Update.
	backends atomic.Pointer[map[string]*Source]

	fetches metric.Int64Counter
}

// NewPool returns an empty pool; its sources run until ctx ends.
func NewPool(ctx context.Context, o Options) (*Pool, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Meter == nil {
		o.Meter = noop.NewMeterProvider().Meter("entra")
	}
	p := &Pool{ctx: ctx, opts: o, sources: map[string]*Source{}}
	empty := map[string]*Source{}
	p.backends.Store(&empty)
	var err, gerr error
	p.fetches, err = o.Meter.Int64Counter(MetricTokenFetches, metric.WithUnit("{request}"),
		metric.WithDescription("Token requests to Microsoft Entra ID, by outcome (success or failure)."))
	valid, gerr := o.Meter.Int64ObservableGauge(MetricCredentialValid,
		metric.WithDescription("1 while a backend authenticating with Entra ID holds a valid token; 0 while it is out of routing without one."))
	if err := errors.Join(err, gerr); err != nil {
		return nil, err
	}
	if _, err := o.Meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		for name, s := range *p.backends.Load() {
			v := int64(0)
			if s.Healthy() {
				v = 1
			}
			ob.ObserveInt64(valid, v, metric.WithAttributes(attribute.String("spillway.backend", name)))
		}
		return nil
	}, valid); err != nil {
		return nil, err
	}
	return p, nil
}

// Update makes the pool serve cfg's backends: a source for every distinct
// auth.entra credential, reusing the running ones, stopping those no longer
// used. On error (a secret unreadable, a certificate unparsable) nothing
// changes; the errors name each backend's field.
func (p *Pool) Update(cfg *config.Config, dir string) error {
	type want struct {
		r        resolved
		backends []string
	}
	wanted := map[string]*want{}
	byBackend := map[string]string{}
	var errs []error
	for i, m := range cfg.Models {
		for j, b := range m.Backends {
			if b.Auth.Entra == nil {
				continue
			}
			r, err := resolve(*b.Auth.Entra, dir)
			if err != nil {
				errs = append(errs, fmt.Errorf("models[%d].backends[%d].auth.entra.%w", i, j, err))
				continue
			}
			k := r.key()
			if wanted[k] == nil {
				wanted[k] = &want{r: r}
			}
			wanted[k].backends = append(wanted[k].backends, b.Name)
			byBackend[b.Name] = k
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := map[string]*Source{}
	keys := make([]string, 0, len(wanted))
	for k := range wanted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := p.sources[k]; ok {
			continue
		}
		w := wanted[k]
		cred, err := newCredential(w.r, p.opts.Transport)
		if err != nil {
			errs = append(errs, fmt.Errorf("backend %s: auth.entra: %w", w.backends[0], err))
			continue
		}
		desc := w.r.describe()
		fresh[k] = newSource(cred, w.r.cfg.Scope, desc, p.opts.Log.With(slog.Any("backends", w.backends)), p.opts.Now, func(ok bool) {
			outcome := "success"
			if !ok {
				outcome = "failure"
			}
			p.fetches.Add(context.Background(), 1, metric.WithAttributes(attribute.String("spillway.outcome", outcome), attribute.String("spillway.credential", w.r.cfg.Credential)))
		})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for k, s := range fresh {
		p.sources[k] = s
		s.start(p.ctx)
	}
	m := make(map[string]*Source, len(byBackend))
	for name, k := range byBackend {
		m[name] = p.sources[k]
	}
	p.backends.Store(&m)
	for k, s := range p.sources {
		if _, ok := wanted[k]; !ok {
			// An attempt already sent to a removed backend keeps the
			// token it read; the source no longer refreshes.
			go s.stop()
			delete(p.sources, k)
		}
	}
	return nil
}

// Close stops every source.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.sources {
		s.stop()
		delete(p.sources, k)
	}
}

// Uses reports whether backend authenticates with Entra ID.
func (p *Pool) Uses(backend string) bool {
	_, ok := (*p.backends.Load())[backend]
	return ok
}

// Token returns backend's current bearer token; false when the backend does
// not use Entra ID or has no valid token.
func (p *Pool) Token(backend string) (string, bool) {
	s := (*p.backends.Load())[backend]
	if s == nil {
		return "", false
	}
	return s.Token()
}

// Healthy reports whether backend can be called: true for backends that do
// not use Entra ID, and for those that hold a valid token. The router
// filters its candidates by it.
func (p *Pool) Healthy(backend string) bool {
	s := (*p.backends.Load())[backend]
	return s == nil || s.Healthy()
}

// State is a backend's credential as the admin endpoint shows it.
type State struct {
	Backend    string    `json:"backend"`
	Credential string    `json:"credential"`
	Healthy    bool      `json:"healthy"`
	Expires    time.Time `json:"expires,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

// States lists every Entra ID backend's credential state, by backend name.
func (p *Pool) States() []State {
	m := *p.backends.Load()
	out := make([]State, 0, len(m))
	for name, s := range m {
		out = append(out, State{Backend: name, Credential: s.desc, Healthy: s.Healthy(), Expires: s.Expires(), LastError: s.LastError()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Backend < out[j].Backend })
	return out
}
