package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultEntraScope is the scope of Azure OpenAI (Cognitive Services) tokens.
const DefaultEntraScope = "https://cognitiveservices.azure.com/.default"

// Entra ID credential kinds for backends.
const (
	// EntraManagedIdentity is the host's managed identity: system-assigned,
	// or user-assigned when client_id or resource_id is set.
	EntraManagedIdentity = "managed_identity"
	// EntraWorkloadIdentity exchanges a federated token file (AKS workload
	// identity) for an Entra ID token.
	EntraWorkloadIdentity = "workload_identity"
	// EntraClientSecret is a service principal with a client secret.
	EntraClientSecret = "client_secret"
	// EntraClientCertificate is a service principal with a certificate.
	EntraClientCertificate = "client_certificate"
	// EntraDefault is the Azure SDK's default chain: environment, workload
	// identity, managed identity, Azure CLI, Azure Developer CLI.
	EntraDefault = "default"
)

// EntraCredential is how spillway gets Microsoft Entra ID tokens to call a
// backend with (`Authorization: Bearer`). Backends with the same credential
// share one token.
type EntraCredential struct {
	// Credential is the kind: managed_identity, workload_identity,
	// client_secret, client_certificate or default.
	Credential string `yaml:"credential"`
	// TenantID is the directory (tenant) id. Required for client_secret
	// and client_certificate; workload_identity reads AZURE_TENANT_ID when
	// it is empty.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) id of a service principal or a
	// workload identity, or selects a user-assigned managed identity.
	ClientID string `yaml:"client_id"`
	// ResourceID selects a user-assigned managed identity by its Azure
	// resource id (managed_identity only; not with client_id).
	ResourceID string `yaml:"resource_id"`
	// ClientSecret is the service principal's secret (client_secret).
	ClientSecret Secret `yaml:"client_secret"`
	// Certificate is a PEM or PKCS#12 file (or variable) holding the
	// certificate and its private key (client_certificate).
	Certificate Secret `yaml:"certificate"`
	// CertificatePassword unlocks an encrypted PKCS#12 certificate.
	CertificatePassword Secret `yaml:"certificate_password"`
	// TokenFile is the federated token file (workload_identity); default
	// AZURE_FEDERATED_TOKEN_FILE, as AKS sets it.
	TokenFile string `yaml:"token_file"`
	// Scope is the token's scope; default https://cognitiveservices.azure.com/.default.
	Scope string `yaml:"scope"`
	// AuthorityHost is the Entra ID host, for sovereign clouds (e.g.
	// https://login.microsoftonline.us/); default the public cloud, or
	// AZURE_AUTHORITY_HOST.
	AuthorityHost string `yaml:"authority_host"`
	// DisableInstanceDiscovery skips Entra ID's instance discovery: for
	// Azure Stack and private authorities that do not serve it.
	DisableInstanceDiscovery bool `yaml:"disable_instance_discovery"`
}

// ClientAuth is how clients may authenticate besides their api keys.
type ClientAuth struct {
	// Entra accepts Microsoft Entra ID access tokens (JWTs) as
	// `Authorization: Bearer`, mapped to consumers by their claims.
	Entra *ClientEntra `yaml:"entra"`
}

// ClientEntra validates the Entra ID tokens clients present.
type ClientEntra struct {
	// TenantID is the tenant whose tokens are accepted; it sets the default
	// issuers and JWKS URL.
	TenantID string `yaml:"tenant_id"`
	// Issuers are the accepted iss values. Default: the tenant's v2.0 and
	// v1.0 issuers, https://login.microsoftonline.com/{tenant}/v2.0 and
	// https://sts.windows.net/{tenant}/.
	Issuers []string `yaml:"issuers"`
	// Audiences are the accepted aud values: the gateway's application id
	// URI (api://...) and/or its client id. Required.
	Audiences []string `yaml:"audiences"`
	// JWKSURL is where the signing keys are fetched; default
	// https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys.
	JWKSURL string `yaml:"jwks_url"`
	// RequiredRoles: when set, a token must carry at least one of these in
	// its roles claim (app roles granted to the calling application).
	RequiredRoles []string `yaml:"required_roles"`
	// RequiredScopes: when set, a token must carry at least one of these in
	// its scp claim (delegated permissions).
	RequiredScopes []string `yaml:"required_scopes"`
	// ClockSkew is the leeway on exp and nbf; default 5m, as Microsoft's
	// own token validation.
	ClockSkew Duration `yaml:"clock_skew"`
	// JWKSRefresh is how often the keys are fetched again; default 24h, as
	// Microsoft advises. A token signed by an unknown key also triggers a
	// fetch (at most one every 10 seconds).
	JWKSRefresh Duration `yaml:"jwks_refresh"`
}

// ConsumerEntra identifies a consumer by claims of a validated Entra ID
// token. Every field that is set must match.
type ConsumerEntra struct {
	// AppID is the calling application's client id: the appid claim (v1.0
	// tokens) or azp (v2.0 tokens).
	AppID string `yaml:"app_id"`
	// ObjectID is the caller's object id: the oid claim.
	ObjectID string `yaml:"object_id"`
	// Role is an app role the token's roles claim must hold.
	Role string `yaml:"role"`
}

// IsZero reports whether no claim is set.
func (e ConsumerEntra) IsZero() bool { return e == ConsumerEntra{} }

// Defaults for client Entra ID validation.
const (
	DefaultEntraClockSkew   = Duration(5 * time.Minute)
	DefaultEntraJWKSRefresh = Duration(24 * time.Hour)
)

