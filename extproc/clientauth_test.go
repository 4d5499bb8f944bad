package extproc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/jwtauth"
)

// fakeVerifier accepts the tokens it knows.
type fakeVerifier map[string]*jwtauth.Claims

func (f fakeVerifier) Verify(_ context.Context, raw string) (*jwtauth.Claims, error) {
	if c, ok := f[raw]; ok {
		return c, nil
	}
	if raw == "eyJ.insufficient.x" {
		return nil, &jwtauth.Error{Insufficient: true, Reason: "the token holds none of the required roles"}
	}
	return nil, &jwtauth.Error{Reason: "the token has expired"}
}

func authTable(t *testing.T, consumers []config.Consumer) *Table {
	t.Helper()
	t.Setenv("SPILLWAY_TEST_KEY", "key-1")
	cfg := &config.Config{Consumers: consumers, Models: []config.Model{{Name: "gpt-4o", Backends: []config.Backend{{Name: "b", Kind: config.TPM, Deployment: "d", TPM: 1000}}}}}
	tbl, err := NewTable(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func hdrs(kv ...string) headers {
	var h headers
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return h
}

func TestIdentify(t *testing.T) {
	consumers := []config.Consumer{
		{Name: "keyed", APIKey: config.Secret{Env: "SPILLWAY_TEST_KEY"}},
		{Name: "by-app", Entra: config.ConsumerEntra{AppID: "app-1"}},
		{Name: "by-role", Entra: config.ConsumerEntra{Role: "Gateway.Invoke"}},
	}
	v := fakeVerifier{
		"eyJ.app1.x":     {AppID: "app-1"},
		"eyJ.role.x":     {AppID: "app-9", Roles: []string{"Reader", "Gateway.Invoke"}},
		"eyJ.stranger.x": {AppID: "app-7"},
	}
	tests := []struct {
		name      string
		verifier  bool
		consumers []config.Consumer
		h         headers
		want      string
		status    int
		challenge string
	}{
		{"api-key", true, consumers, hdrs("api-key", "key-1"), "keyed", 0, ""},
		{"key as Bearer", true, consumers, hdrs("authorization", "Bearer key-1"), "keyed", 0, ""},
		{"token by app id", true, consumers, hdrs("authorization", "Bearer eyJ.app1.x"), "by-app", 0, ""},
		{"token by role", true, consumers, hdrs("authorization", "Bearer eyJ.role.x"), "by-role", 0, ""},
		{"token mapping no consumer", true, consumers, hdrs("authorization", "Bearer eyJ.stranger.x"), "", 401, `error="insufficient_scope"`},
		{"invalid token", true, consumers, hdrs("authorization", "Bearer eyJ.expired.x"), "", 401, `error="invalid_token", error_description="the token has expired"`},
		{"token lacking a role", true, consumers, hdrs("authorization", "Bearer eyJ.insufficient.x"), "", 401, `error="insufficient_scope"`},
		{"wrong key", true, consumers, hdrs("api-key", "nope"), "", 401, ""},
		{"nothing", true, consumers, nil, "", 401, ""},
		{"token without client_auth is a wrong key", false, consumers, hdrs("authorization", "Bearer eyJ.app1.x"), "", 401, ""},
		{"token-only consumers: no anonymous access", true, consumers[1:], hdrs("api-key", "anything"), "", 401, ""},
		{"no consumers: anonymous", false, nil, nil, "anonymous", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := authTable(t, tt.consumers)
			if tt.verifier {
				tbl.SetTokenVerifier(v, "api://spillway")
			}
			p := &routerPhase{s: NewServer(tbl, Options{}), t: tbl}
			got, rej := p.identify(context.Background(), tt.h)
			if tt.status == 0 {
				if rej != nil || got != tt.want {
					t.Fatalf("identify = %q, %v; want %q", got, rej, tt.want)
				}
				return
			}
			ir := rej.GetImmediateResponse()
			if ir == nil || int(ir.Status.Code) != tt.status {
				t.Fatalf("identify = %q, %v; want an immediate %d", got, rej, tt.status)
			}
			ch := headerValue(ir.Headers, "www-authenticate")
			if (tt.challenge == "") != (ch == "") || !strings.Contains(ch, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q", ch, tt.challenge)
			}
		})
	}
}

func headerValue(m *extprocsvc.HeaderMutation, key string) string {
	for _, h := range m.GetSetHeaders() {
		if h.Header.Key == key {
			return string(h.Header.RawValue)
		}
	}
	return ""
}

func TestRoutable(t *testing.T) {
	a, b, c := &Backend{Name: "a"}, &Backend{Name: "b"}, &Backend{Name: "c"}
	m := &Model{Order: []*Backend{a, b, c}, names: []string{"a", "b", "c"}}
	tests := []struct {
		name    string
		healthy func(string) bool
		want    []string
		err     error
	}{
		{"no predicate", nil, []string{"a", "b", "c"}, nil},
		{"all healthy", func(string) bool { return true }, []string{"a", "b", "c"}, nil},
		{"one out", func(n string) bool { return n != "b" }, []string{"a", "c"}, nil},
		{"all out", func(string) bool { return false }, nil, errNoAuthenticatedBackend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{healthy: tt.healthy}
			names, order, err := s.routable(m)
			if !errors.Is(err, tt.err) || !slices.Equal(names, tt.want) || len(order) != len(tt.want) {
				t.Fatalf("routable = %v, %d backends, %v; want %v, %v", names, len(order), err, tt.want, tt.err)
			}
			for i, b := range order {
				if b.Name != tt.want[i] {
					t.Errorf("order[%d] = %s, want %s", i, b.Name, tt.want[i])
				}
			}
		})
	}
}

type fakeTokens map[string]string

func (f fakeTokens) Token(b string) (string, bool) { v, ok := f[b]; return v, ok }

func TestSetCredential(t *testing.T) {
	tests := []struct {
		name    string
		b       *Backend
		wantKey string
		wantVal string
	}{
		{"api key", &Backend{Name: "k", apiKey: "backend-key"}, "api-key", "backend-key"},
		{"entra token", &Backend{Name: "e", entra: true}, "authorization", "Bearer tok-e"},
		{"entra without a token", &Backend{Name: "gone", entra: true}, "", ""},
		{"no credential", &Backend{Name: "open"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &upstreamPhase{s: NewServer(&Table{}, Options{Tokens: fakeTokens{"e": "tok-e"}})}
			var m mutation
			p.setCredential(&m, tt.b)
			set := m.m.GetSetHeaders()
			if tt.wantKey == "" {
				if len(set) != 0 {
					t.Fatalf("set %v, want nothing", set)
				}
				return
			}
			if len(set) != 1 || set[0].Header.Key != tt.wantKey || string(set[0].Header.RawValue) != tt.wantVal {
				t.Fatalf("set %v, want %s: %s", set, tt.wantKey, tt.wantVal)
			}
		})
	}
}
