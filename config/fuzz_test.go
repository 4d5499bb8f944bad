package config

import (
	"os"
	"testing"
)

// FuzzParse checks that no input makes the parser, the validator or the
// static order panic. The seeds run in every plain `go test`; search for
// new inputs with: go test ./config -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../examples/gateway.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		minimalYAML,
		validYAML,
		"",
		"{}",
		"~",
		"gateway: {listen: '[::1]:10000', request_timeout: -5s}",
		"models: [{name: m, backends: [{name: b, kind: ptu, endpoint: 'https://[::1', capacity_tpm: -1}]}]",
		"consumers: [{name: a, api_key: sk-inline}]",
		"consumers: [{name: a, api_key: {env: [1, 2]}}]",
		"retry: {status_codes: [429, -1, 99999999999], attempts: -3}",
		"a: &a [*a, *a]",
		"quotas: [{subscription: s, region: r, model: m, tpm: 1}]\nmodels: [{name: m, backends: [{name: b, kind: tpm, tpm: 2, subscription: s, region: r, endpoint: 'http://h:1'}]}]",
		"gateway:\n  body_limit_bytes: 9223372036854775807\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config with error %v", err)
			}
			return
		}
		// Secret files name paths on this machine (a fuzzer could find
		// /dev/zero); the fuzz target checks the rules, not the file system.
		for i := range c.Consumers {
			c.Consumers[i].APIKey = Secret{}
		}
		for i := range c.Models {
			for j := range c.Models[i].Backends {
				c.Models[i].Backends[j].Auth = Auth{}
			}
			c.Models[i].StaticOrder()
		}
		if err := c.Validate(t.TempDir()); err != nil {
			problems(t, err) // every problem is a *FieldError
		}
	})
}
