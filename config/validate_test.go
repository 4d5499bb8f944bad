package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/tlsreload/tlsreloadtest"
)

// minimalYAML is the smallest valid config: one model, one backend.
const minimalYAML = `
gateway: {listen: 127.0.0.1:10000}
models:
  - name: m
    backends:
      - {name: b, kind: tpm, endpoint: https://r.openai.azure.com, deployment: d, api_version: 2024-10-21, region: eastus, tpm: 1000}
`

// validYAML uses every section. Secrets come from SPILLWAY_TEST_* variables
// and files that validConfig provides.
const validYAML = `
gateway:
  listen: 127.0.0.1:10000
control:
  grpc_listen: 127.0.0.1:18000
  admin_listen: 127.0.0.1:9464
consumers:
  - name: demo
    api_key: {env: SPILLWAY_TEST_CLIENT_KEY}
  - name: batch
    api_key: {file: keys/batch}
models:
  - name: gpt-4o
    context_window: 128000
    backends:
      - name: ptu-eastus
        kind: ptu
        endpoint: https://ptu-eastus.openai.azure.com
        deployment: gpt-4o-ptu
        api_version: 2024-10-21
        auth: {api_key: {file: keys/backend}}
        region: eastus
        subscription: sub-a
        capacity_tpm: 6000
      - name: tpm-eastus2
        kind: tpm
        endpoint: https://tpm-eastus2.openai.azure.com
        deployment: gpt-4o
        api_version: 2024-10-21
        auth: {api_key: {env: SPILLWAY_TEST_BACKEND_KEY}}
        region: eastus2
        subscription: sub-a
        tpm: 20000
        priority: 1
  - name: gpt-4o-mini
    encoding: o200k_base
    backends:
      - name: mini-eastus2
        kind: tpm
        endpoint: https://tpm-eastus2.openai.azure.com
        deployment: gpt-4o-mini
        api_version: 2024-10-21
        region: eastus2
        subscription: sub-a
        tpm: 30000
retry:
  attempts: 2
quotas:
  - {subscription: sub-a, region: eastus2, model: gpt-4o, tpm: 150000}
`

// validConfig parses validYAML with its secrets in place and returns it with
// the directory its secret files resolve against.
func validConfig(t *testing.T) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "keys/batch", "batch-client-key\n")
	writeFile(t, dir, "keys/backend", "backend-key\n")
	writeFile(t, dir, "keys/empty", "\n")
	ca := tlsreloadtest.NewCA(t, "ca")
	server, other := ca.Server(t, "spillway"), ca.Server(t, "spillway")
	writeFile(t, dir, "tls/server.crt", string(server.CertPEM))
	writeFile(t, dir, "tls/server.key", string(server.KeyPEM))
	writeFile(t, dir, "tls/other.key", string(other.KeyPEM))
	writeFile(t, dir, "tls/ca.crt", string(ca.PEM))
	t.Setenv("SPILLWAY_TEST_CLIENT_KEY", "demo-client-key")
	t.Setenv("SPILLWAY_TEST_BACKEND_KEY", "backend-env-key")
	t.Setenv("SPILLWAY_TEST_UNSET", "x")
	os.Unsetenv("SPILLWAY_TEST_UNSET")
	c, err := Parse([]byte(validYAML))
	if err != nil {
		t.Fatalf("Parse(validYAML): %v", err)
	}
	return c, dir
}

// problems returns the *FieldErrors Validate joined, failing the test if
// any error is of another type.
func problems(t *testing.T, err error) []*FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v is not joined", err)
	}
	var out []*FieldError
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %v (%T) is not a *FieldError", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func paths(fes []*FieldError) []string {
	out := make([]string, len(fes))
	for i, fe := range fes {
		out[i] = fe.Path
	}
	return out
}

