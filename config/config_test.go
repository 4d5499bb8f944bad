package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error; "" for success
		check   func(t *testing.T, c *Config)
	}{
		{
			name:    "unknown top-level field is rejected",
			yaml:    "gatway:\n  listen: 127.0.0.1:10000\n",
			wantErr: "field gatway not found",
		},
		{
			name:    "unknown backend field is rejected",
			yaml:    "models:\n  - name: m\n    backends:\n      - name: b\n        tmp: 100\n",
			wantErr: "line 5: field tmp not found",
		},
		{
			name:    "unknown secret field is rejected",
			yaml:    "consumers:\n  - name: a\n    api_key: {enviroment: KEY}\n",
			wantErr: "field enviroment not found in a secret",
		},
		{
			name:    "every unknown field is reported",
			yaml:    "gateway: {lisen: x}\ncontrol: {grpc: y}\n",
			wantErr: "field grpc not found",
		},
		{
			name:    "wrong type is rejected",
			yaml:    "gateway: {body_limit_bytes: lots}\n",
			wantErr: "cannot unmarshal",
		},
		{
			name:    "not a mapping",
			yaml:    "- just\n- a list\n",
			wantErr: "parse config",
		},
		{
			name: "durations in Go syntax",
			yaml: "gateway: {request_timeout: 1h30m}\ncontrol: {message_timeout: 250ms}\n" +
				"retry: {backoff_base: 10ms, backoff_max: 1.5s, per_try_timeout: 45s}\n",
			check: func(t *testing.T, c *Config) {
				got := []time.Duration{c.Gateway.RequestTimeout.D(), c.Control.MessageTimeout.D(),
					c.Retry.BackoffBase.D(), c.Retry.BackoffMax.D(), c.Retry.PerTryTimeout.D()}
				want := []time.Duration{90 * time.Minute, 250 * time.Millisecond,
					10 * time.Millisecond, 1500 * time.Millisecond, 45 * time.Second}
				if !slices.Equal(got, want) {
					t.Errorf("durations = %v, want %v", got, want)
				}
			},
		},
		{
			name:    "duration without a unit",
			yaml:    "gateway: {request_timeout: 300}\n",
			wantErr: `line 1: "300" is not a duration like 250ms or 2m`,
		},
		{
			name:    "duration in words",
			yaml:    "retry:\n  per_try_timeout: 2 minutes\n",
			wantErr: `line 2: "2 minutes" is not a duration like 250ms or 2m`,
		},
		{
			name: "defaults applied to an empty config",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				want := Config{
					Gateway: Gateway{BodyLimitBytes: DefaultBodyLimit, RequestTimeout: DefaultRequestTimeout},
					Control: Control{
						GRPCListen: DefaultGRPCListen, AdminListen: DefaultAdminListen,
						NodeID: DefaultNodeID, MessageTimeout: DefaultMessageTimeout,
					},
					Retry: Retry{
						StatusCodes: DefaultRetryStatusCodes, BackoffBase: DefaultBackoffBase,
						BackoffMax: DefaultBackoffMax, PerTryTimeout: DefaultPerTryTimeout,
					},
				}
				if c.Gateway != want.Gateway || c.Control != want.Control {
					t.Errorf("gateway, control = %+v %+v, want %+v %+v", c.Gateway, c.Control, want.Gateway, want.Control)
				}
				if c.Routing != RoutingCapacity || c.Capacity != (Capacity{
					TokenWindow: Duration(time.Minute), RequestWindow: Duration(10 * time.Second),
					MaxCooldown: Duration(time.Minute), MaxWait: Duration(time.Second),
					DefaultCooldown: Duration(time.Second),
				}) {
					t.Errorf("routing, capacity = %q %+v", c.Routing, c.Capacity)
				}
				if !slices.Equal(c.Retry.StatusCodes, want.Retry.StatusCodes) || c.Retry.Attempts != 0 ||
					c.Retry.BackoffBase != want.Retry.BackoffBase || c.Retry.BackoffMax != want.Retry.BackoffMax ||
					c.Retry.PerTryTimeout != want.Retry.PerTryTimeout {
					t.Errorf("retry = %+v, want %+v", c.Retry, want.Retry)
				}
			},
		},
		{
			name: "default status codes are a copy",
			yaml: "{}",
			check: func(t *testing.T, c *Config) {
				c.Retry.StatusCodes[0] = 999
				if DefaultRetryStatusCodes[0] == 999 {
					t.Error("changing a parsed config changed DefaultRetryStatusCodes")
				}
			},
		},
		{
			name: "default retry codes never include 400",
			yaml: "{}",
			check: func(t *testing.T, c *Config) {
				want := []int{408, 424, 429, 500, 502, 503, 504}
				got := slices.Sorted(slices.Values(c.Retry.StatusCodes))
				if !slices.Equal(got, want) {
					t.Errorf("default status codes = %v, want %v", got, want)
				}
			},
		},
		{
			name: "explicit values are kept",
			yaml: "gateway: {body_limit_bytes: 4096}\ncontrol: {node_id: edge-1, grpc_listen: '0.0.0.0:18001'}\n" +
				"retry: {status_codes: [429], attempts: 2}\n",
			check: func(t *testing.T, c *Config) {
				if c.Gateway.BodyLimitBytes != 4096 || c.Control.NodeID != "edge-1" || c.Control.GRPCListen != "0.0.0.0:18001" ||
					!slices.Equal(c.Retry.StatusCodes, []int{429}) || c.Retry.Attempts != 2 {
					t.Errorf("explicit values changed: %+v %+v %+v", c.Gateway, c.Control, c.Retry)
				}
			},
		},
		{
			name: "an empty status code list turns status retries off",
			yaml: "retry: {status_codes: []}\n",
			check: func(t *testing.T, c *Config) {
				if c.Retry.StatusCodes == nil || len(c.Retry.StatusCodes) != 0 {
					t.Errorf("status codes = %#v, want an empty list", c.Retry.StatusCodes)
				}
			},
		},
		{
			name: "backend defaults: weight 1, rpm from tpm, ptu without rpm",
			yaml: `
models:
  - name: m
    backends:
      - {name: p, kind: ptu, capacity_tpm: 1000}
      - {name: t, kind: tpm, tpm: 20000}
      - {name: r, kind: tpm, tpm: 20000, rpm: 7, weight: 3}
`,
			check: func(t *testing.T, c *Config) {
				b := c.Models[0].Backends
				type wr struct{ weight, rpm int }
				got := []wr{{b[0].Weight, b[0].RPM}, {b[1].Weight, b[1].RPM}, {b[2].Weight, b[2].RPM}}
				want := []wr{{1, 0}, {1, 120}, {3, 7}}
				if !slices.Equal(got, want) {
					t.Errorf("weight, rpm = %v, want %v", got, want)
				}
			},
		},
		{
			name: "secret sources are decoded",
			yaml: "consumers:\n  - {name: a, api_key: {env: CLIENT_KEY}}\n  - {name: b, api_key: {file: keys/b}}\n",
			check: func(t *testing.T, c *Config) {
				if c.Consumers[0].APIKey != (Secret{Env: "CLIENT_KEY"}) || c.Consumers[1].APIKey != (Secret{File: "keys/b"}) {
					t.Errorf("secrets = %+v", c.Consumers)
				}
			},
		},
		{
			name: "a null secret is no secret",
			yaml: "consumers:\n  - name: a\n    api_key:\n",
			check: func(t *testing.T, c *Config) {
				if !c.Consumers[0].APIKey.IsZero() {
					t.Errorf("secret = %+v, want zero", c.Consumers[0].APIKey)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				if c != nil {
					t.Errorf("Parse returned a config with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// TestParseNeverEchoesInlineKeys: a key pasted into the config instead of
// {env: ...} or {file: ...} is refused without quoting it, because config
// errors are printed by validate and logged on every rejected reload.
func TestParseNeverEchoesInlineKeys(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		yaml string
	}{
		{"consumer key as a string", "consumers:\n  - name: a\n    api_key: " + key + "\n"},
		{"short consumer key", "consumers:\n  - name: a\n    api_key: " + key[:8] + "\n"},
		{"backend key as a string", "models:\n  - name: m\n    backends:\n      - name: b\n        auth: {api_key: '" + key + "'}\n"},
		{"backend key under an unknown field", "models:\n  - name: m\n    backends:\n      - name: b\n        auth: {api_key: {value: " + key + "}}\n"},
		{"key as a list", "consumers:\n  - name: a\n    api_key: [" + key + "]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse accepted a key written in the config")
			}
			if msg := err.Error(); strings.Contains(msg, key[:4]) {
				t.Errorf("error repeats the key: %s", msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("the bundled example loads", func(t *testing.T) {
		c, err := Load("../examples/gateway.yaml")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if m := c.Model("gpt-4o"); m == nil || len(m.Backends) != 3 {
			t.Errorf("model gpt-4o = %+v, want 3 backends", m)
		}
	})
	t.Run("the compose example is the example on compose addresses", func(t *testing.T) {
		plain, err := Load("../examples/gateway.yaml")
		if err != nil {
			t.Fatal(err)
		}
		compose, err := Load("../examples/gateway.compose.yaml")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		want := map[string]string{
			"gateway.listen": "0.0.0.0:10000", "control.grpc_listen": "0.0.0.0:18000", "control.admin_listen": "0.0.0.0:9464",
		}
		got := map[string]string{
			"gateway.listen": compose.Gateway.Listen, "control.grpc_listen": compose.Control.GRPCListen, "control.admin_listen": compose.Control.AdminListen,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("compose listeners = %v, want %v", got, want)
		}
		if compose.Tracing.OTLPGRPC != "jaeger:4317" {
			t.Errorf("compose tracing.otlp_grpc = %q, want jaeger:4317 (the jaeger service)", compose.Tracing.OTLPGRPC)
		}
		compose.Gateway.Listen, compose.Control.GRPCListen, compose.Control.AdminListen =
			plain.Gateway.Listen, plain.Control.GRPCListen, plain.Control.AdminListen
		compose.Tracing.OTLPGRPC = plain.Tracing.OTLPGRPC
		// The compose stack runs two replicas over the redis service.
		if st := compose.State; st.Store != StoreRedis || st.Redis.Address != "redis:6379" || st.Replicas != 2 {
			t.Errorf("compose state = %+v, want store redis at redis:6379 for 2 replicas", st)
		}
		compose.State = plain.State
		for i := range compose.Models {
			for j := range compose.Models[i].Backends {
				b := &compose.Models[i].Backends[j]
				if b.Endpoint != "http://sim:8081" {
					t.Errorf("compose backend %s endpoint = %q, want http://sim:8081 (the sim service)", b.Name, b.Endpoint)
				}
				if i < len(plain.Models) && j < len(plain.Models[i].Backends) {
					b.Endpoint = plain.Models[i].Backends[j].Endpoint
				}
			}
		}
		if !reflect.DeepEqual(compose, plain) {
			t.Errorf("examples/gateway.compose.yaml differs from examples/gateway.yaml beyond addresses:\n%+v\n%+v", compose, plain)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !os.IsNotExist(err) {
			t.Errorf("Load error = %v, want not-exist", err)
		}
	})
	t.Run("parse errors are returned before validation", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "g.yaml", "gateway: {listen: [x]}\n")
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), "parse config") {
			t.Errorf("Load error = %v, want a parse error", err)
		}
	})
	t.Run("validation problems are returned", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "g.yaml", "gateway: {listen: 127.0.0.1:10000}\n")
		_, err := Load(path)
		if got := paths(problems(t, err)); !slices.Equal(got, []string{"models"}) {
			t.Errorf("problems at %v, want [models]", got)
		}
	})
	t.Run("relative secret files resolve beside the config", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "keys/client", "k\n")
		path := writeFile(t, dir, "g.yaml", minimalYAML+"consumers:\n  - {name: a, api_key: {file: keys/client}}\n")
		if _, err := Load(path); err != nil {
			t.Errorf("Load: %v", err)
		}
		t.Chdir(t.TempDir()) // the config's directory, not the working one, anchors the path
		if _, err := Load(path); err != nil {
			t.Errorf("Load from another working directory: %v", err)
		}
	})
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "key", "  s3cret-from-file \n")
	writeFile(t, dir, "empty", " \n")
	abs := writeFile(t, t.TempDir(), "abs-key", "s3cret-abs")
	t.Setenv("SPILLWAY_TEST_SET", "s3cret-from-env")
	t.Setenv("SPILLWAY_TEST_EMPTY", "")
	t.Setenv("SPILLWAY_TEST_UNSET", "x")
	os.Unsetenv("SPILLWAY_TEST_UNSET") // t.Setenv restores it after the test

	tests := []struct {
		name    string
		secret  Secret
		want    string
		wantErr string
	}{
		{name: "env set", secret: Secret{Env: "SPILLWAY_TEST_SET"}, want: "s3cret-from-env"},
		{name: "env unset", secret: Secret{Env: "SPILLWAY_TEST_UNSET"}, wantErr: "environment variable SPILLWAY_TEST_UNSET is not set"},
		{name: "env empty", secret: Secret{Env: "SPILLWAY_TEST_EMPTY"}, wantErr: "environment variable SPILLWAY_TEST_EMPTY is not set"},
		{name: "file present, trimmed", secret: Secret{File: "key"}, want: "s3cret-from-file"},
		{name: "absolute file", secret: Secret{File: abs}, want: "s3cret-abs"},
		{name: "file missing", secret: Secret{File: "missing"}, wantErr: "read missing: "},
		{name: "file empty", secret: Secret{File: "empty"}, wantErr: "file empty is empty"},
		{name: "both set", secret: Secret{Env: "SPILLWAY_TEST_SET", File: "key"}, wantErr: "set env or file, not both"},
		{name: "none", secret: Secret{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.secret.Resolve(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error reveals a secret: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSecretString(t *testing.T) {
	tests := []struct {
		name   string
		secret Secret
		want   string
	}{
		{"env", Secret{Env: "KEY"}, "env:KEY"},
		{"file", Secret{File: "secrets/k"}, "file:secrets/k"},
		{"none", Secret{}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.secret.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		want     URL
		wantErr  string
	}{
		{name: "https default port", endpoint: "https://res.openai.azure.com", want: URL{TLS: true, Host: "res.openai.azure.com", Port: 443}},
		{name: "trailing slash", endpoint: "https://res.openai.azure.com/", want: URL{TLS: true, Host: "res.openai.azure.com", Port: 443}},
		{name: "http with port", endpoint: "http://127.0.0.1:8081", want: URL{Host: "127.0.0.1", Port: 8081}},
		{name: "http default port", endpoint: "http://sim", want: URL{Host: "sim", Port: 80}},
		{name: "ipv6", endpoint: "http://[::1]:8081", want: URL{Host: "::1", Port: 8081}},
		{name: "other scheme", endpoint: "ftp://res", wantErr: `scheme must be http or https, got "ftp"`},
		{name: "no scheme", endpoint: "res.openai.azure.com", wantErr: "scheme must be http or https"},
		{name: "with a path", endpoint: "https://res.openai.azure.com/openai/deployments/x", wantErr: "without a path"},
		{name: "no host", endpoint: "https://:443", wantErr: "has no host"},
		{name: "port out of range", endpoint: "https://res:70000", wantErr: `port "70000" is not valid`},
		{name: "port zero", endpoint: "https://res:0", wantErr: `port "0" is not valid`},
		{name: "not a URL", endpoint: "https://res:port", wantErr: "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEndpoint(tt.endpoint)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEndpoint error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseEndpoint = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestModelLookup(t *testing.T) {
	c := &Config{Models: []Model{{Name: "a"}, {Name: "b"}}}
	tests := []struct {
		name  string
		model string
		found bool
	}{
		{"first", "a", true},
		{"second", "b", true},
		{"unknown", "c", false},
		{"case matters", "A", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c.Model(tt.model)
			if (m != nil) != tt.found || (m != nil && m.Name != tt.model) {
				t.Errorf("Model(%q) = %+v, found want %v", tt.model, m, tt.found)
			}
			if m != nil {
				m.ContextWindow = 7 // a pointer into the config, not a copy
				if c.Model(tt.model).ContextWindow != 7 {
					t.Error("Model returned a copy")
				}
			}
		})
	}
}

// writeFile writes content to dir/name, creating parent directories, and
// returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// docsPath is the configuration reference, which must keep up with the schema.
const docsPath = "../docs/config.md"

// yamlBlockAfter returns the first ```yaml block after marker in text.
func yamlBlockAfter(t *testing.T, text, marker string) string {
	t.Helper()
	_, rest, ok := strings.Cut(text, marker)
	if !ok {
		t.Fatalf("%s has no %q", docsPath, marker)
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatalf("%s has no yaml block after %q", docsPath, marker)
	}
	block, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("%s: unterminated yaml block after %q", docsPath, marker)
	}
	return block
}

func TestDocsExamples(t *testing.T) {
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the full example is examples/gateway.yaml", func(t *testing.T) {
		example, err := os.ReadFile("../examples/gateway.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := yamlBlockAfter(t, string(docs), "<!-- example:begin"); got != string(example) {
			t.Errorf("the example in %s differs from examples/gateway.yaml: copy the file into it", docsPath)
		}
	})
	t.Run("the smallest example is valid", func(t *testing.T) {
		t.Setenv("AZURE_OPENAI_KEY", "k")
		c, err := Parse([]byte(yamlBlockAfter(t, string(docs), "The smallest valid file:")))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(t.TempDir()); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

// TestDocsCoverEveryField fails when a field of the config schema is not
// named in the reference.
func TestDocsCoverEveryField(t *testing.T) {
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for f := range typ.Fields() {
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			if !strings.Contains(string(docs), "`"+key) {
				missing = append(missing, path+key)
			}
			walk(path+key+".", f.Type)
		}
	}
	walk("", reflect.TypeFor[Config]())
	if len(missing) > 0 {
		t.Errorf("%s does not document %v", docsPath, missing)
	}
}
