package jwtauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spillway-gw/spillway/entra/entratest"
)

const aud = "api://spillway"

func newVerifier(t *testing.T, iss *entratest.Issuer, p Policy) (*Verifier, *KeySet) {
	t.Helper()
	ks := NewKeySet(iss.JWKSURL(), iss.Client(), nil)
	ks.MinRefetch = 0
	if p.Issuers == nil {
		p.Issuers = []string{iss.IssuerURL()}
	}
	if p.Audiences == nil {
		p.Audiences = []string{aud}
	}
	return NewVerifier(p, ks, nil), ks
}

func TestVerify(t *testing.T) {
	iss := entratest.New(t)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := func(extra entratest.Claims) entratest.Claims {
		c := entratest.Claims{"aud": aud, "appid": "app-1", "oid": "oid-1", "sub": "sub-1"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name    string
		policy  Policy
		token   func() string
		want    *Claims
		wantErr string
		insuff  bool
	}{
		{"valid v1 token", Policy{}, func() string { return iss.Sign(base(nil)) },
			&Claims{AppID: "app-1", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant}, "", false},
		{"valid v2 token: azp is the app", Policy{}, func() string {
			c := base(entratest.Claims{"azp": "app-2"})
			delete(c, "appid")
			return iss.Sign(c)
		}, &Claims{AppID: "app-2", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant}, "", false},
		{"audience in a list", Policy{}, func() string { return iss.Sign(base(entratest.Claims{"aud": []string{"other", aud}})) },
			&Claims{AppID: "app-1", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant}, "", false},
		{"expired", Policy{}, func() string { return iss.Sign(base(entratest.Claims{"exp": now.Add(-time.Hour).Unix()})) },
			nil, "the token has expired", false},
		{"expired within the leeway", Policy{Leeway: 5 * time.Minute}, func() string { return iss.Sign(base(entratest.Claims{"exp": now.Add(-time.Minute).Unix()})) },
			&Claims{AppID: "app-1", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant}, "", false},
		{"not valid yet", Policy{}, func() string { return iss.Sign(base(entratest.Claims{"nbf": now.Add(time.Hour).Unix()})) },
			nil, "the token is not valid yet", false},
		{"no expiry", Policy{}, func() string {
			c := base(nil)
			c["exp"] = nil
			return iss.Sign(c)
		}, nil, "the token", false},
		{"wrong audience", Policy{}, func() string { return iss.Sign(base(entratest.Claims{"aud": "https://cognitiveservices.azure.com"})) },
			nil, "the token's audience is not accepted", false},
		{"wrong issuer", Policy{}, func() string {
			return iss.Sign(base(entratest.Claims{"iss": "https://login.microsoftonline.com/other/v2.0"}))
		},
			nil, `the token's issuer "https://login.microsoftonline.com/other/v2.0" is not accepted`, false},
		{"forged with the issuer's key id", Policy{}, func() string {
			return entratest.SignWith(forger, "k1", base(entratest.Claims{"iss": iss.IssuerURL(), "exp": now.Add(time.Hour).Unix()}))
		},
			nil, "the token's signature is invalid", false},
		{"unknown key id", Policy{}, func() string {
			return entratest.SignWith(forger, "nope", base(entratest.Claims{"iss": iss.IssuerURL(), "exp": now.Add(time.Hour).Unix()}))
		},
			nil, "the token's signing key is not one of the tenant's keys", false},
		{"algorithm none", Policy{}, func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, base(entratest.Claims{"iss": iss.IssuerURL(), "exp": now.Add(time.Hour).Unix()})).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, nil, "the token", false},
		{"HS256 signed with the public key", Policy{}, func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, base(entratest.Claims{"iss": iss.IssuerURL(), "exp": now.Add(time.Hour).Unix()}))
			tok.Header["kid"] = "k1"
			s, _ := tok.SignedString([]byte("whatever"))
			return s
		}, nil, "the token", false},
		{"malformed", Policy{}, func() string { return "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln" }, nil, "the token is malformed", false},
		{"required role held", Policy{RequiredRoles: []string{"Gateway.Invoke", "Admin"}}, func() string { return iss.Sign(base(entratest.Claims{"roles": []string{"Gateway.Invoke"}})) },
			&Claims{AppID: "app-1", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant, Roles: []string{"Gateway.Invoke"}}, "", false},
		{"required role missing", Policy{RequiredRoles: []string{"Gateway.Invoke"}}, func() string { return iss.Sign(base(entratest.Claims{"roles": []string{"Reader"}})) },
			nil, "the token holds none of the required roles", true},
		{"required scope held", Policy{RequiredScopes: []string{"Chat"}}, func() string { return iss.Sign(base(entratest.Claims{"scp": "Read Chat"})) },
			&Claims{AppID: "app-1", ObjectID: "oid-1", Subject: "sub-1", TenantID: entratest.Tenant, Scopes: []string{"Read", "Chat"}}, "", false},
		{"required scope missing", Policy{RequiredScopes: []string{"Chat"}}, func() string { return iss.Sign(base(nil)) },
			nil, "the token holds none of the required scopes", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := newVerifier(t, iss, tt.policy)
			got, err := v.Verify(context.Background(), tt.token())
			if tt.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(e.Reason, tt.wantErr) || e.Insufficient != tt.insuff {
					t.Fatalf("Verify = %v, %v; want *Error %q (insufficient %t)", got, err, tt.wantErr, tt.insuff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.AppID != tt.want.AppID || got.ObjectID != tt.want.ObjectID || got.Subject != tt.want.Subject || got.TenantID != tt.want.TenantID ||
				strings.Join(got.Roles, ",") != strings.Join(tt.want.Roles, ",") || strings.Join(got.Scopes, ",") != strings.Join(tt.want.Scopes, ",") {
				t.Errorf("claims = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A key rotation is picked up on the first token signed with the new key;
// a token signed with a key no longer published is refused once the set is
// fetched again.
func TestKeyRotation(t *testing.T) {
	iss := entratest.New(t)
	v, ks := newVerifier(t, iss, Policy{})
	ctx := context.Background()
	old := iss.Sign(entratest.Claims{"aud": aud, "appid": "a"})
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("first key: %v", err)
	}
	iss.Rotate()
	if _, err := v.Verify(ctx, iss.Sign(entratest.Claims{"aud": aud, "appid": "a"})); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	iss.DropOldKeys()
	if err := ks.fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, old); err == nil {
		t.Error("a token signed by a retired key was accepted")
	}
}

// Unknown key ids do not make a fetch each: at most one per MinRefetch.
func TestUnknownKeysAreRateLimited(t *testing.T) {
	iss := entratest.New(t)
	v, ks := newVerifier(t, iss, Policy{})
	ks.MinRefetch = time.Hour
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Sign(entratest.Claims{"aud": aud})); err != nil {
		t.Fatal(err)
	}
	iss.Rotate()
	// The set was fetched a moment ago: the new key is not looked for yet.
	if _, err := v.Verify(ctx, iss.Sign(entratest.Claims{"aud": aud})); err == nil {
		t.Fatal("a fetch happened within MinRefetch")
	}
	ks.MinRefetch = 0
	if _, err := v.Verify(ctx, iss.Sign(entratest.Claims{"aud": aud})); err != nil {
		t.Fatalf("after MinRefetch: %v", err)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for s, want := range map[string]bool{
		"client-key-1": false, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln": true, "eyJ.a": false, "abc.def.ghi": false,
	} {
		if got := LooksLikeJWT(s); got != want {
			t.Errorf("LooksLikeJWT(%q) = %t", s, got)
		}
	}
}

func TestParseJWKSSkipsWeakAndForeignKeys(t *testing.T) {
	if _, err := ParseJWKS([]byte(`{"keys":[{"kty":"EC","kid":"e"},{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}]}`)); err == nil {
		t.Error("a set without a usable RSA key was accepted")
	}
}
