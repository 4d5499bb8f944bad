// Package entratest is a local Microsoft Entra ID for tests: an HTTPS server
// (its own test certificate) serving the OpenID metadata and token endpoint
// the Azure SDK's client-credential flows use (client secret and client
// assertion, as workload identity sends), the managed identity endpoint in
// the App Service form the SDK reads from IDENTITY_ENDPOINT/IDENTITY_HEADER,
// and the JWKS its tokens verify against. Tokens are RS256 JWTs signed with
// keys it generates; keys can be rotated and token requests made to fail.
package entratest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tenant is the tenant id the issuer serves.
const Tenant = "72f988bf-0000-4000-8000-000000000001"

// IdentityHeader is the secret the managed identity endpoint expects in
// X-IDENTITY-HEADER, as App Service sets IDENTITY_HEADER.
const IdentityHeader = "entratest-identity-header"

// Issuer is a running local Entra ID.
type Issuer struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    []*signingKey // keys[len-1] signs; all are published
	secrets map[string]string
	// assertions are the accepted client assertions (federated tokens) by client id.
	assertions map[string]string
	// certs are the applications' certificates, by client id: their
	// assertions are JWTs signed with the certificate's key.
	certs map[string]*x509.Certificate

	lifetime atomic.Int64 // token lifetime in ns
	failing  atomic.Bool
	issued   atomic.Int64
	tokens   sync.Map // access token -> struct{}
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// New starts an issuer, stopped when the test ends. Tokens last an hour
// until SetLifetime says otherwise.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{secrets: map[string]string{}, assertions: map[string]string{}, certs: map[string]*x509.Certificate{}}
	i.lifetime.Store(int64(time.Hour))
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", i.openIDConfig)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", i.token)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", i.jwks)
	mux.HandleFunc("GET /msi/token", i.managedIdentity)
	i.srv = httptest.NewTLSServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

// URL is the issuer's base URL, https://127.0.0.1:PORT.
func (i *Issuer) URL() string { return i.srv.URL }

// AuthorityHost is the value for azidentity's authority host (and
// spillway's auth.entra.authority_host).
func (i *Issuer) AuthorityHost() string { return i.srv.URL + "/" }

// IssuerURL is the iss claim of the tokens: the tenant's v2.0 issuer.
func (i *Issuer) IssuerURL() string { return i.srv.URL + "/" + Tenant + "/v2.0" }

// JWKSURL is where the signing keys are published.
func (i *Issuer) JWKSURL() string { return i.srv.URL + "/" + Tenant + "/discovery/v2.0/keys" }

// ManagedIdentityEndpoint is the value for IDENTITY_ENDPOINT.
func (i *Issuer) ManagedIdentityEndpoint() string { return i.srv.URL + "/msi/token" }

// Client returns an HTTP client trusting the issuer's certificate.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// WriteCA writes the issuer's certificate as PEM into dir and returns the
// path: the value for SSL_CERT_FILE in a child process.
func (i *Issuer) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "entratest-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// AddClientSecret registers an application that may get tokens with secret.
func (i *Issuer) AddClientSecret(clientID, secret string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.secrets[clientID] = secret
}

// AddFederatedToken registers an application that may get tokens with the
// client assertion token (the content of a workload identity token file).
func (i *Issuer) AddFederatedToken(clientID, token string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.assertions[clientID] = token
}

// AddClientCertificate registers an application that may get tokens with a
// client assertion signed by cert's key (what the SDK's certificate
// credential sends).
func (i *Issuer) AddClientCertificate(clientID string, cert *x509.Certificate) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.certs[clientID] = cert
}

// NewCertificate returns a self-signed certificate and a PEM file holding
// it and its private key (the form auth.entra.certificate takes).
func NewCertificate(t testing.TB) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "entratest client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	return cert, out
}

// SetLifetime sets the lifetime of the tokens issued from now on.
func (i *Issuer) SetLifetime(d time.Duration) { i.lifetime.Store(int64(d)) }

// SetFailing makes token requests fail (500) until called with false.
func (i *Issuer) SetFailing(fail bool) { i.failing.Store(fail) }

// Issued is the number of access tokens issued so far.
func (i *Issuer) Issued() int64 { return i.issued.Load() }

// IssuedToken reports whether tok is an access token this issuer issued.
func (i *Issuer) IssuedToken(tok string) bool { _, ok := i.tokens.Load(tok); return ok }

// Rotate adds a new signing key; tokens signed from now on use it. Old keys
// stay published.
func (i *Issuer) Rotate() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // the system's random source failed
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, &signingKey{kid: "k" + strconv.Itoa(len(i.keys)+1), key: k})
}

// DropOldKeys unpublishes every key but the current one.
func (i *Issuer) DropOldKeys() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = i.keys[len(i.keys)-1:]
}

// Claims are a token's claims beyond iss, iat, nbf and exp.
type Claims = jwt.MapClaims

// Sign signs claims with the current key; iss, iat and nbf are added when
// absent, and exp from the lifetime.
func (i *Issuer) Sign(c Claims) string {
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	return SignWith(k.key, k.kid, i.withDefaults(c))
}

