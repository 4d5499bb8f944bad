package sim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/entra/entratest"
)

func entraSim(t *testing.T, iss *entratest.Issuer) *Server {
	t.Helper()
	yaml := `
keys: ["k1"]
entra: {issuer: "` + iss.IssuerURL() + `", jwks_url: "` + iss.JWKSURL() + `"}
deployments:
  - {name: keyless, kind: standard, tpm: 100000, disable_local_auth: true}
  - {name: both, kind: standard, tpm: 100000}
`
	s, _ := newTestSim(t, yaml, func(o *Options) { o.HTTPClient = iss.Client() })
	return s
}

func TestEntraBearerTokens(t *testing.T) {
	iss := entratest.New(t)
	s := entraSim(t, iss)
	valid := iss.Sign(entratest.Claims{"aud": DefaultEntraAudience, "appid": "gw"})
	tests := []struct {
		name       string
		path       string
		body       string
		headers    []string
		status     int
		code       string
		challenged bool
	}{
		{"token on a keyless deployment", chat("keyless"), hello, []string{"Authorization", "Bearer " + valid}, 200, "", false},
		{"token on v1", "/openai/v1/chat/completions", `{"model":"keyless","messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + valid}, 200, "", false},
		{"key on a deployment taking both", chat("both"), hello, []string{"api-key", "k1"}, 200, "", false},
		{"key on a keyless deployment", chat("keyless"), hello, []string{"api-key", "k1"}, 403, "AuthenticationTypeDisabled", false},
		{"key on a keyless deployment over v1", "/openai/v1/chat/completions", `{"model":"keyless","messages":[{"role":"user","content":"hi"}]}`, []string{"api-key", "k1"}, 403, "AuthenticationTypeDisabled", false},
		{"expired token", chat("keyless"), hello, []string{"Authorization", "Bearer " + iss.Sign(entratest.Claims{"aud": DefaultEntraAudience, "exp": time.Now().Add(-time.Minute).Unix()})}, 401, "401", true},
		{"token for another audience", chat("both"), hello, []string{"Authorization", "Bearer " + iss.Sign(entratest.Claims{"aud": "api://other"})}, 401, "401", true},
		{"token from another issuer", chat("both"), hello, []string{"Authorization", "Bearer " + iss.Sign(entratest.Claims{"aud": DefaultEntraAudience, "iss": "https://login.microsoftonline.com/x/v2.0"})}, 401, "401", true},
		{"wrong key", chat("both"), hello, []string{"api-key", "nope"}, 401, "401", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, s, "POST", tt.path, tt.body, append(tt.headers, "x-ms-client-request-id", "cid-7")...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("x-ms-client-request-id"); got != "cid-7" {
				t.Errorf("x-ms-client-request-id = %q, want the client's", got)
			}
			if ch := rec.Header().Get("WWW-Authenticate"); tt.challenged != strings.HasPrefix(ch, `Bearer realm="spillway", error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, challenged %t", ch, tt.challenged)
			}
			if tt.code == "" {
				return
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tt.code {
				t.Errorf("body %s, want code %s", rec.Body, tt.code)
			}
		})
	}
	if got := s.Ledger().Deployments["keyless"].Responses["403"]; got != 2 {
		t.Errorf("ledger: keyless 403s = %d, want 2", got)
	}
}

func TestEntraConfigValidation(t *testing.T) {
	_, err := Parse([]byte("entra: {issuer: http://x, jwks_url: ''}\ndeployments:\n  - {name: a, kind: standard, tpm: 1}\n  - {name: b, kind: standard, tpm: 1, disable_local_auth: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "entra.issuer") || !strings.Contains(err.Error(), "entra.jwks_url") {
		t.Errorf("err = %v", err)
	}
	_, err = Parse([]byte("deployments:\n  - {name: b, kind: standard, tpm: 1, disable_local_auth: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "deployments[0].disable_local_auth: needs entra") {
		t.Errorf("err = %v", err)
	}
}
