package entra

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/entra/entratest"
)

const (
	appID  = "11111111-0000-0000-0000-00000000000a"
	secret = "s3cret"
)

// poolFor starts a pool serving one backend per credential.
func poolFor(t *testing.T, iss *entratest.Issuer, creds map[string]config.EntraCredential) *Pool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := NewPool(ctx, Options{Transport: iss.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); cancel() })
	if err := p.Update(configWith(creds), t.TempDir()); err != nil {
		t.Fatalf("Update: %v", err)
	}
	return p
}

func configWith(creds map[string]config.EntraCredential) *config.Config {
	m := config.Model{Name: "m"}
	for name, c := range creds {
		c := c
		if c.Scope == "" {
			c.Scope = config.DefaultEntraScope
		}
		m.Backends = append(m.Backends, config.Backend{Name: name, Auth: config.Auth{Entra: &c}})
	}
	m.Backends = append(m.Backends, config.Backend{Name: "keyed", Auth: config.Auth{APIKey: config.Secret{Env: "X"}}})
	return &config.Config{Models: []config.Model{m}}
}

func spCredential(iss *entratest.Issuer, secretEnv string) config.EntraCredential {
	return config.EntraCredential{
		Credential: config.EntraClientSecret, TenantID: entratest.Tenant, ClientID: appID,
		ClientSecret: config.Secret{Env: secretEnv}, AuthorityHost: iss.AuthorityHost(), DisableInstanceDiscovery: true,
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling, not synchronisation
	}
}

// claims decodes a token the issuer signed (its signature is the issuer's
// business; here only what was asked for matters).
func claims(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatalf("token is not a JWT: %v", err)
	}
	return c
}

func TestPoolCredentials(t *testing.T) {
	iss := entratest.New(t)
	iss.SetLifetime(2 * time.Minute) // under MSAL's 5-minute margin: every fetch reaches the issuer
	iss.AddClientSecret(appID, secret)
	iss.AddFederatedToken("wi-client", "federated-token-from-aks")
	t.Setenv("SPILLWAY_TEST_SP_SECRET", secret)
	// The default chain's first link, the environment credential.
	iss.AddClientSecret("env-client", "env-secret")
	t.Setenv("AZURE_TENANT_ID", entratest.Tenant)
	t.Setenv("AZURE_CLIENT_ID", "env-client")
	t.Setenv("AZURE_CLIENT_SECRET", "env-secret")
	t.Setenv("IDENTITY_ENDPOINT", iss.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", entratest.IdentityHeader)
	cert, certPEM := entratest.NewCertificate(t)
	iss.AddClientCertificate("cert-client", cert)
	certFile := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte("federated-token-from-aks"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		cred      config.EntraCredential
		wantAppID string
		wantAud   string
	}{
		{"client secret", spCredential(iss, "SPILLWAY_TEST_SP_SECRET"), appID, "https://cognitiveservices.azure.com"},
		{"client secret, scope overridden", func() config.EntraCredential {
			c := spCredential(iss, "SPILLWAY_TEST_SP_SECRET")
			c.Scope = "api://custom-gateway/.default"
			return c
		}(), appID, "api://custom-gateway"},
		{"client certificate", config.EntraCredential{
			Credential: config.EntraClientCertificate, TenantID: entratest.Tenant, ClientID: "cert-client",
			Certificate: config.Secret{File: certFile}, AuthorityHost: iss.AuthorityHost(), DisableInstanceDiscovery: true,
		}, "cert-client", "https://cognitiveservices.azure.com"},
		{"default chain (environment credential)", config.EntraCredential{
			Credential: config.EntraDefault, AuthorityHost: iss.AuthorityHost(), DisableInstanceDiscovery: true,
		}, "env-client", "https://cognitiveservices.azure.com"},
		{"system-assigned managed identity", config.EntraCredential{Credential: config.EntraManagedIdentity}, "system-assigned", "https://cognitiveservices.azure.com"},
		{"user-assigned managed identity", config.EntraCredential{Credential: config.EntraManagedIdentity, ClientID: "ua-client"}, "ua-client", "https://cognitiveservices.azure.com"},
		{"workload identity", config.EntraCredential{
			Credential: config.EntraWorkloadIdentity, TenantID: entratest.Tenant, ClientID: "wi-client", TokenFile: tokenFile,
			AuthorityHost: iss.AuthorityHost(), DisableInstanceDiscovery: true,
		}, "wi-client", "https://cognitiveservices.azure.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := poolFor(t, iss, map[string]config.EntraCredential{"b": tt.cred})
			waitFor(t, "a token", func() bool { return p.Healthy("b") })
			tok, ok := p.Token("b")
			if !ok || !iss.IssuedToken(tok) {
				t.Fatalf("Token(b) = %t, issued by the issuer %t", ok, iss.IssuedToken(tok))
			}
			c := claims(t, tok)
			if c["appid"] != tt.wantAppID || c["aud"] != tt.wantAud {
				t.Errorf("token for appid %v aud %v, want %s %s", c["appid"], c["aud"], tt.wantAppID, tt.wantAud)
			}
			if _, ok := p.Token("keyed"); ok || !p.Healthy("keyed") || p.Uses("keyed") {
				t.Errorf("a keyed backend must have no token, be healthy and not use Entra ID")
			}
		})
	}
}