func TestValidateAcceptsValidConfigs(t *testing.T) {
	t.Run("every section", func(t *testing.T) {
		c, dir := validConfig(t)
		if err := c.Validate(dir); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	t.Run("minimal", func(t *testing.T) {
		c, err := Parse([]byte(minimalYAML))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate("."); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

// want is one expected problem: its path and a substring of its message,
// which is where the hint is.
type want struct{ path, msg string }

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want
	}{
		// gateway and control
		{"gateway.listen missing", func(c *Config) { c.Gateway.Listen = "" },
			[]want{{"gateway.listen", "is required, e.g. 127.0.0.1:10000"}}},
		{"gateway.listen without port", func(c *Config) { c.Gateway.Listen = "127.0.0.1" },
			[]want{{"gateway.listen", `"127.0.0.1" is not host:port with a fixed port`}}},
		{"gateway.listen port 0", func(c *Config) { c.Gateway.Listen = "127.0.0.1:0" },
			[]want{{"gateway.listen", "with a fixed port"}}},
		{"gateway.listen named port", func(c *Config) { c.Gateway.Listen = "127.0.0.1:http" },
			[]want{{"gateway.listen", "with a fixed port"}}},
		{"gateway.listen port out of range", func(c *Config) { c.Gateway.Listen = "127.0.0.1:70000" },
			[]want{{"gateway.listen", "with a fixed port"}}},
		{"gateway.listen host name", func(c *Config) { c.Gateway.Listen = "localhost:10000" },
			[]want{{"gateway.listen", "Envoy listens on an IP address, not a host name, e.g. 0.0.0.0:10000"}}},
		{"gateway.listen empty host", func(c *Config) { c.Gateway.Listen = ":10000" },
			[]want{{"gateway.listen", "Envoy listens on an IP address"}}},
		{"gateway.listen ipv6 is fine", func(c *Config) { c.Gateway.Listen = "[::]:10000" }, nil},
		{"control.grpc_listen missing", func(c *Config) { c.Control.GRPCListen = "" },
			[]want{{"control.grpc_listen", "is required"}}},
		{"control.grpc_listen any host is fine", func(c *Config) { c.Control.GRPCListen = ":18000" }, nil},
		{"control.grpc_listen bad", func(c *Config) { c.Control.GRPCListen = "18000" },
			[]want{{"control.grpc_listen", `"18000" is not host:port`}}},
		{"control.admin_listen bad", func(c *Config) { c.Control.AdminListen = "localhost:-1" },
			[]want{{"control.admin_listen", "with a fixed port"}}},
		{"gateway.body_limit_bytes too small", func(c *Config) { c.Gateway.BodyLimitBytes = 1023 },
			[]want{{"gateway.body_limit_bytes", "must be at least 1024"}}},
		{"gateway.body_limit_bytes negative", func(c *Config) { c.Gateway.BodyLimitBytes = -1 },
			[]want{{"gateway.body_limit_bytes", "must be at least 1024"}}},
		{"gateway.body_limit_bytes too large", func(c *Config) { c.Gateway.BodyLimitBytes = MaxBodyLimit + 1 },
			[]want{{"gateway.body_limit_bytes", "must be at most 1073741824"}}},
		{"gateway.body_limit_bytes at the maximum", func(c *Config) { c.Gateway.BodyLimitBytes = MaxBodyLimit }, nil},
		{"gateway.request_timeout negative", func(c *Config) { c.Gateway.RequestTimeout = -1 },
			[]want{{"gateway.request_timeout", "must be > 0"}}},
		{"control.message_timeout zero", func(c *Config) { c.Control.MessageTimeout = 0 },
			[]want{{"control.message_timeout", "must be > 0"}}},
		{"control.tls with mutual TLS is fine", func(c *Config) {
			c.Control.TLS = &ControlTLS{CertFile: "tls/server.crt", KeyFile: "tls/server.key", ClientCAFile: "tls/ca.crt"}
		}, nil},
		{"control.tls without a client CA is fine", func(c *Config) {
			c.Control.TLS = &ControlTLS{CertFile: "tls/server.crt", KeyFile: "tls/server.key"}
		}, nil},
		{"control.tls empty", func(c *Config) { c.Control.TLS = &ControlTLS{} },
			[]want{{"control.tls.cert_file", "is required"}, {"control.tls.key_file", "is required"}}},
		{"control.tls key of another certificate", func(c *Config) {
			c.Control.TLS = &ControlTLS{CertFile: "tls/server.crt", KeyFile: "tls/other.key"}
		}, []want{{"control.tls", "certificate and key"}}},
		{"control.tls certificate missing", func(c *Config) {
			c.Control.TLS = &ControlTLS{CertFile: "tls/nope.crt", KeyFile: "tls/server.key"}
		}, []want{{"control.tls", "no such file"}}},
		{"control.tls client CA not a certificate", func(c *Config) {
			c.Control.TLS = &ControlTLS{CertFile: "tls/server.crt", KeyFile: "tls/server.key", ClientCAFile: "keys/batch"}
		}, []want{{"control.tls", "holds no PEM certificate"}}},

		// routing and capacity
		{"routing mode unknown", func(c *Config) { c.Routing = "smart" },
			[]want{{"routing", `"smart" is not a routing mode: use capacity or reactive`}}},
		{"reactive routing is fine", func(c *Config) { c.Routing = RoutingReactive }, nil},
		{"capacity window zero", func(c *Config) { c.Capacity.RequestWindow = 0 },
			[]want{{"capacity", "token_window and request_window must be > 0"}}},
		{"capacity max_cooldown zero", func(c *Config) { c.Capacity.MaxCooldown = 0 },
			[]want{{"capacity.max_cooldown", "must be > 0"}}},
		{"capacity default_cooldown negative", func(c *Config) { c.Capacity.DefaultCooldown = -1 },
			[]want{{"capacity.default_cooldown", "must be >= 0"}}},
		{"capacity default_cooldown above max_cooldown", func(c *Config) { c.Capacity.DefaultCooldown = c.Capacity.MaxCooldown + 1 },
			[]want{{"capacity.default_cooldown", "at most max_cooldown"}}},
		{"capacity max_wait negative", func(c *Config) { c.Capacity.MaxWait = -1 },
			[]want{{"capacity.max_wait", "must be >= 0"}}},
		{"capacity max_wait zero is fine", func(c *Config) { c.Capacity.MaxWait = 0 }, nil},
		{"capacity max_wait not below the message timeout", func(c *Config) { c.Capacity.MaxWait = c.Control.MessageTimeout },
			[]want{{"capacity.max_wait", "must be shorter than control.message_timeout (5s)"}}},

		// consumers
		{"consumer name missing", func(c *Config) { c.Consumers[0].Name = "" },
			[]want{{"consumers[0].name", "is required"}}},
		{"consumer name with a space", func(c *Config) { c.Consumers[1].Name = "batch jobs" },
			[]want{{"consumers[1].name", `"batch jobs" may hold only letters, digits, '.', '_' and '-'`}}},
		{"consumer name twice", func(c *Config) { c.Consumers[1].Name = "demo" },
			[]want{{"consumers[1].name", `"demo" is used twice`}}},
		{"two consumers without a name", func(c *Config) { c.Consumers[0].Name, c.Consumers[1].Name = "", "" },
			[]want{{"consumers[0].name", "is required"}, {"consumers[1].name", "is required"}}},
		{"consumer key missing", func(c *Config) { c.Consumers[0].APIKey = Secret{} },
			[]want{{"consumers[0]", "needs api_key (env or file), entra (the token claims that identify it), or both"}}},
		{"consumer key env unset", func(c *Config) { c.Consumers[0].APIKey = Secret{Env: "SPILLWAY_TEST_UNSET"} },
			[]want{{"consumers[0].api_key", "environment variable SPILLWAY_TEST_UNSET is not set"}}},
		{"consumer key file missing", func(c *Config) { c.Consumers[1].APIKey = Secret{File: "keys/nope"} },
			[]want{{"consumers[1].api_key", "read keys/nope"}}},
		{"consumer key file empty", func(c *Config) { c.Consumers[1].APIKey = Secret{File: "keys/empty"} },
			[]want{{"consumers[1].api_key", "file keys/empty is empty"}}},
		{"consumer key from both", func(c *Config) { c.Consumers[1].APIKey.Env = "SPILLWAY_TEST_CLIENT_KEY" },
			[]want{{"consumers[1].api_key", "set env or file, not both"}}},
		{"no consumers is fine", func(c *Config) { c.Consumers = nil }, nil},

		// models
		{"no models", func(c *Config) { c.Models = nil },
			[]want{{"models", "at least one model is required"}}},
		{"model name missing", func(c *Config) { c.Models[1].Name = "" },
			[]want{{"models[1].name", "is required"}}},
		{"model name with a slash", func(c *Config) { c.Models[1].Name = "gpt/4o" },
			[]want{{"models[1].name", `"gpt/4o" may hold only letters`}}},
		{"model name twice", func(c *Config) { c.Models[1].Name = "gpt-4o" },
			[]want{{"models[1].name", `"gpt-4o" is used twice`}}},
		{"unknown encoding", func(c *Config) { c.Models[0].Encoding = "p50k_base" },
			[]want{{"models[0].encoding", `"p50k_base" is not known: use o200k_base or cl100k_base, or leave it out`}}},
		{"cl100k_base encoding", func(c *Config) { c.Models[0].Encoding = "cl100k_base" }, nil},
		{"negative context window", func(c *Config) { c.Models[0].ContextWindow = -1 },
			[]want{{"models[0].context_window", "must be >= 0 (0 turns the check off)"}}},
		{"model without backends", func(c *Config) { c.Models[1].Backends = nil },
			[]want{{"models[1].backends", "at least one backend is required"}}},

		// backends
		{"backend name missing", func(c *Config) { c.Models[0].Backends[1].Name = "" },
			[]want{{"models[0].backends[1].name", "is required"}}},
		{"backend name with a colon", func(c *Config) { c.Models[0].Backends[1].Name = "tpm:eastus2" },
			[]want{{"models[0].backends[1].name", "may hold only letters"}}},
		{"backend name used in another model", func(c *Config) { c.Models[1].Backends[0].Name = "ptu-eastus" },
			[]want{{"models[1].backends[0].name", `"ptu-eastus" is already used at models[0].backends[0]: backend names are unique across models`}}},
		{"backend kind missing", func(c *Config) { c.Models[1].Backends[0].Kind = "" },
			[]want{{"models[1].backends[0].kind", "is required: ptu or tpm"}}},
		{"backend kind unknown", func(c *Config) { c.Models[1].Backends[0].Kind = "PTU" },
			[]want{{"models[1].backends[0].kind", `"PTU" is not a kind: use ptu or tpm`}}},
		{"ptu without capacity", func(c *Config) { c.Models[0].Backends[0].CapacityTPM = 0 },
			[]want{{"models[0].backends[0].ptu_units", "a ptu backend needs ptu_units (its size in PTUs) or capacity_tpm"}}},
		{"ptu with units and capacity", func(c *Config) { c.Models[0].Backends[0].PTUUnits = 15 },
			[]want{{"models[0].backends[0].capacity_tpm", "set capacity_tpm or ptu_units, not both"}}},
		{"ptu units not sold", func(c *Config) { c.Models[0].Backends[0].CapacityTPM, c.Models[0].Backends[0].PTUUnits = 0, 17 },
			[]want{{"models[0].backends[0].ptu_units", "17 cannot be bought: gpt-4o global deployments come in 15 units, then steps of 5 (e.g. 20)"}}},
		{"ptu units regional", func(c *Config) {
			b := &c.Models[0].Backends[0]
			b.CapacityTPM, b.PTUUnits, b.DeploymentType = 0, 25, "regional"
		}, []want{{"models[0].backends[0].ptu_units", "25 cannot be bought: gpt-4o regional deployments come in 50 units, then steps of 50 (e.g. 50)"}}},
		{"ptu deployment type", func(c *Config) { c.Models[0].Backends[0].DeploymentType = "zonal" },
			[]want{{"models[0].backends[0].deployment_type", `"zonal" is not a deployment type`}}},
		{"ptu output ratio below 1", func(c *Config) { c.Models[0].Backends[0].OutputRatio = 0.5 },
			[]want{{"models[0].backends[0].output_ratio", "must be >= 1"}}},
		{"ptu units of an unpublished model", func(c *Config) {
			c.Models[0].Name = "my-model"
			c.Models[0].Encoding = "o200k_base"
			b := &c.Models[0].Backends[0]
			b.CapacityTPM, b.PTUUnits = 0, 20
		}, []want{{"models[0].backends[0].input_tpm_per_ptu", `model "my-model" has no published input TPM per PTU`}}},
		{"tpm with ptu fields", func(c *Config) { c.Models[0].Backends[1].OutputRatio = 4 },
			[]want{{"models[0].backends[1]", "apply to ptu backends only"}}},
		{"ptu with tpm", func(c *Config) { c.Models[0].Backends[0].TPM = 1000 },
			[]want{{"models[0].backends[0].tpm", "applies to tpm backends only; a ptu backend declares capacity_tpm"}}},
		{"ptu with rpm", func(c *Config) { c.Models[0].Backends[0].RPM = 6 },
			[]want{{"models[0].backends[0].rpm", "applies to tpm backends only"}}},
		{"tpm without tpm", func(c *Config) { c.Models[0].Backends[1].TPM = 0 },
			[]want{{"models[0].backends[1].tpm", "must be > 0 for a tpm backend"}}},
		{"tpm with negative rpm", func(c *Config) { c.Models[0].Backends[1].RPM = -1 },
			[]want{{"models[0].backends[1].rpm", "must be >= 0 (0: 6 per 1000 TPM)"}}},
		{"tpm with capacity", func(c *Config) { c.Models[0].Backends[1].CapacityTPM = 100 },
			[]want{{"models[0].backends[1].capacity_tpm", "applies to ptu backends only"}}},
		{"endpoint missing", func(c *Config) { c.Models[0].Backends[1].Endpoint = "" },
			[]want{{"models[0].backends[1].endpoint", "is required, e.g. https://myresource.openai.azure.com"}}},
		{"endpoint with a path", func(c *Config) { c.Models[0].Backends[1].Endpoint = "https://r.openai.azure.com/openai" },
			[]want{{"models[0].backends[1].endpoint", "must be the resource's base URL without a path"}}},
		{"endpoint scheme", func(c *Config) { c.Models[0].Backends[1].Endpoint = "grpc://r" },
			[]want{{"models[0].backends[1].endpoint", "scheme must be http or https"}}},
		{"plain http endpoint is fine", func(c *Config) { c.Models[0].Backends[1].Endpoint = "http://127.0.0.1:8081" }, nil},
		{"deployment missing", func(c *Config) { c.Models[0].Backends[1].Deployment = "" },
			[]want{{"models[0].backends[1].deployment", "is required: the Azure deployment name"}}},
		{"deployment with a slash", func(c *Config) { c.Models[0].Backends[1].Deployment = "a/../b" },
			[]want{{"models[0].backends[1].deployment", `"a/../b" is not a valid deployment name`}}},
		{"api_version missing", func(c *Config) { c.Models[0].Backends[1].APIVersion = "" },
			[]want{{"models[0].backends[1].api_version", "is required, e.g. 2024-10-21"}}},
		{"backend key env unset", func(c *Config) { c.Models[0].Backends[1].Auth.APIKey.Env = "SPILLWAY_TEST_UNSET" },
			[]want{{"models[0].backends[1].auth.api_key", "environment variable SPILLWAY_TEST_UNSET is not set"}}},
		{"backend key file missing", func(c *Config) { c.Models[0].Backends[0].Auth.APIKey.File = "keys/gone" },
			[]want{{"models[0].backends[0].auth.api_key", "read keys/gone"}}},
		{"backend without a key is fine", func(c *Config) { c.Models[0].Backends[1].Auth = Auth{} }, nil},
		{"region missing", func(c *Config) { c.Models[0].Backends[0].Region = "" },
			[]want{{"models[0].backends[0].region", "is required, e.g. eastus"}}},
		{"negative priority", func(c *Config) { c.Models[0].Backends[1].Priority = -1 },
			[]want{{"models[0].backends[1].priority", "must be >= 0 (lower is tried first)"}}},
		{"negative weight", func(c *Config) { c.Models[0].Backends[1].Weight = -2 },
			[]want{{"models[0].backends[1].weight", "must be > 0"}}},

		// retry
		{"status code not an error", func(c *Config) { c.Retry.StatusCodes = []int{429, 200} },
			[]want{{"retry.status_codes[1]", "200 is not an error status (400-599)"}}},
		{"status code too large", func(c *Config) { c.Retry.StatusCodes = []int{600} },
			[]want{{"retry.status_codes[0]", "600 is not an error status"}}},
		{"400 is never retried", func(c *Config) { c.Retry.StatusCodes = []int{429, 400} },
			[]want{{"retry.status_codes[1]", "400 must not be retried: every backend would refuse the same request"}}},
		{"client errors are never retried", func(c *Config) { c.Retry.StatusCodes = []int{401, 403, 404, 413} },
			[]want{
				{"retry.status_codes[0]", "401 must not be retried"},
				{"retry.status_codes[1]", "403 must not be retried"},
				{"retry.status_codes[2]", "404 must not be retried"},
				{"retry.status_codes[3]", "413 must not be retried"},
			}},
		{"no status codes is fine", func(c *Config) { c.Retry.StatusCodes = []int{} }, nil},
		{"negative attempts", func(c *Config) { c.Retry.Attempts = -1 },
			[]want{{"retry.attempts", "must be >= 0 (0: one attempt per backend)"}}},
		{"backoff_base zero", func(c *Config) { c.Retry.BackoffBase = 0 },
			[]want{{"retry.backoff_base", "must be > 0"}}},
		{"backoff_max below base", func(c *Config) { c.Retry.BackoffMax = c.Retry.BackoffBase - 1 },
			[]want{{"retry.backoff_max", "must be >= retry.backoff_base"}}},
		{"per_try_timeout negative", func(c *Config) { c.Retry.PerTryTimeout = -1 },
			[]want{{"retry.per_try_timeout", "must be > 0"}}},

		// quotas (the sums are in TestValidateQuotas)
		{"quota without subscription", func(c *Config) { c.Quotas[0].Subscription = "" },
			[]want{{"quotas[0]", "subscription, region and model are all required"}}},
		{"quota without model", func(c *Config) { c.Quotas[0].Model = "" },
			[]want{{"quotas[0]", "subscription, region and model are all required"}}},
		{"quota of zero", func(c *Config) { c.Quotas[0].TPM = 0 },
			[]want{{"quotas[0].tpm", "must be > 0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dir := validConfig(t)
			tt.mutate(c)
			checkProblems(t, c.Validate(dir), tt.want)
		})
	}
}

func checkProblems(t *testing.T, err error, want []want) {
	t.Helper()
	got := problems(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if got[i].Path != w.path || !strings.Contains(got[i].Msg, w.msg) {
			t.Errorf("problem %d = %q, want path %q with a message containing %q", i, got[i].Error(), w.path, w.msg)
		}
		if got[i].Error() != got[i].Path+": "+got[i].Msg {
			t.Errorf("Error() = %q, want path: message", got[i].Error())
		}
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	// Five mistakes, in five sections.
	const file = `
gateway:
  listen: 127.0.0.1
models:
  - name: gpt-4o
    backends:
      - name: ptu-eastus
        kind: ptu
        endpoint: https://ptu.openai.azure.com
        deployment: gpt-4o
        api_version: 2024-10-21
        region: eastus
        subscription: sub-a
      - name: tpm-eastus2
        kind: tpm
        endpoint: https://tpm.openai.azure.com/openai
        deployment: gpt-4o
        api_version: 2024-10-21
        region: eastus2
        subscription: sub-a
        tpm: 200000
consumers:
  - name: demo
    api_key: {file: missing-key}
quotas:
  - {subscription: sub-a, region: eastus2, model: gpt-4o, tpm: 150000}
`
	path := writeFile(t, dir, "gateway.yaml", file)
	_, err := Load(path)
	checkProblems(t, err, []want{
		{"gateway.listen", "is not host:port"},
		{"consumers[0].api_key", "read missing-key"},
		{"models[0].backends[0].ptu_units", "needs ptu_units"},
		{"models[0].backends[1].endpoint", "without a path"},
		{"quotas[0].tpm", "add up to 200000 TPM, over the quota of 150000"},
	})
}

func TestValidateQuotas(t *testing.T) {
	backend := func(name, kind, sub, region, host string, tpm int) Backend {
		b := Backend{
			Name: name, Kind: Kind(kind), Endpoint: "https://" + host, Deployment: "d",
			APIVersion: "2024-10-21", Region: region, Subscription: sub, Weight: 1,
		}
		if b.Kind == PTU {
			b.CapacityTPM = tpm
		} else {
			b.TPM = tpm
		}
		return b
	}
	// hosts returns n TPM backends in sub-a eastus, each on its own resource.
	hosts := func(n int, sub, region string) []Backend {
		var out []Backend
		for i := range n {
			out = append(out, backend(fmt.Sprintf("%s-%s-%02d", sub, region, i), "tpm", sub, region,
				fmt.Sprintf("res%02d-%s.openai.azure.com", i, region), 1000))
		}
		return out
	}
	quota := func(sub, region, model string, tpm int) Quota {
		return Quota{Subscription: sub, Region: region, Model: model, TPM: tpm}
	}
	tests := []struct {
		name   string
		models []Model
		quotas []Quota
		want   []want
	}{
		{
			name: "sum exactly at the quota",
			models: []Model{{Name: "gpt-4o", Backends: []Backend{
				backend("a", "tpm", "sub-a", "eastus", "a.openai.azure.com", 100000),
				backend("b", "tpm", "sub-a", "eastus", "b.openai.azure.com", 50000),
			}}},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 150000)},
		},
		{
			name: "sum one over the quota",
			models: []Model{{Name: "gpt-4o", Backends: []Backend{
				backend("a", "tpm", "sub-a", "eastus", "a.openai.azure.com", 100000),
				backend("b", "tpm", "sub-a", "eastus", "b.openai.azure.com", 50001),
			}}},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 150000)},
			want: []want{{"quotas[0].tpm",
				"backends of model gpt-4o in subscription sub-a, region eastus add up to 150001 TPM, over the quota of 150000: lower their tpm or raise the quota"}},
		},
		{
			name: "ptu capacity does not count against a tpm quota",
			models: []Model{{Name: "gpt-4o", Backends: []Backend{
				backend("p", "ptu", "sub-a", "eastus", "p.openai.azure.com", 500000),
				backend("a", "tpm", "sub-a", "eastus", "a.openai.azure.com", 100000),
			}}},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 100000)},
		},
		{
			name: "other regions, subscriptions and models are separate",
			models: []Model{
				{Name: "gpt-4o", Backends: []Backend{
					backend("a", "tpm", "sub-a", "eastus", "a.openai.azure.com", 100000),
					backend("b", "tpm", "sub-a", "westus", "b.openai.azure.com", 100000),
					backend("c", "tpm", "sub-b", "eastus", "c.openai.azure.com", 100000),
				}},
				{Name: "gpt-4o-mini", Backends: []Backend{
					backend("d", "tpm", "sub-a", "eastus", "a.openai.azure.com", 100000),
				}},
			},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 100000), quota("sub-a", "eastus", "gpt-4o-mini", 100000)},
		},
		{
			name: "each quota over is reported",
			models: []Model{{Name: "gpt-4o", Backends: []Backend{
				backend("a", "tpm", "sub-a", "eastus", "a.openai.azure.com", 2000),
				backend("b", "tpm", "sub-b", "westus", "b.openai.azure.com", 3000),
			}}},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 1000), quota("sub-b", "westus", "gpt-4o", 1000)},
			want: []want{
				{"quotas[0].tpm", "add up to 2000 TPM, over the quota of 1000"},
				{"quotas[1].tpm", "add up to 3000 TPM, over the quota of 1000"},
			},
		},
		{
			name: "backends without a subscription are not counted",
			models: []Model{{Name: "gpt-4o", Backends: []Backend{
				backend("a", "tpm", "", "eastus", "a.openai.azure.com", 100000),
			}}},
			quotas: []Quota{quota("sub-a", "eastus", "gpt-4o", 1000)},
		},
		{
			name:   "30 resources in one subscription and region",
			models: []Model{{Name: "gpt-4o", Backends: hosts(30, "sub-a", "eastus")}},
		},
		{
			name:   "31 resources in one subscription and region",
			models: []Model{{Name: "gpt-4o", Backends: hosts(31, "sub-a", "eastus")}},
			want:   []want{{"models", "subscription sub-a has 31 resources in region eastus; Azure allows 30 per subscription and region"}},
		},
		{
			name: "31 resources over two regions",
			models: []Model{{Name: "gpt-4o", Backends: append(hosts(30, "sub-a", "eastus"),
				backend("west", "tpm", "sub-a", "westus", "west.openai.azure.com", 1000))}},
		},
		{
			name: "31 resources over two subscriptions",
			models: []Model{{Name: "gpt-4o", Backends: append(hosts(30, "sub-a", "eastus"),
				backend("other", "tpm", "sub-b", "eastus", "other.openai.azure.com", 1000))}},
		},
		{
			name: "deployments on the same resource count once",
			models: []Model{
				{Name: "gpt-4o", Backends: hosts(30, "sub-a", "eastus")},
				{Name: "gpt-4o-mini", Backends: []Backend{
					backend("mini", "tpm", "sub-a", "eastus", "res00-eastus.openai.azure.com", 1000),
					backend("mini-port", "tpm", "sub-a", "eastus", "res01-eastus.openai.azure.com:443", 1000),
				}},
			},
		},
		{
			name: "over the limit in two places, reported in a stable order",
			models: []Model{
				{Name: "a", Backends: hosts(31, "sub-b", "westus")},
				{Name: "b", Backends: hosts(32, "sub-a", "eastus")},
			},
			want: []want{
				{"models", "subscription sub-a has 32 resources in region eastus"},
				{"models", "subscription sub-b has 31 resources in region westus"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("gateway: {listen: 127.0.0.1:10000}"))
			if err != nil {
				t.Fatal(err)
			}
			c.Models, c.Quotas = tt.models, tt.quotas
			checkProblems(t, c.Validate(t.TempDir()), tt.want)
		})
	}
}

func TestValidateNeverRevealsSecrets(t *testing.T) {
	c, dir := validConfig(t)
	// Everything around the secrets is wrong; the secrets themselves resolve.
	c.Gateway.Listen = "nope"
	c.Consumers = append(c.Consumers, Consumer{Name: "demo", APIKey: Secret{Env: "SPILLWAY_TEST_CLIENT_KEY", File: "keys/batch"}})
	for i := range c.Models {
		for j := range c.Models[i].Backends {
			b := &c.Models[i].Backends[j]
			b.Endpoint, b.Deployment = "ftp://"+b.Name, ""
		}
	}
	c.Models[0].Backends[1].Auth.APIKey = Secret{Env: "SPILLWAY_TEST_BACKEND_KEY", File: "keys/backend"}
	err := c.Validate(dir)
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, secret := range []string{"demo-client-key", "batch-client-key", "backend-key", "backend-env-key"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("a problem reveals the secret %q:\n%v", secret, err)
		}
	}
	if n := len(problems(t, err)); n < 8 {
		t.Errorf("got %d problems, want every one of them:\n%v", n, err)
	}
}