func (a *ClientAuth) applyDefaults() {
	e := a.Entra
	if e == nil {
		return
	}
	if e.TenantID != "" && len(e.Issuers) == 0 {
		e.Issuers = []string{
			"https://login.microsoftonline.com/" + e.TenantID + "/v2.0",
			"https://sts.windows.net/" + e.TenantID + "/",
		}
	}
	if e.TenantID != "" && e.JWKSURL == "" {
		e.JWKSURL = "https://login.microsoftonline.com/" + e.TenantID + "/discovery/v2.0/keys"
	}
	if e.ClockSkew == 0 {
		e.ClockSkew = DefaultEntraClockSkew
	}
	if e.JWKSRefresh == 0 {
		e.JWKSRefresh = DefaultEntraJWKSRefresh
	}
}

// validate checks a backend's Entra ID credential; p is its path
// (models[0].backends[1].auth.entra).
func (e *EntraCredential) validate(v *validator, p, dir string) {
	need := func(field, value, why string) {
		if value == "" {
			v.add(p+"."+field, "is required for credential %s: %s", e.Credential, why)
		}
	}
	only := func(field string, set bool, kinds string) {
		if set {
			v.add(p+"."+field, "applies to credential %s only", kinds)
		}
	}
	switch e.Credential {
	case EntraManagedIdentity:
		if e.ClientID != "" && e.ResourceID != "" {
			v.add(p+".resource_id", "set client_id or resource_id to select a user-assigned identity, not both")
		}
	case EntraWorkloadIdentity:
	case EntraDefault:
		if e.ClientID != "" {
			v.add(p+".client_id", "is not used by credential default: it reads AZURE_CLIENT_ID; use managed_identity or workload_identity to name an identity")
		}
	case EntraClientSecret:
		need("tenant_id", e.TenantID, "the directory (tenant) id")
		need("client_id", e.ClientID, "the application (client) id")
		v.secret(p+".client_secret", e.ClientSecret, dir, true)
	case EntraClientCertificate:
		need("tenant_id", e.TenantID, "the directory (tenant) id")
		need("client_id", e.ClientID, "the application (client) id")
		v.secret(p+".certificate", e.Certificate, dir, true)
		v.secret(p+".certificate_password", e.CertificatePassword, dir, false)
	case "":
		v.add(p+".credential", "is required: managed_identity, workload_identity, client_secret, client_certificate or default")
	default:
		v.add(p+".credential", "%q is not a credential: use managed_identity, workload_identity, client_secret, client_certificate or default", e.Credential)
	}
	if e.Credential != EntraClientSecret {
		only("client_secret", !e.ClientSecret.IsZero(), EntraClientSecret)
	}
	if e.Credential != EntraClientCertificate {
		only("certificate", !e.Certificate.IsZero(), EntraClientCertificate)
		only("certificate_password", !e.CertificatePassword.IsZero(), EntraClientCertificate)
	}
	if e.Credential != EntraManagedIdentity {
		only("resource_id", e.ResourceID != "", EntraManagedIdentity)
	}
	if e.Credential != EntraWorkloadIdentity {
		only("token_file", e.TokenFile != "", EntraWorkloadIdentity)
	}
	if e.Scope == "" || strings.ContainsAny(e.Scope, " \t") {
		v.add(p+".scope", "%q must be one scope, e.g. %s", e.Scope, DefaultEntraScope)
	}
	if e.AuthorityHost != "" {
		if u, err := url.Parse(e.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
			v.add(p+".authority_host", "%q must be an https URL, e.g. https://login.microsoftonline.us/", e.AuthorityHost)
		}
	}
}

func (c *Config) validateClientAuth(v *validator) {
	e := c.ClientAuth.Entra
	mapped := false
	for i, cons := range c.Consumers {
		if cons.Entra.IsZero() {
			continue
		}
		mapped = true
		if e == nil {
			v.add(fmt.Sprintf("consumers[%d].entra", i), "needs client_auth.entra: the tokens it maps must be validated")
		}
	}
	if e == nil {
		return
	}
	const p = "client_auth.entra"
	if len(e.Audiences) == 0 {
		v.add(p+".audiences", "at least one is required: the gateway's application id URI (api://...) or client id")
	}
	for i, a := range e.Audiences {
		if a == "" {
			v.add(fmt.Sprintf("%s.audiences[%d]", p, i), "must not be empty")
		}
	}
	if len(e.Issuers) == 0 {
		v.add(p+".issuers", "is required when tenant_id is not set")
	}
	for i, iss := range e.Issuers {
		if u, err := url.Parse(iss); err != nil || u.Scheme != "https" || u.Host == "" {
			v.add(fmt.Sprintf("%s.issuers[%d]", p, i), "%q must be an https URL, e.g. https://login.microsoftonline.com/TENANT/v2.0", iss)
		}
	}
	if e.JWKSURL == "" {
		v.add(p+".jwks_url", "is required when tenant_id is not set")
	} else if u, err := url.Parse(e.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
		v.add(p+".jwks_url", "%q must be an https URL", e.JWKSURL)
	}
	if e.ClockSkew.D() < 0 {
		v.add(p+".clock_skew", "must be >= 0")
	}
	if e.JWKSRefresh.D() < time.Minute {
		v.add(p+".jwks_refresh", "must be at least 1m")
	}
	if !mapped {
		v.add("consumers", "no consumer has an entra mapping: client_auth.entra accepts tokens only for consumers that set entra.app_id, entra.object_id or entra.role")
	}
}