// A token is refreshed before it expires: the backend is never without one.
func TestPoolRefreshesBeforeExpiry(t *testing.T) {
	iss := entratest.New(t)
	// exp is in whole seconds and a token is not used in its last 2 s: a
	// 6 s token is usable for 3-4 s, renewed after half of that.
	iss.SetLifetime(6 * time.Second)
	iss.AddClientSecret(appID, secret)
	t.Setenv("SPILLWAY_TEST_SP_SECRET", secret)
	p := poolFor(t, iss, map[string]config.EntraCredential{"b": spCredential(iss, "SPILLWAY_TEST_SP_SECRET")})
	waitFor(t, "a token", func() bool { return p.Healthy("b") })
	first, _ := p.Token("b")
	seen := map[string]bool{}
	deadline := time.Now().Add(13 * time.Second) // more than two lifetimes
	for time.Now().Before(deadline) {
		tok, ok := p.Token("b")
		if !ok {
			t.Fatalf("no valid token at %v", time.Now())
		}
		seen[tok] = true
		time.Sleep(5 * time.Millisecond)
	}
	if len(seen) < 3 || !seen[first] {
		t.Errorf("saw %d distinct tokens over 13 s of 6 s tokens, want >= 3", len(seen))
	}
}

// A credential that cannot get a token leaves routing, says why, and comes
// back when Entra ID answers again.
func TestPoolFailureAndRecovery(t *testing.T) {
	iss := entratest.New(t)
	iss.SetLifetime(6 * time.Second)
	iss.AddClientSecret(appID, secret)
	iss.SetFailing(true)
	t.Setenv("SPILLWAY_TEST_SP_SECRET", secret)
	p := poolFor(t, iss, map[string]config.EntraCredential{"b": spCredential(iss, "SPILLWAY_TEST_SP_SECRET")})
	waitFor(t, "a failure recorded", func() bool { return p.States()[0].LastError != "" })
	if p.Healthy("b") {
		t.Fatal("healthy without a token")
	}
	iss.SetFailing(false)
	waitFor(t, "recovery", func() bool { return p.Healthy("b") })
	if st := p.States()[0]; st.LastError != "" || !st.Healthy || st.Expires.IsZero() {
		t.Errorf("state after recovery = %+v", st)
	}
	// Entra ID fails again: the token is kept until it expires, then the
	// backend leaves routing.
	iss.SetFailing(true)
	waitFor(t, "the token to expire", func() bool { return !p.Healthy("b") })
	if _, ok := p.Token("b"); ok {
		t.Error("an expired token was handed out")
	}
}

func TestPoolWrongSecret(t *testing.T) {
	iss := entratest.New(t)
	iss.AddClientSecret(appID, secret)
	t.Setenv("SPILLWAY_TEST_SP_SECRET", "not-the-secret")
	p := poolFor(t, iss, map[string]config.EntraCredential{"b": spCredential(iss, "SPILLWAY_TEST_SP_SECRET")})
	waitFor(t, "a failure recorded", func() bool { return p.States()[0].LastError != "" })
	if st := p.States()[0]; st.Healthy || !strings.Contains(st.LastError, "AADSTS7000215") {
		t.Errorf("state = %+v, want unhealthy with Entra's error", st)
	}
	if strings.Contains(p.States()[0].LastError, "not-the-secret") {
		t.Error("the secret appears in the error")
	}
}

// Backends with one credential share a source; an update keeps running
// sources and drops those no longer configured.
func TestPoolUpdateSharesAndReuses(t *testing.T) {
	iss := entratest.New(t)
	iss.AddClientSecret(appID, secret)
	t.Setenv("SPILLWAY_TEST_SP_SECRET", secret)
	cred := spCredential(iss, "SPILLWAY_TEST_SP_SECRET")
	p := poolFor(t, iss, map[string]config.EntraCredential{"a": cred, "b": cred})
	waitFor(t, "tokens", func() bool { return p.Healthy("a") && p.Healthy("b") })
	if n := iss.Issued(); n != 1 {
		t.Errorf("issued %d tokens for two backends sharing a credential, want 1", n)
	}
	ta, _ := p.Token("a")
	if err := p.Update(configWith(map[string]config.EntraCredential{"a": cred}), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if tb, ok := p.Token("a"); !ok || tb != ta || iss.Issued() != 1 {
		t.Errorf("the update did not reuse the running source")
	}
	if p.Uses("b") || !p.Healthy("b") {
		t.Errorf("a removed backend is still an Entra ID backend")
	}
	bad := cred
	bad.ClientSecret = config.Secret{Env: "SPILLWAY_TEST_UNSET_SECRET"}
	err := p.Update(configWith(map[string]config.EntraCredential{"a": bad}), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "models[0].backends[0].auth.entra.client_secret") {
		t.Errorf("Update with an unset secret = %v, want an error naming the field", err)
	}
	if _, ok := p.Token("a"); !ok {
		t.Error("a failed update changed the pool")
	}
}

func TestPoolWrongCertificate(t *testing.T) {
	iss := entratest.New(t)
	registered, _ := entratest.NewCertificate(t)
	iss.AddClientCertificate("cert-client", registered)
	_, otherPEM := entratest.NewCertificate(t)
	f := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(f, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p := poolFor(t, iss, map[string]config.EntraCredential{"b": {
		Credential: config.EntraClientCertificate, TenantID: entratest.Tenant, ClientID: "cert-client",
		Certificate: config.Secret{File: f}, AuthorityHost: iss.AuthorityHost(), DisableInstanceDiscovery: true,
	}})
	waitFor(t, "a failure recorded", func() bool { return p.States()[0].LastError != "" })
	if st := p.States()[0]; st.Healthy || !strings.Contains(st.LastError, "AADSTS700027") {
		t.Errorf("state = %+v, want unhealthy with Entra's signature error", st)
	}
}
