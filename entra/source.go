package entra

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Timing of a source's fetches.
const (
	// fetchTimeout bounds one token request (the SDK retries inside it).
	fetchTimeout = 30 * time.Second
	// minRefresh is the shortest wait before the next refresh, so a
	// token with a very short lifetime cannot make a busy loop.
	minRefresh = 500 * time.Millisecond
	// retryMin and retryMax bound the backoff after a failed fetch.
	retryMin = 500 * time.Millisecond
	retryMax = 30 * time.Second
	// expiryMargin: a token closer than this to its expiry is not used; a
	// request carrying it could arrive after it expired.
	expiryMargin = 2 * time.Second
)

// token is a fetched access token.
type token struct {
	value   string // never logged
	expires time.Time
}

// Source holds one credential's current token for one scope. A goroutine
// fetches it, then refreshes it at half its remaining usable lifetime (a 1 h token
// is renewed well before it expires, and again if a renewal fails), so
// requests never wait for Entra ID.
type Source struct {
	cred   azcore.TokenCredential
	scope  string
	desc   string
	log    *slog.Logger
	now    func() time.Time
	record func(ok bool)

	tok     atomic.Pointer[token]
	lastErr atomic.Pointer[string]
	// down is set while the source has been logged unhealthy, up once a
	// token was ever logged: each change of state is logged once.
	down, up atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newSource(cred azcore.TokenCredential, scope, desc string, log *slog.Logger, now func() time.Time, record func(bool)) *Source {
	return &Source{cred: cred, scope: scope, desc: desc, log: log, now: now, record: record, done: make(chan struct{})}
}

// start runs the refresh loop until stop or ctx ends.
func (s *Source) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx)
}

// stop ends the refresh loop and waits for it.
func (s *Source) stop() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
	})
}

// Token returns the current token when it is valid.
func (s *Source) Token() (string, bool) {
	t := s.tok.Load()
	if t == nil || !s.now().Add(expiryMargin).Before(t.expires) {
		return "", false
	}
	return t.value, true
}

// Healthy reports whether the source holds a valid token.
func (s *Source) Healthy() bool {
	_, ok := s.Token()
	return ok
}

// Expires is the current token's expiry; zero when there is none.
func (s *Source) Expires() time.Time {
	if t := s.tok.Load(); t != nil {
		return t.expires
	}
	return time.Time{}
}

// LastError is the last fetch's error message; empty after a success.
func (s *Source) LastError() string {
	if e := s.lastErr.Load(); e != nil {
		return *e
	}
	return ""
}

func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	retry := retryMin
	for {
		wait, err := s.refresh(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait, retry = retry, min(2*retry, retryMax)
		} else {
			retry = retryMin
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

// refresh fetches a token and returns how long to wait before the next.
func (s *Source) refresh(ctx context.Context) (time.Duration, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	at, err := s.cred.GetToken(fctx, policy.TokenRequestOptions{Scopes: []string{s.scope}})
	if err == nil && at.Token == "" {
		err = errors.New("empty access token")
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.record(false)
		still := s.Healthy()
		if !still && !s.down.Swap(true) {
			s.log.Error("entra: no valid token: backends using this credential leave routing until one is fetched",
				slog.String("credential", s.desc), slog.String("scope", s.scope), slog.String("error", msg))
		} else {
			s.log.Warn("entra: token refresh failed; retrying",
				slog.String("credential", s.desc), slog.String("scope", s.scope), slog.Bool("token_still_valid", still), slog.String("error", msg))
		}
		return 0, err
	}
	s.tok.Store(&token{value: at.Token, expires: at.ExpiresOn})
	s.lastErr.Store(nil)
	s.record(true)
	if recovered := s.down.Swap(false); recovered || !s.up.Swap(true) {
		s.log.Info("entra: token acquired; backends using this credential are routable",
			slog.String("credential", s.desc), slog.String("scope", s.scope), slog.Time("expires", at.ExpiresOn))
	} else {
		s.log.Debug("entra: token refreshed", slog.String("credential", s.desc), slog.Time("expires", at.ExpiresOn))
	}
	return max((at.ExpiresOn.Sub(s.now())-expiryMargin)/2, minRefresh), nil
}
