package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/tlsreload/tlsreloadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// loadExample is the bundled demo config, loaded as spillway serve loads it.
func loadExample(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../examples/gateway.yaml")
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	return cfg
}

func allResources(r *Resources) []types.Resource {
	return slices.Concat(r.Listeners, r.Routes, r.Clusters)
}

// TestGenerateGolden pins the Envoy configuration generated from
// examples/gateway.yaml. After an intended change, rewrite it with
//
//	go test ./xds -run TestGenerateGolden -update
//
// and review the diff: it is the change Envoy will see.
func TestGenerateGolden(t *testing.T) {
	res, err := Generate(loadExample(t))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var got bytes.Buffer
	for _, r := range allResources(res) {
		out, err := YAML(r)
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		got.WriteString("---\n")
		got.Write(out)
	}
	golden := filepath.Join("testdata", "gateway.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("generated resources differ from %s (run with -update and review the diff):\n%s",
			golden, lineDiff(string(want), got.String()))
	}
}

// lineDiff shows the first lines where want and got part, enough to see
// what changed without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  golden: " + wl + "\n  got:    " + gl
		}
	}
	return "(same lines, different bytes)"
}

// TestGeneratedResourcesAreValid runs Envoy's own field rules (the
// protoc-gen-validate ones its xDS server side enforces) on every resource,
// and reads each back from the YAML `spillway envoy config` prints.
func TestGeneratedResourcesAreValid(t *testing.T) {
	cfgs := map[string]*config.Config{
		"example":     loadExample(t),
		"mixed tls":   mixedConfig(t, 0),
		"one backend": oneBackendConfig(t),
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			res, err := Generate(cfg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			backends := 0
			for _, m := range cfg.Models {
				backends += len(m.Backends)
			}
			// The gateway listener, and an internal listener per backend;
			// a cluster per model, and one per backend.
			if len(res.Listeners) != 1+backends || len(res.Routes) != 1 || len(res.Clusters) != len(cfg.Models)+backends {
				t.Fatalf("got %d listeners, %d routes, %d clusters; want %d, 1, %d",
					len(res.Listeners), len(res.Routes), len(res.Clusters), 1+backends, len(cfg.Models)+backends)
			}
			for _, r := range allResources(res) {
				v, ok := r.(interface{ ValidateAll() error })
				if !ok {
					t.Fatalf("%T has no ValidateAll", r)
				}
				if err := v.ValidateAll(); err != nil {
					t.Errorf("%T is not valid: %v", r, err)
				}
				out, err := YAML(r)
				if err != nil {
					t.Fatalf("YAML: %v", err)
				}
				back := r.ProtoReflect().New().Interface()
				parseYAML(t, out, back)
				if canonical(t, r) != canonical(t, back) {
					t.Errorf("%T read back from YAML differs from the original:\n%s", r, out)
				}
			}
		})
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Run("status codes of the example", func(t *testing.T) {
		res, err := Generate(loadExample(t))
		if err != nil {
			t.Fatal(err)
		}
		p := modelRoute(t, res, "gpt-4o").GetRoute().GetRetryPolicy()
		if want := []uint32{408, 424, 429, 500, 502, 503, 504}; !slices.Equal(p.GetRetriableStatusCodes(), want) {
			t.Errorf("retriable status codes = %v, want %v", p.GetRetriableStatusCodes(), want)
		}
		if slices.Contains(p.GetRetriableStatusCodes(), 400) {
			t.Error("400 is retried")
		}
		on := strings.Split(p.GetRetryOn(), ",")
		for _, w := range []string{"retriable-status-codes", "reset", "connect-failure"} {
			if !slices.Contains(on, w) {
				t.Errorf("retry_on %q lacks %s", p.GetRetryOn(), w)
			}
		}
		// Broader conditions would retry what the codes leave out.
		for _, never := range []string{"4xx", "retriable-4xx", "5xx", "gateway-error"} {
			if slices.Contains(on, never) {
				t.Errorf("retry_on %q has %s", p.GetRetryOn(), never)
			}
		}
		if b := p.GetRetryBackOff(); b.GetBaseInterval().AsDuration() != config.DefaultBackoffBase.D() ||
			b.GetMaxInterval().AsDuration() != config.DefaultBackoffMax.D() {
			t.Errorf("backoff = %v, want the example's 25ms..250ms", b)
		}
		if got := p.GetPerTryTimeout().AsDuration(); got != config.DefaultPerTryTimeout.D() {
			t.Errorf("per-try timeout = %v", got)
		}
	})
	tests := []struct {
		name     string
		backends int
		attempts int
		want     uint32
	}{
		{"attempts 0: one per backend", 3, 0, 2},
		{"fewer attempts than backends", 3, 2, 1},
		{"one attempt: no retry", 3, 1, 0},
		{"as many attempts as backends", 3, 3, 2},
		{"more attempts than backends: capped", 3, 7, 2},
		{"one backend, attempts 0", 1, 0, 0},
		{"one backend, attempts 4: capped", 1, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mixedConfig(t, tt.backends)
			cfg.Retry.Attempts = tt.attempts
			res, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := modelRoute(t, res, "gpt-4o").GetRoute().GetRetryPolicy().GetNumRetries().GetValue(); got != tt.want {
				t.Errorf("num_retries = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("configured codes are sorted", func(t *testing.T) {
		cfg := mixedConfig(t, 0)
		cfg.Retry.StatusCodes = []int{503, 429}
		res, err := Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := modelRoute(t, res, "gpt-4o").GetRoute().GetRetryPolicy().GetRetriableStatusCodes(); !slices.Equal(got, []uint32{429, 503}) {
			t.Errorf("codes = %v, want [429 503]", got)
		}
	})
}

func TestRoutes(t *testing.T) {
	cfg := mixedConfig(t, 0)
	cfg.Models = append(cfg.Models, config.Model{Name: "gpt-4o-mini", Backends: []config.Backend{
		backend("mini", config.TPM, "https://mini.openai.azure.com", 0, 1),
	}})
	res, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Routes[0].(*routev3.RouteConfiguration)
	if rc.GetName() != RouteConfigName || !slices.Equal(rc.GetRequestHeadersToRemove(), []string{ModelHeader}) {
		t.Errorf("route config %q removes %v; want %q removing %s", rc.GetName(), rc.GetRequestHeadersToRemove(), RouteConfigName, ModelHeader)
	}
	routes := rc.GetVirtualHosts()[0].GetRoutes()
	var names []string
	for _, r := range routes {
		names = append(names, r.GetName())
	}
	// The catch-all comes last, or it would shadow every model.
	if want := []string{"model_gpt-4o", "model_gpt-4o-mini", "no_model"}; !slices.Equal(names, want) {
		t.Fatalf("routes = %v, want %v", names, want)
	}
	for i, m := range cfg.Models {
		r := routes[i]
		h := r.GetMatch().GetHeaders()
		if len(h) != 1 || h[0].GetName() != ModelHeader || h[0].GetStringMatch().GetExact() != m.Name {
			t.Errorf("route %s matches %v, want %s: %s", r.GetName(), h, ModelHeader, m.Name)
		}
		a := r.GetRoute()
		if a.GetCluster() != ClusterName(m.Name) || !a.GetAutoHostRewrite().GetValue() ||
			a.GetTimeout().AsDuration() != cfg.Gateway.RequestTimeout.D() {
			t.Errorf("route %s: cluster %q, auto_host_rewrite %v, timeout %v", r.GetName(), a.GetCluster(), a.GetAutoHostRewrite(), a.GetTimeout())
		}
	}
	if dr := routes[2].GetDirectResponse(); dr.GetStatus() != 404 || !json.Valid([]byte(dr.GetBody().GetInlineString())) {
		t.Errorf("no_model answers %d %q, want 404 with a JSON body", dr.GetStatus(), dr.GetBody().GetInlineString())
	}
}

// TestModelCluster: a model's cluster holds one endpoint per backend, in
// the static order, each an internal address whose listener forwards to the
// backend's own cluster; override_host picks the attempt's backend from the
// list the router-phase ext_proc wrote in the request's metadata.
func TestModelCluster(t *testing.T) {
	cfg := mixedConfig(t, 0)
	res, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := findCluster(t, res, ClusterName("gpt-4o"))
	policies := c.GetLoadBalancingPolicy().GetPolicies()
	if len(policies) != 1 || policies[0].GetTypedExtensionConfig().GetName() != "envoy.load_balancing_policies.override_host" {
		t.Fatalf("load balancing policy = %v, want override_host", policies)
	}
	var override overridehostv3.OverrideHost
	if err := policies[0].GetTypedExtensionConfig().GetTypedConfig().UnmarshalTo(&override); err != nil {
		t.Fatal(err)
	}
	src := override.GetOverrideHostSources()
	if len(src) != 1 || src[0].GetMetadata().GetKey() != MetadataNamespace ||
		len(src[0].GetMetadata().GetPath()) != 1 || src[0].GetMetadata().GetPath()[0].GetKey() != HostsKey {
		t.Errorf("override host sources = %v, want metadata %s.%s", src, MetadataNamespace, HostsKey)
	}
	if got := c.GetTransportSocket().GetName(); got != "envoy.transport_sockets.internal_upstream" {
		t.Errorf("model cluster transport socket = %q, want internal_upstream", got)
	}

	order := cfg.Models[0].StaticOrder()
	var lbs []*endpointv3.LbEndpoint
	for _, loc := range c.GetLoadAssignment().GetEndpoints() {
		lbs = append(lbs, loc.GetLbEndpoints()...)
	}
	if len(lbs) != len(order) {
		t.Fatalf("%d endpoints, want one per backend (%d)", len(lbs), len(order))
	}
	for i, b := range order {
		t.Run(b.Name, func(t *testing.T) {
			lb := lbs[i]
			if got := lb.GetMetadata().GetFilterMetadata()[MetadataNamespace].GetFields()[BackendKey].GetStringValue(); got != b.Name {
				t.Errorf("endpoint %d: metadata %s.%s = %q, want %q (the static order)", i, MetadataNamespace, BackendKey, got, b.Name)
			}
			u, err := config.ParseEndpoint(b.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			ep := lb.GetEndpoint()
			if ep.GetHostname() != u.Host {
				t.Errorf("hostname %q, want %q (the Host header, through auto_host_rewrite)", ep.GetHostname(), u.Host)
			}
			if got := ep.GetAddress().GetEnvoyInternalAddress().GetServerListenerName(); got != BackendName(b.Name) {
				t.Errorf("address = %v, want the internal listener %s", ep.GetAddress(), BackendName(b.Name))
			}

			// The internal listener forwards to the backend's cluster...
			l := findListener(t, res, BackendName(b.Name))
			if l.GetInternalListener() == nil {
				t.Errorf("listener %s is not internal", l.GetName())
			}
			var proxy tcpproxyv3.TcpProxy
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&proxy); err != nil {
				t.Fatal(err)
			}
			if proxy.GetCluster() != BackendName(b.Name) {
				t.Errorf("listener %s forwards to %q", l.GetName(), proxy.GetCluster())
			}
			// ...which resolves the resource's name.
			bc := findCluster(t, res, BackendName(b.Name))
			sa := bc.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
			if bc.GetType() != clusterv3.Cluster_STRICT_DNS || sa.GetAddress() != u.Host || sa.GetPortValue() != u.Port {
				t.Errorf("backend cluster %v %s:%d, want STRICT_DNS %s:%d", bc.GetType(), sa.GetAddress(), sa.GetPortValue(), u.Host, u.Port)
			}
		})
	}
}

// TestBackendTLS: https backends get TLS with the resource's name as SNI
// and as the certificate name to verify; http backends (the simulator) none.
func TestBackendTLS(t *testing.T) {
	cfg := mixedConfig(t, 0)
	res, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Models[0].Backends {
		t.Run(b.Name, func(t *testing.T) {
			u, err := config.ParseEndpoint(b.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			ts := findCluster(t, res, BackendName(b.Name)).GetTransportSocket()
			if !u.TLS {
				if ts != nil {
					t.Errorf("http backend has transport socket %s", ts.GetName())
				}
				return
			}
			if ts.GetName() != "envoy.transport_sockets.tls" {
				t.Fatalf("https backend transport socket = %q, want tls", ts.GetName())
			}
			var tls tlsv3.UpstreamTlsContext
			if err := ts.GetTypedConfig().UnmarshalTo(&tls); err != nil {
				t.Fatal(err)
			}
			if tls.GetSni() != u.Host {
				t.Errorf("sni = %q, want %q", tls.GetSni(), u.Host)
			}
			vc := tls.GetCommonTlsContext().GetValidationContext()
			sans := vc.GetMatchTypedSubjectAltNames()
			if len(sans) != 1 || sans[0].GetMatcher().GetExact() != u.Host || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_DNS {
				t.Errorf("subject alt names = %v, want DNS %s", sans, u.Host)
			}
			if vc.GetTrustedCa().GetFilename() != SystemCABundle {
				t.Errorf("trusted CA = %v, want %s", vc.GetTrustedCa(), SystemCABundle)
			}
		})
	}
	t.Run("the example has no tls", func(t *testing.T) {
		res, err := Generate(loadExample(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Clusters {
			if c := r.(*clusterv3.Cluster); c.GetTransportSocket().GetName() == "envoy.transport_sockets.tls" {
				t.Errorf("cluster %s of the http-only example uses tls", c.GetName())
			}
		}
	})
}

func TestBufferLimits(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
	}{
		{"minimum", 1024},
		{"default", config.DefaultBodyLimit},
		{"odd size", 3_000_001},
		{"maximum", config.MaxBodyLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mixedConfig(t, 0)
			cfg.Gateway.BodyLimitBytes = tt.limit
			res, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(2 * tt.limit)
			limits := map[string]uint64{
				"gateway listener per_connection_buffer_limit_bytes": uint64(findListener(t, res, ListenerName).GetPerConnectionBufferLimitBytes().GetValue()),
				"virtual host request_body_buffer_limit":             res.Routes[0].(*routev3.RouteConfiguration).GetVirtualHosts()[0].GetRequestBodyBufferLimit().GetValue(),
			}
			for _, r := range res.Clusters {
				c := r.(*clusterv3.Cluster)
				limits["cluster "+c.GetName()+" per_connection_buffer_limit_bytes"] = uint64(c.GetPerConnectionBufferLimitBytes().GetValue())
			}
			for what, got := range limits {
				if got < want {
					t.Errorf("%s = %d, want at least 2 x %d", what, got, tt.limit)
				}
			}
		})
	}
}

func TestListener(t *testing.T) {
	cfg := loadExample(t)
	res, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := findListener(t, res, ListenerName)
	sa := l.GetAddress().GetSocketAddress()
	if l.GetName() != ListenerName || sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 10000 {
		t.Errorf("listener %q on %s:%d", l.GetName(), sa.GetAddress(), sa.GetPortValue())
	}
	var hcm hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var filters []string
	for _, f := range hcm.GetHttpFilters() {
		filters = append(filters, f.GetName())
	}
	// ext_proc must see the request before the router sends it.
	if want := []string{"envoy.filters.http.ext_proc", "envoy.filters.http.router"}; !slices.Equal(filters, want) {
		t.Errorf("http filters = %v, want %v", filters, want)
	}
	if hcm.GetRds().GetRouteConfigName() != RouteConfigName {
		t.Errorf("rds route config = %q", hcm.GetRds().GetRouteConfigName())
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *config.Config)
		wantErr string
	}{
		{"listen without a port", func(c *config.Config) { c.Gateway.Listen = "127.0.0.1" }, "gateway.listen"},
		{"backend endpoint", func(c *config.Config) { c.Models[0].Backends[1].Endpoint = "ftp://x" }, "backend tpm-eastus2: endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadExample(t)
			tt.mutate(cfg)
			res, err := Generate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || res != nil {
				t.Errorf("Generate = %v, %v; want an error about %s", res, err, tt.wantErr)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	tests := []struct {
		name string
		opts BootstrapOptions
		file string // a committed copy that must match, or ""
	}{
		{"defaults", BootstrapOptions{NodeID: config.DefaultNodeID, Control: []string{config.DefaultGRPCListen}, Admin: "127.0.0.1:9901"}, "../envoy/bootstrap.yaml"},
		{"compose", BootstrapOptions{NodeID: config.DefaultNodeID, Control: []string{"spillway:18000"}, Admin: "0.0.0.0:9901"}, "../envoy/bootstrap.compose.yaml"},
		{"ipv6 admin", BootstrapOptions{NodeID: "edge", Control: []string{"[::1]:18000"}, Admin: "[::1]:9901"}, ""},
		{"replicas", BootstrapOptions{NodeID: "edge", Control: []string{"10.0.0.1:18000", "10.0.0.2:18000", "spillway:18001"}, Admin: "127.0.0.1:9901"}, ""},
		{"tls with a server name", BootstrapOptions{NodeID: "edge", Control: []string{"10.0.0.1:18000", "10.0.0.2:18000"}, Admin: "127.0.0.1:9901",
			TLS: &ControlTLS{CAFile: "/etc/tls/ca.crt", ServerName: "spillway.internal"}}, ""},
		{"mutual tls", BootstrapOptions{NodeID: "edge", Control: []string{"spillway:18000"}, Admin: "127.0.0.1:9901",
			TLS: &ControlTLS{CAFile: "/etc/tls/ca.crt", CertFile: "/etc/tls/envoy.crt", KeyFile: "/etc/tls/envoy.key"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Bootstrap(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.ValidateAll(); err != nil {
				t.Errorf("bootstrap is not valid: %v", err)
			}
			out, err := YAML(b)
			if err != nil {
				t.Fatal(err)
			}
			var back bootstrapv3.Bootstrap
			parseYAML(t, out, &back)
			if canonical(t, b) != canonical(t, &back) {
				t.Errorf("bootstrap read back from its YAML differs:\n%s", out)
			}
			if back.GetNode().GetId() != tt.opts.NodeID ||
				back.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != ControlCluster {
				t.Errorf("node %q, ads cluster %v", back.GetNode().GetId(), back.GetDynamicResources().GetAdsConfig())
			}
			if tt.file == "" {
				return
			}
			committed, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var fromFile bootstrapv3.Bootstrap
			parseYAML(t, committed, &fromFile)
			if canonical(t, b) != canonical(t, &fromFile) {
				t.Errorf("%s is out of date: regenerate it with spillway envoy bootstrap", tt.file)
			}
		})
	}
	for _, bad := range []BootstrapOptions{
		{NodeID: "n", Control: []string{"spillway"}, Admin: "127.0.0.1:9901"},
		{NodeID: "n", Control: []string{"spillway:18000", "other"}, Admin: "127.0.0.1:9901"},
		{NodeID: "n", Control: nil, Admin: "127.0.0.1:9901"},
		{NodeID: "n", Control: []string{"spillway:18000"}, Admin: "127.0.0.1:0"},
		{NodeID: "n", Control: []string{"spillway:18000"}, Admin: "127.0.0.1:9901", TLS: &ControlTLS{}},
		{NodeID: "n", Control: []string{"spillway:18000"}, Admin: "127.0.0.1:9901", TLS: &ControlTLS{CAFile: "ca", CertFile: "c"}},
		{NodeID: "n", Control: []string{"a:18000", "b:18000"}, Admin: "127.0.0.1:9901", TLS: &ControlTLS{CAFile: "ca"}},
	} {
		if _, err := Bootstrap(bad); err == nil {
			t.Errorf("Bootstrap(%+v) accepted a bad address", bad)
		}
	}
}

// parseYAML reads YAML (as `spillway envoy ...` prints it, or as written by
// hand) into a proto message, the way Envoy reads a YAML config.
func parseYAML(t *testing.T, data []byte, m proto.Message) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("yaml to json: %v", err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		t.Fatalf("read %T: %v\n%s", m, err, data)
	}
}

func findCluster(t *testing.T, res *Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, r := range res.Clusters {
		if c := r.(*clusterv3.Cluster); c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %s", name)
	return nil
}

func findListener(t *testing.T, res *Resources, name string) *listenerv3.Listener {
	t.Helper()
	for _, r := range res.Listeners {
		if l := r.(*listenerv3.Listener); l.GetName() == name {
			return l
		}
	}
	t.Fatalf("no listener %s", name)
	return nil
}

// canonical is m as JSON with sorted keys. proto.Equal would compare the
// bytes inside Any fields, where map entries (structpb) come in any order.
func canonical(t *testing.T, m proto.Message) string {
	t.Helper()
	js, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func modelRoute(t *testing.T, res *Resources, model string) *routev3.Route {
	t.Helper()
	for _, r := range res.Routes[0].(*routev3.RouteConfiguration).GetVirtualHosts()[0].GetRoutes() {
		if r.GetName() == "model_"+model {
			return r
		}
	}
	t.Fatalf("no route for model %s", model)
	return nil
}

func backend(name string, kind config.Kind, endpoint string, priority, weight int) config.Backend {
	b := config.Backend{
		Name: name, Kind: kind, Endpoint: endpoint, Deployment: name, APIVersion: "2024-10-21",
		Region: "region-" + name, Subscription: "sub", Priority: priority, Weight: weight,
	}
	if kind == config.PTU {
		b.CapacityTPM = 1000
	} else {
		b.TPM = 1000
	}
	return b
}

// mixedConfig is a valid config whose model gpt-4o has n backends (all five
// when n is 0), written out of order, on https and http endpoints.
func mixedConfig(t *testing.T, n int) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("gateway: {listen: 0.0.0.0:10000}"))
	if err != nil {
		t.Fatal(err)
	}
	all := []config.Backend{
		backend("tpm-westus3", config.TPM, "https://westus3.openai.azure.com", 2, 1),
		backend("tpm-eastus2-heavy", config.TPM, "https://eastus2.openai.azure.com:8443", 1, 5),
		backend("ptu-eastus", config.PTU, "https://ptu.openai.azure.com", 5, 1),
		backend("sim", config.TPM, "http://sim:8081", 1, 1),
		backend("local", config.TPM, "http://127.0.0.1", 3, 1),
	}
	if n == 0 {
		n = len(all)
	}
	cfg.Models = []config.Model{{Name: "gpt-4o", Backends: all[:n]}}
	if err := cfg.Validate(t.TempDir()); err != nil {
		t.Fatalf("mixedConfig is not valid: %v", err)
	}
	return cfg
}

func oneBackendConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := mixedConfig(t, 1)
	cfg.Retry.Attempts = 3
	return cfg
}

// TestEnvoyAcceptsGeneratedConfig asks the real Envoy (envoy --mode
// validate, no sockets opened) whether it accepts the generated resources,
// laid out as static resources beside the bootstrap, the route table inlined.
// Skipped where no envoy binary is on PATH (make envoy installs it).
func TestEnvoyAcceptsGeneratedConfig(t *testing.T) {
	envoy, err := exec.LookPath("envoy")
	if err != nil {
		t.Skip("no envoy on PATH")
	}
	cfgs := map[string]*config.Config{
		"example":   loadExample(t),
		"mixed tls": mixedConfig(t, 0),
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			res, err := Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Bootstrap(BootstrapOptions{NodeID: cfg.Control.NodeID, Control: []string{cfg.Control.GRPCListen, "127.0.0.2:18000"}, Admin: "127.0.0.1:9901", TLS: envoyTLS(t)})
			if err != nil {
				t.Fatal(err)
			}
			rc := res.Routes[0].(*routev3.RouteConfiguration)
			for _, r := range res.Listeners {
				l := proto.Clone(r).(*listenerv3.Listener)
				for _, fc := range l.GetFilterChains() {
					for _, f := range fc.GetFilters() {
						var hcm hcmv3.HttpConnectionManager
						if f.GetTypedConfig().MessageIs(&hcm) {
							if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
								t.Fatal(err)
							}
							hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
							f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&hcm)}
						}
					}
				}
				b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
			}
			for _, r := range res.Clusters {
				b.StaticResources.Clusters = append(b.StaticResources.Clusters, r.(*clusterv3.Cluster))
			}
			out, err := YAML(b)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "envoy.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", path, "--log-level", "error")
			if log, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("envoy refuses the generated config: %v\n%s", err, log)
			}
		})
	}
}

