package jwtauth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// KeySet is a tenant's signing keys (its JWKS), fetched from a URL, fetched
// again periodically and whenever a token names a key it does not hold (a
// rotation), at most once per MinRefetch.
type KeySet struct {
	url    string
	client *http.Client
	log    *slog.Logger
	// Refresh is how often the keys are fetched again.
	Refresh time.Duration
	// MinRefetch bounds how often an unknown key triggers a fetch, so a
	// stream of forged key ids cannot make the gateway hammer Entra ID.
	MinRefetch time.Duration

	mu      sync.RWMutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time // last fetch attempt
	fetchMu sync.Mutex
}

// Defaults for a KeySet.
const (
	DefaultRefresh    = 24 * time.Hour
	DefaultMinRefetch = 10 * time.Second
	fetchTimeout      = 10 * time.Second
	maxJWKSBytes      = 1 << 20
)

// NewKeySet returns a key set for url; client nil is http.DefaultClient.
func NewKeySet(url string, client *http.Client, log *slog.Logger) *KeySet {
	if client == nil {
		client = http.DefaultClient
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &KeySet{url: url, client: client, log: log, Refresh: DefaultRefresh, MinRefetch: DefaultMinRefetch}
}

// URL is where the keys come from.
func (k *KeySet) URL() string { return k.url }

// Run fetches the keys now and every Refresh until ctx ends. Failures are
// logged; the keys held keep serving.
func (k *KeySet) Run(ctx context.Context) {
	for {
		if err := k.fetch(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("jwks: fetch failed; the keys already held keep serving", slog.String("url", k.url), slog.String("error", err.Error()))
		}
		wait := k.Refresh
		if !k.loaded() {
			wait = k.MinRefetch // no keys yet: try again soon
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (k *KeySet) loaded() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys) > 0
}

// errUnknownKey: no key with the token's kid, even after a fetch.
var errUnknownKey = errors.New("the token's signing key is not one of the tenant's keys")

// Key returns the key with id kid, fetching the set again when kid is not
// known and the last fetch is older than MinRefetch.
func (k *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if key := k.lookup(kid); key != nil {
		return key, nil
	}
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	// Another request may have fetched while this one waited.
	if key := k.lookup(kid); key != nil {
		return key, nil
	}
	k.mu.RLock()
	recent := !k.fetched.IsZero() && time.Since(k.fetched) < k.MinRefetch
	k.mu.RUnlock()
	if !recent {
		if err := k.fetchLocked(ctx); err != nil {
			return nil, fmt.Errorf("signing keys unavailable: %w", err)
		}
	}
	if key := k.lookup(kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

func (k *KeySet) lookup(kid string) *rsa.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[kid]
}

func (k *KeySet) fetch(ctx context.Context) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	return k.fetchLocked(ctx)
}

func (k *KeySet) fetchLocked(ctx context.Context) error {
	k.mu.Lock()
	k.fetched = time.Now()
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", k.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return err
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	k.log.Debug("jwks: keys fetched", slog.String("url", k.url), slog.Int("keys", len(keys)))
	return nil
}

// ParseJWKS reads the RSA signature keys of a JSON Web Key Set by key id.
// Keys of other types or uses are skipped: Entra ID signs with RS256.
func ParseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Use string `json:"use"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || j.Kid == "" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pk.N.BitLen() < 2048 {
			continue
		}
		out[j.Kid] = pk
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no RSA signing key")
	}
	return out, nil
}
