package test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/entra/entratest"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// Entra ID both ways through real Envoy: the simulator's deployments accept
// only Entra ID tokens (keys refused, as with disableLocalAuth), spillway
// gets them from a local token issuer (managed identity for the PTU, a
// service principal's client secret for the TPM), and clients may present
// either a key or an Entra ID token of their own.

const (
	entraSPClient  = "spillway-sp-client"
	entraSPSecret  = "sp-secret-1"
	entraClientApp = "client-app-b"
	entraGatewayID = "api://spillway-e2e"
	// entraTokenLife is short so the run sees several refreshes (exp is in
	// whole seconds and spillway does not use a token's last 2 s: usable
	// for 3-4 s, renewed after half of that).
	entraTokenLife = 6 * time.Second
)

func entraSimConfig(iss *entratest.Issuer) string {
	return `
time_scale: 1.0
seed: 7
entra: {issuer: "` + iss.IssuerURL() + `", jwks_url: "` + iss.JWKSURL() + `"}
deployments:
  - name: gpt-4o-ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 1000000
    latency: {first_token_ms: 2, tokens_per_second: 5000}
    completion: {mode: fixed, tokens: 8}
    disable_local_auth: true
  - name: gpt-4o-eastus2
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 1000000
    latency: {first_token_ms: 2, tokens_per_second: 5000}
    completion: {mode: fixed, tokens: 8}
    disable_local_auth: true
`
}

func entraGatewayConfig(iss *entratest.Issuer) string {
	return `
gateway:
  listen: {{GATEWAY}}
  body_limit_bytes: 65536
  request_timeout: 30s
control:
  grpc_listen: {{GRPC}}
  admin_listen: {{ADMIN}}
  node_id: e2e
client_auth:
  entra:
    issuers: ["` + iss.IssuerURL() + `"]
    jwks_url: "` + iss.JWKSURL() + `"
    audiences: [` + entraGatewayID + `]
consumers:
  - name: team-a
    api_key: {file: secrets/client-key}
  - name: app-b
    entra: {app_id: ` + entraClientApp + `}
retry:
  backoff_base: 5ms
  backoff_max: 20ms
  per_try_timeout: 20s
routing: reactive
models:
  - name: gpt-4o
    backends:
      - name: ptu-eastus
        kind: ptu
        endpoint: http://{{SIM}}
        deployment: gpt-4o-ptu
        api_version: 2024-10-21
        region: eastus
        capacity_tpm: 1000000
        auth:
          entra: {credential: managed_identity}
      - name: tpm-eastus2
        kind: tpm
        endpoint: http://{{SIM}}
        deployment: gpt-4o-eastus2
        api_version: 2024-10-21
        region: eastus2
        tpm: 1000000
        priority: 1
        auth:
          entra:
            credential: client_secret
            tenant_id: ` + entratest.Tenant + `
            client_id: ` + entraSPClient + `
            client_secret: {file: secrets/sp-secret}
            authority_host: ` + iss.AuthorityHost() + `
            disable_instance_discovery: true
`
}

type credentialStates struct {
	Backends []struct {
		Backend   string `json:"backend"`
		Healthy   bool   `json:"healthy"`
		LastError string `json:"last_error"`
	} `json:"backends"`
}

func (s *stack) credentials() credentialStates {
	s.t.Helper()
	body, ok := e2etest.Get(s.spillAdmin + "/credentials")
	if !ok {
		s.t.Fatalf("GET /credentials: %s", body)
	}
	var st credentialStates
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		s.t.Fatalf("decode /credentials: %v", err)
	}
	return st
}

func (st credentialStates) allHealthy(want bool) bool {
	if len(st.Backends) != 2 {
		return false
	}
	for _, b := range st.Backends {
		if b.Healthy != want {
			return false
		}
	}
	return true
}