func (i *Issuer) withDefaults(c Claims) Claims {
	now := time.Now()
	out := Claims{"iss": i.IssuerURL(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Duration(i.lifetime.Load())).Unix(), "tid": Tenant, "ver": "2.0"}
	for k, v := range c {
		out[k] = v
	}
	return out
}

// SignWith signs claims with any RSA key (a forger's, in tests).
func SignWith(key *rsa.PrivateKey, kid string, c Claims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		panic(err) // RS256 with a valid key cannot fail
	}
	return s
}

func (i *Issuer) openIDConfig(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	writeJSON(w, 200, map[string]any{
		"issuer":                 i.srv.URL + "/" + tenant + "/v2.0",
		"authorization_endpoint": i.srv.URL + "/" + tenant + "/oauth2/v2.0/authorize",
		"token_endpoint":         i.srv.URL + "/" + tenant + "/oauth2/v2.0/token",
		"jwks_uri":               i.srv.URL + "/" + tenant + "/discovery/v2.0/keys",
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	keys := make([]map[string]string, 0, len(i.keys))
	for _, k := range i.keys {
		keys = append(keys, map[string]string{
			"kty": "RSA", "use": "sig", "kid": k.kid, "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		})
	}
	i.mu.Unlock()
	writeJSON(w, 200, map[string]any{"keys": keys})
}

// token serves the client-credential grant, with a client secret or a
// client assertion.
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", err.Error())
		return
	}
	if i.failing.Load() {
		oauthError(w, 500, "temporarily_unavailable", "entratest: failing on purpose")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		oauthError(w, 400, "unsupported_grant_type", "only client_credentials")
		return
	}
	client := f.Get("client_id")
	i.mu.Lock()
	secret, hasSecret := i.secrets[client]
	assertion, hasAssertion := i.assertions[client]
	i.mu.Unlock()
	switch {
	case f.Get("client_secret") != "":
		if !hasSecret || f.Get("client_secret") != secret {
			oauthError(w, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
			return
		}
	case f.Get("client_assertion") != "" && i.certificate(client) != nil:
		if err := i.checkCertAssertion(client, f.Get("client_assertion"), r); err != nil {
			oauthError(w, 401, "invalid_client", "AADSTS700027: Client assertion failed signature validation: "+err.Error())
			return
		}
	case f.Get("client_assertion") != "":
		if !hasAssertion || f.Get("client_assertion") != assertion {
			oauthError(w, 401, "invalid_client", "AADSTS700213: No matching federated identity record found.")
			return
		}
	default:
		oauthError(w, 401, "invalid_client", "no client credential")
		return
	}
	scope := f.Get("scope")
	aud := strings.TrimSuffix(strings.Fields(scope + " x")[0], "/.default")
	tok, life := i.issue(aud, client, r.PathValue("tenant"))
	writeJSON(w, 200, map[string]any{
		"token_type": "Bearer", "access_token": tok,
		"expires_in": int64(life / time.Second), "ext_expires_in": int64(life / time.Second),
	})
}

// managedIdentity serves App Service's managed identity endpoint
// (api-version 2019-08-01).
func (i *Issuer) managedIdentity(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-IDENTITY-HEADER") != IdentityHeader {
		writeJSON(w, 401, map[string]any{"error": "unauthorized", "message": "bad X-IDENTITY-HEADER"})
		return
	}
	if i.failing.Load() {
		writeJSON(w, 500, map[string]any{"error": "unavailable", "message": "entratest: failing on purpose"})
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		writeJSON(w, 400, map[string]any{"error": "invalid_request", "message": "resource is required"})
		return
	}
	client := q.Get("client_id")
	if client == "" {
		client = "system-assigned"
	}
	tok, life := i.issue(resource, client, Tenant)
	writeJSON(w, 200, map[string]any{
		"access_token": tok, "token_type": "Bearer", "resource": resource, "client_id": client,
		"expires_on": strconv.FormatInt(time.Now().Add(life).Unix(), 10),
	})
}

func (i *Issuer) certificate(client string) *x509.Certificate {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.certs[client]
}

// checkCertAssertion verifies a client assertion as Entra ID does: signed
// by the registered certificate's key, issued by and about the client, for
// this token endpoint, not expired.
func (i *Issuer) checkCertAssertion(client, assertion string, r *http.Request) error {
	cert := i.certificate(client)
	endpoint := i.srv.URL + r.URL.Path
	_, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
		jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(endpoint), jwt.WithIssuer(client),
		jwt.WithSubject(client), jwt.WithExpirationRequired())
	return err
}

func (i *Issuer) issue(aud, appID, tenant string) (string, time.Duration) {
	life := time.Duration(i.lifetime.Load())
	n := i.issued.Add(1)
	tok := i.Sign(Claims{"aud": aud, "appid": appID, "azp": appID, "oid": "oid-" + appID, "tid": tenant, "sub": appID, "uti": strconv.FormatInt(n, 10)})
	i.tokens.Store(tok, struct{}{})
	return tok, life
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{status}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// String describes the issuer for logs.
func (i *Issuer) String() string { return fmt.Sprintf("entratest issuer at %s", i.srv.URL) }
