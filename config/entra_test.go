package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// entraYAML is a config with Entra ID both ways: one backend by managed
// identity, one by client secret, and a consumer identified by token.
const entraYAML = `
gateway: {listen: 127.0.0.1:10000}
client_auth:
  entra:
    tenant_id: 11111111-2222-3333-4444-555555555555
    audiences: [api://spillway]
consumers:
  - name: keyed
    api_key: {env: SPILLWAY_TEST_CLIENT_KEY}
  - name: by-token
    entra: {app_id: aaaaaaaa-0000-0000-0000-000000000001}
models:
  - name: m
    backends:
      - name: mi
        kind: tpm
        endpoint: https://r.openai.azure.com
        deployment: d
        api_version: 2024-10-21
        region: eastus
        tpm: 1000
        auth: {entra: {credential: managed_identity}}
      - name: sp
        kind: tpm
        endpoint: https://s.openai.azure.com
        deployment: d
        api_version: 2024-10-21
        region: eastus2
        tpm: 1000
        auth:
          entra:
            credential: client_secret
            tenant_id: 11111111-2222-3333-4444-555555555555
            client_id: bbbbbbbb-0000-0000-0000-000000000002
            client_secret: {env: SPILLWAY_TEST_CLIENT_SECRET}
`

func entraConfig(t *testing.T) *Config {
	t.Helper()
	t.Setenv("SPILLWAY_TEST_CLIENT_KEY", "k")
	t.Setenv("SPILLWAY_TEST_CLIENT_SECRET", "s")
	c, err := Parse([]byte(entraYAML))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEntraDefaults(t *testing.T) {
	c := entraConfig(t)
	if err := c.Validate(t.TempDir()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, b := range c.Models[0].Backends {
		if b.Auth.Entra.Scope != DefaultEntraScope {
			t.Errorf("%s scope = %q, want %q", b.Name, b.Auth.Entra.Scope, DefaultEntraScope)
		}
	}
	e := c.ClientAuth.Entra
	wantIss := []string{
		"https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
		"https://sts.windows.net/11111111-2222-3333-4444-555555555555/",
	}
	if !slices.Equal(e.Issuers, wantIss) {
		t.Errorf("issuers = %q, want %q", e.Issuers, wantIss)
	}
	if want := "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/discovery/v2.0/keys"; e.JWKSURL != want {
		t.Errorf("jwks_url = %q, want %q", e.JWKSURL, want)
	}
	if e.ClockSkew.D() != 5*time.Minute || e.JWKSRefresh.D() != 24*time.Hour {
		t.Errorf("clock_skew %v, jwks_refresh %v; want 5m, 24h", e.ClockSkew.D(), e.JWKSRefresh.D())
	}
}

func TestEntraScopeOverride(t *testing.T) {
	t.Setenv("SPILLWAY_TEST_CLIENT_KEY", "k")
	c, err := Parse([]byte(strings.Replace(minimalYAML, "tpm: 1000}", "tpm: 1000, auth: {entra: {credential: default, scope: api://custom/.default}}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Models[0].Backends[0].Auth.Entra.Scope; got != "api://custom/.default" {
		t.Errorf("scope = %q", got)
	}
}

func TestEntraValidateRules(t *testing.T) {
	mi := func(c *Config) *EntraCredential { return c.Models[0].Backends[0].Auth.Entra }
	sp := func(c *Config) *EntraCredential { return c.Models[0].Backends[1].Auth.Entra }
	const b0, b1 = "models[0].backends[0]", "models[0].backends[1]"
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want
	}{
		{"valid", func(c *Config) {}, nil},
		{"credential missing", func(c *Config) { mi(c).Credential = "" },
			[]want{{b0 + ".auth.entra.credential", "is required: managed_identity, workload_identity"}}},
		{"credential unknown", func(c *Config) { mi(c).Credential = "msi" },
			[]want{{b0 + ".auth.entra.credential", `"msi" is not a credential`}}},
		{"user-assigned by client id", func(c *Config) { mi(c).ClientID = "c" }, nil},
		{"user-assigned twice", func(c *Config) { mi(c).ClientID, mi(c).ResourceID = "c", "/subscriptions/x" },
			[]want{{b0 + ".auth.entra.resource_id", "not both"}}},
		{"workload identity with a token file", func(c *Config) { mi(c).Credential, mi(c).TokenFile = EntraWorkloadIdentity, "/var/run/token" }, nil},
		{"client id on the default chain", func(c *Config) { mi(c).Credential, mi(c).ClientID = EntraDefault, "c" },
			[]want{{b0 + ".auth.entra.client_id", "is not used by credential default"}}},
		{"token file on managed identity", func(c *Config) { mi(c).TokenFile = "/var/run/token" },
			[]want{{b0 + ".auth.entra.token_file", "applies to credential workload_identity only"}}},
		{"api key and entra", func(c *Config) {
			mi(c).ClientID = ""
			c.Models[0].Backends[0].Auth.APIKey = Secret{Env: "SPILLWAY_TEST_CLIENT_KEY"}
		},
			[]want{{b0 + ".auth", "set api_key or entra, not both"}}},
		{"client secret without tenant, client or secret", func(c *Config) { sp(c).TenantID, sp(c).ClientID, sp(c).ClientSecret = "", "", Secret{} },
			[]want{
				{b1 + ".auth.entra.tenant_id", "is required for credential client_secret"},
				{b1 + ".auth.entra.client_id", "is required for credential client_secret"},
				{b1 + ".auth.entra.client_secret", "is required"},
			}},
		{"client secret unset variable", func(c *Config) { sp(c).ClientSecret = Secret{Env: "SPILLWAY_TEST_NOT_SET_EVER"} },
			[]want{{b1 + ".auth.entra.client_secret", "environment variable SPILLWAY_TEST_NOT_SET_EVER is not set"}}},
		{"certificate without a file", func(c *Config) { sp(c).Credential, sp(c).ClientSecret = EntraClientCertificate, Secret{} },
			[]want{{b1 + ".auth.entra.certificate", "is required"}}},
		{"secret on a certificate credential", func(c *Config) {
			sp(c).Credential, sp(c).Certificate = EntraClientCertificate, Secret{Env: "SPILLWAY_TEST_CLIENT_SECRET"}
		}, []want{{b1 + ".auth.entra.client_secret", "applies to credential client_secret only"}}},
		{"scope with spaces", func(c *Config) { mi(c).Scope = "a b" },
			[]want{{b0 + ".auth.entra.scope", "must be one scope"}}},
		{"authority host not https", func(c *Config) { mi(c).AuthorityHost = "http://login.example" },
			[]want{{b0 + ".auth.entra.authority_host", "must be an https URL"}}},

		{"client auth without audiences", func(c *Config) { c.ClientAuth.Entra.Audiences = nil },
			[]want{{"client_auth.entra.audiences", "at least one is required"}}},
		{"client auth without tenant nor issuers", func(c *Config) { c.ClientAuth.Entra.Issuers, c.ClientAuth.Entra.JWKSURL = nil, "" },
			[]want{{"client_auth.entra.issuers", "is required when tenant_id is not set"}, {"client_auth.entra.jwks_url", "is required when tenant_id is not set"}}},
		{"jwks over http", func(c *Config) { c.ClientAuth.Entra.JWKSURL = "http://127.0.0.1/keys" },
			[]want{{"client_auth.entra.jwks_url", "must be an https URL"}}},
		{"jwks refresh too often", func(c *Config) { c.ClientAuth.Entra.JWKSRefresh = Duration(time.Second) },
			[]want{{"client_auth.entra.jwks_refresh", "must be at least 1m"}}},
		{"client auth maps no consumer", func(c *Config) { c.Consumers = c.Consumers[:1] },
			[]want{{"consumers", "no consumer has an entra mapping"}}},
		{"consumer mapping without client auth", func(c *Config) { c.ClientAuth.Entra = nil },
			[]want{{"consumers[1].entra", "needs client_auth.entra"}}},
		{"consumer with neither key nor mapping", func(c *Config) { c.Consumers[1].Entra = ConsumerEntra{} },
			[]want{{"consumers[1]", "needs api_key"}, {"consumers", "no consumer has an entra mapping"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entraConfig(t)
			tt.mutate(c)
			checkProblems(t, c.Validate(t.TempDir()), tt.want)
		})
	}
}