func TestEntraEndToEnd(t *testing.T) {
	iss := entratest.New(t)
	iss.SetLifetime(entraTokenLife)
	iss.AddClientSecret(entraSPClient, entraSPSecret)
	// spillway and the simulator are child processes: they trust the
	// issuer's certificate through SSL_CERT_FILE, and spillway's managed
	// identity is the App Service form azidentity reads from the environment.
	t.Setenv("SSL_CERT_FILE", iss.WriteCA(t, t.TempDir()))
	t.Setenv("IDENTITY_ENDPOINT", iss.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", entratest.IdentityHeader)

	e := e2etest.StartStack(t, e2etest.Options{
		Bin: spillwayBin, SimYAML: entraSimConfig(iss), GatewayYAML: entraGatewayConfig(iss),
		LogLevel: "info",
		Secrets:  map[string]string{"secrets/sp-secret": entraSPSecret + "\n"},
	})
	s := &stack{t: t, e: e, dir: e.Dir, gatewayURL: e.GatewayURL, simURL: e.SimURL, envoyAdmin: e.EnvoyAdmin, spillAdmin: e.SpillAdmin,
		gatewayFile: e.GatewayFile, spillway: &process{name: e.Spillway.Name, out: e.Spillway.Out}, ports: e.Ports}
	waitFor(t, "both backends' tokens", 15*time.Second, func() bool { return s.credentials().allHealthy(true) })
	ctx := context.Background()
	const body = `{"messages":[{"role":"user","content":"hello"}],"max_tokens":8}`

	t.Run("entra-only backends are served", func(t *testing.T) {
		s.resetLedger()
		r := s.chat(ctx, body, nil)
		if r.status != 200 || r.header.Get("x-spillway-backend") != "ptu-eastus" {
			t.Fatalf("status %d from %q: %s", r.status, r.header.Get("x-spillway-backend"), r.body)
		}
		// The PTU fails: the request spills to the service principal's backend.
		r = s.chat(ctx, body, map[string]string{"x-sim-fault": "500@gpt-4o-ptu"})
		if r.status != 200 || r.header.Get("x-spillway-backend") != "tpm-eastus2" {
			t.Fatalf("status %d from %q: %s", r.status, r.header.Get("x-spillway-backend"), r.body)
		}
		l := s.ledger()
		if got := l.Deployments["gpt-4o-eastus2"].Responses["200"]; got != 1 {
			t.Errorf("tpm 200s = %d, want 1", got)
		}
		for name, d := range l.Deployments {
			if d.Responses["401"]+d.Responses["403"] != 0 {
				t.Errorf("%s refused the gateway's credential: %v", name, d.Responses)
			}
		}
	})

	t.Run("client token identifies a consumer", func(t *testing.T) {
		tok := iss.Sign(entratest.Claims{"aud": entraGatewayID, "azp": entraClientApp, "oid": "oid-b"})
		r := s.chat(ctx, body, map[string]string{"api-key": "", "authorization": "Bearer " + tok})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		waitFor(t, "the request log line", 5*time.Second, func() bool {
			return strings.Contains(s.spillway.out.String(), `"consumer":"app-b"`)
		})
	})

	t.Run("bad client tokens get 401", func(t *testing.T) {
		s.resetLedger()
		now := time.Now()
		tests := []struct {
			name, token, errorCode, challenge string
		}{
			{"expired", iss.Sign(entratest.Claims{"aud": entraGatewayID, "azp": entraClientApp, "exp": now.Add(-time.Hour).Unix()}), "401", `error="invalid_token", error_description="the token has expired"`},
			{"another audience", iss.Sign(entratest.Claims{"aud": "https://cognitiveservices.azure.com", "azp": entraClientApp}), "401", `error="invalid_token"`},
			{"forged", forgedToken(t, iss), "401", `error="invalid_token", error_description="the token's signature is invalid"`},
			{"valid but unmapped", iss.Sign(entratest.Claims{"aud": entraGatewayID, "azp": "stranger"}), "PermissionDenied", `error="insufficient_scope"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.chat(ctx, body, map[string]string{"api-key": "", "authorization": "Bearer " + tt.token})
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %s", r.status, r.body)
				}
				if ch := r.header.Get("www-authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, tt.challenge) {
					t.Errorf("WWW-Authenticate = %q, want %q", ch, tt.challenge)
				}
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code != tt.errorCode || e.Error.Message == "" {
					t.Errorf("body %s, want an Azure error with code %s", r.body, tt.errorCode)
				}
			})
		}
		for name, d := range s.ledger().Deployments {
			if d.Requests != 0 {
				t.Errorf("%s got %d requests from refused clients", name, d.Requests)
			}
		}
	})

	t.Run("tokens refresh mid-run without a failed request", func(t *testing.T) {
		s.resetLedger()
		issued := iss.Issued()
		deadline := time.Now().Add(2 * entraTokenLife)
		n := 0
		for time.Now().Before(deadline) {
			hdr := map[string]string{}
			if n%2 == 1 {
				hdr["x-sim-fault"] = "500@gpt-4o-ptu" // every other request on the service principal's backend
			}
			if r := s.chat(ctx, body, hdr); r.status != 200 {
				t.Fatalf("request %d: status %d: %s", n, r.status, r.body)
			}
			n++
			time.Sleep(20 * time.Millisecond)
		}
		// Each credential's token is renewed every 2 s or less: over 12 s
		// each fetches at least 3 new ones.
		if got := iss.Issued() - issued; got < 6 {
			t.Errorf("%d tokens issued during %d requests over %v, want >= 6", got, n, 2*entraTokenLife)
		}
		t.Logf("%d requests, %d tokens issued, none failed", n, iss.Issued()-issued)
	})

	t.Run("no token: backends leave routing, then return", func(t *testing.T) {
		iss.SetFailing(true)
		// The SDK retries a failing token request for a few seconds before
		// giving up; then the error is recorded.
		waitFor(t, "both backends out, with the error", 30*time.Second, func() bool {
			st := s.credentials()
			return st.allHealthy(false) && st.Backends[0].LastError != "" && st.Backends[1].LastError != ""
		})
		for _, b := range s.credentials().Backends {
			if !strings.Contains(b.LastError, "failing on purpose") {
				t.Errorf("%s last_error = %q, want the issuer's error", b.Backend, b.LastError)
			}
		}
		s.resetLedger()
		r := s.chat(ctx, body, nil)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "Microsoft Entra ID token") {
			t.Errorf("status %d, want 503 naming the missing token: %s", r.status, r.body)
		}
		for name, d := range s.ledger().Deployments {
			if d.Requests != 0 {
				t.Errorf("%s was called without a token: %v", name, d.Responses)
			}
		}
		metrics, _ := e2etest.Get(s.spillAdmin + "/metrics")
		if metricValue(metrics, "spillway_backend_credential_valid{", `spillway_backend="ptu-eastus"`) != "0" ||
			metricValue(metrics, "spillway_entra_token_fetches_total{", `spillway_credential="managed_identity"`, `spillway_outcome="failure"`) == "" {
			t.Errorf("metrics do not show the failure:\n%s", grepLines(metrics, "entra", "credential"))
		}
		if out := s.spillway.out.String(); !strings.Contains(out, "entra: no valid token") {
			t.Error("no log line says the credential failed")
		}
		iss.SetFailing(false)
		waitFor(t, "both backends back", 15*time.Second, func() bool { return s.credentials().allHealthy(true) })
		if r := s.chat(ctx, body, nil); r.status != 200 {
			t.Errorf("after recovery: status %d: %s", r.status, r.body)
		}
	})
}

func forgedToken(t *testing.T, iss *entratest.Issuer) string {
	t.Helper()
	other := entratest.New(t) // another issuer's key, with this issuer's claims and kid
	tok := other.Sign(entratest.Claims{"aud": entraGatewayID, "azp": entraClientApp, "iss": iss.IssuerURL()})
	return tok
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// metricValue is the value of the first sample of a Prometheus text
// exposition that starts with name and holds every label; "" if none.
func metricValue(text, name string, labels ...string) string {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name) {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if ok {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return ""
}
