// Package jwtauth validates the Microsoft Entra ID access tokens (JWTs)
// clients present as `Authorization: Bearer`: RS256 signature by one of the
// tenant's published keys (fetched, cached and re-fetched on rotation),
// issuer, audience, expiry and not-before with a leeway, and optionally the
// app roles or delegated scopes the caller must hold.
//
// Parsing and signature checks are github.com/golang-jwt/jwt/v5's, pinned to
// RS256 so no token can pick its own algorithm; the JWKS is read here (a few
// lines for RSA keys, the only kind Entra ID publishes for signing).
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Policy is what a token must satisfy.
type Policy struct {
	// Issuers are the accepted iss values.
	Issuers []string
	// Audiences are the accepted aud values; a token matches if any of its
	// audiences is one of them.
	Audiences []string
	// RequiredRoles: when set, the roles claim must hold one of them.
	RequiredRoles []string
	// RequiredScopes: when set, the scp claim must hold one of them.
	RequiredScopes []string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
}

// Claims are the validated token's claims that identify the caller.
type Claims struct {
	// AppID is the calling application: appid (v1.0 tokens) or azp (v2.0).
	AppID    string
	ObjectID string // oid
	TenantID string // tid
	Subject  string // sub
	Roles    []string
	Scopes   []string
}

// Error is why a token was refused. Its message is safe to send to the
// client (it never holds the token).
type Error struct {
	// Insufficient is true when the token is valid but lacks a required
	// role or scope (RFC 6750 insufficient_scope); false for an invalid
	// token (invalid_token).
	Insufficient bool
	Reason       string
}

func (e *Error) Error() string { return e.Reason }

// Verifier checks tokens against a policy and a key set.
type Verifier struct {
	policy Policy
	keys   *KeySet
	now    func() time.Time
}

// NewVerifier returns a verifier; now nil is time.Now.
func NewVerifier(p Policy, keys *KeySet, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{policy: p, keys: keys, now: now}
}

type entraClaims struct {
	jwt.RegisteredClaims
	AppID string   `json:"appid"`
	AZP   string   `json:"azp"`
	OID   string   `json:"oid"`
	TID   string   `json:"tid"`
	Roles []string `json:"roles"`
	SCP   string   `json:"scp"`
}

// LooksLikeJWT tells a JWT from an api key sent as a Bearer value: three
// base64url parts, the first a JSON object ("eyJ" is `{"` encoded).
func LooksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// Verify validates raw and returns its claims, or an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	var c entraClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithLeeway(v.policy.Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(v.policy.Audiences...),
	)
	_, err := parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("the token names no signing key (kid)")
		}
		return v.keys.Key(ctx, kid)
	})
	if err != nil {
		return nil, &Error{Reason: reason(err)}
	}
	if !slices.Contains(v.policy.Issuers, c.Issuer) {
		return nil, &Error{Reason: fmt.Sprintf("the token's issuer %q is not accepted", c.Issuer)}
	}
	out := &Claims{AppID: c.AppID, ObjectID: c.OID, TenantID: c.TID, Subject: c.Subject, Roles: c.Roles, Scopes: strings.Fields(c.SCP)}
	if out.AppID == "" {
		out.AppID = c.AZP
	}
	if len(v.policy.RequiredRoles) > 0 && !anyOf(out.Roles, v.policy.RequiredRoles) {
		return nil, &Error{Insufficient: true, Reason: "the token holds none of the required roles"}
	}
	if len(v.policy.RequiredScopes) > 0 && !anyOf(out.Scopes, v.policy.RequiredScopes) {
		return nil, &Error{Insufficient: true, Reason: "the token holds none of the required scopes"}
	}
	return out, nil
}

func anyOf(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// reason turns a parse error into a short description for the client.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience is not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no expiry"
	case errors.Is(err, errUnknownKey):
		return errUnknownKey.Error()
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// No kid, or the keys could not be fetched (logged by the KeySet).
		return "the token cannot be verified"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	}
	return "the token is invalid"
}