// envoyTLS writes a CA and a client certificate for Envoy, so that Envoy's
// validation of a bootstrap with mutual TLS to spillway reads real files.
func envoyTLS(t *testing.T) *ControlTLS {
	t.Helper()
	dir := t.TempDir()
	ca := tlsreloadtest.NewCA(t, "ca")
	leaf := ca.Client(t, "envoy")
	o := &ControlTLS{ServerName: "spillway", CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "envoy.crt"), KeyFile: filepath.Join(dir, "envoy.key")}
	for p, data := range map[string][]byte{o.CAFile: ca.PEM, o.CertFile: leaf.CertPEM, o.KeyFile: leaf.KeyPEM} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// TestControlFailureReply: when no spillway replica answers, both ext_proc
// filters answer ControlErrorStatus, and the local reply config turns that
// status, and only that one, into an Azure 503 with retry-after. The
// end-to-end proof with a real Envoy is test/replicas_test.go.
func TestControlFailureReply(t *testing.T) {
	cfg := loadExample(t)
	for name, ep := range map[string]*extprocv3.ExternalProcessor{"router": routerExtProc(cfg), "upstream": upstreamExtProc(cfg)} {
		t.Run(name, func(t *testing.T) {
			if got := ep.GetStatusOnError().GetCode(); got != ControlErrorStatus {
				t.Errorf("status_on_error = %v, want %v", got, ControlErrorStatus)
			}
			rp := ep.GetGrpcService().GetRetryPolicy()
			if rp.GetRetryOn() != "connect-failure,refused-stream,reset" || rp.GetNumRetries().GetValue() < 1 ||
				len(rp.GetRetryHostPredicate()) != 1 || rp.GetRetryHostPredicate()[0].GetName() != "envoy.retry_host_predicates.previous_hosts" {
				t.Errorf("ext_proc stream retry policy = %v, want retries on another replica", rp)
			}
		})
	}
	mappers := localReplyConfig(cfg.Gateway.BodyLimitBytes).GetMappers()
	first := mappers[0]
	or := first.GetFilter().GetOrFilter().GetFilters()
	if len(or) != 2 {
		t.Fatalf("first mapper matches %v, want status == %d or ext_proc's own details", first.GetFilter(), ControlErrorStatus)
	}
	cmp := or[0].GetStatusCodeFilter().GetComparison()
	if cmp.GetOp() != accesslogv3.ComparisonFilter_EQ || cmp.GetValue().GetDefaultValue() != uint32(ControlErrorStatus) {
		t.Errorf("first mapper's status filter %v, want status == %d", or[0], ControlErrorStatus)
	}
	var cel celv3.ExpressionFilter
	if err := or[1].GetExtensionFilter().GetTypedConfig().UnmarshalTo(&cel); err != nil || cel.GetExpression() != controlErrorDetails {
		t.Errorf("first mapper's details filter %v (%v), want CEL %q", or[1], err, controlErrorDetails)
	}
	if first.GetStatusCode().GetValue() != 503 {
		t.Errorf("control failure answered %d, want 503", first.GetStatusCode().GetValue())
	}
	headers := map[string]string{}
	for _, h := range first.GetHeadersToAdd() {
		headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if headers["retry-after"] != "1" || headers["retry-after-ms"] != "1000" {
		t.Errorf("headers %v, want retry-after 1 and retry-after-ms 1000", headers)
	}
	body := first.GetBodyFormatOverride().GetJsonFormat().GetFields()["error"].GetStructValue().GetFields()
	if body["code"].GetStringValue() != "503" || strings.Contains(body["message"].GetStringValue(), "%") {
		t.Errorf("body %v: want code 503 and a message with no Envoy substitution", body)
	}
}
