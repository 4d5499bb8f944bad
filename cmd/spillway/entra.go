package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/entra"
	"github.com/spillway-gw/spillway/extproc"
	"github.com/spillway-gw/spillway/jwtauth"
	"github.com/spillway-gw/spillway/telemetry"
)

// entraAuth is the Microsoft Entra ID state that outlives config reloads:
// the backends' token sources and the key sets clients' tokens verify
// against.
type entraAuth struct {
	ctx  context.Context
	log  *slog.Logger
	pool *entra.Pool

	mu      sync.Mutex
	keySets map[keySetKey]*runningKeySet
}

type keySetKey struct {
	url     string
	refresh time.Duration
}

type runningKeySet struct {
	ks     *jwtauth.KeySet
	cancel context.CancelFunc
}

func newEntraAuth(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (*entraAuth, error) {
	pool, err := entra.NewPool(ctx, entra.Options{Log: log, Meter: tel.MeterProvider().Meter(telemetry.ScopeName)})
	if err != nil {
		return nil, err
	}
	return &entraAuth{ctx: ctx, log: log, pool: pool, keySets: map[keySetKey]*runningKeySet{}}, nil
}

// apply makes cfg's Entra ID settings current: token sources for its
// backends, and the client token verifier on t (before t is swapped in).
func (a *entraAuth) apply(cfg *config.Config, dir string, t *extproc.Table) error {
	if err := a.pool.Update(cfg, dir); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	used := map[keySetKey]bool{}
	if e := cfg.ClientAuth.Entra; e != nil {
		k := keySetKey{e.JWKSURL, e.JWKSRefresh.D()}
		used[k] = true
		rk := a.keySets[k]
		if rk == nil {
			ks := jwtauth.NewKeySet(e.JWKSURL, nil, a.log)
			ks.Refresh = k.refresh
			ctx, cancel := context.WithCancel(a.ctx)
			go ks.Run(ctx)
			rk = &runningKeySet{ks: ks, cancel: cancel}
			a.keySets[k] = rk
		}
		v := jwtauth.NewVerifier(jwtauth.Policy{
			Issuers: e.Issuers, Audiences: e.Audiences,
			RequiredRoles: e.RequiredRoles, RequiredScopes: e.RequiredScopes,
			Leeway: e.ClockSkew.D(),
		}, rk.ks, nil)
		t.SetTokenVerifier(v, e.Audiences[0])
	}
	for k, rk := range a.keySets {
		if !used[k] {
			rk.cancel()
			delete(a.keySets, k)
		}
	}
	return nil
}

// serveStates shows every Entra ID backend's credential state.
func (a *entraAuth) serveStates(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		Backends []entra.State `json:"backends"`
	}{a.pool.States()})
}
