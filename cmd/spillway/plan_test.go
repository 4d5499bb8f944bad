package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-gw/spillway/plan"
	"github.com/spillway-gw/spillway/sim"
)

// TestPlanWritesAConfigValidateAccepts plans examples/workload.yaml and
// checks `spillway validate` accepts the gateway config written, for Azure
// (placeholder endpoints, a key file per resource) and for the simulator demo.
func TestPlanWritesAConfigValidateAccepts(t *testing.T) {
	w, err := plan.Load("../../examples/workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Make(w)
	for _, c := range []struct {
		name string
		args []string
		keys func(dir string) []string
	}{
		{
			name: "azure",
			keys: func(string) []string {
				files := []string{"secrets/client-key"}
				for _, b := range p.Backends(plan.GatewayOptions{}) {
					files = append(files, b.KeyFile)
				}
				return files
			},
		},
		{name: "simulator demo", args: []string{"--sim", "http://127.0.0.1:8081", "--sim-config", "sim.yaml"},
			keys: func(string) []string { return []string{"secrets/sim-api-key", "secrets/demo-client-key"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, k := range c.keys(dir) {
				path := filepath.Join(dir, k)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("key\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			gw := filepath.Join(dir, "gateway.yaml")
			args := []string{"plan", "-f", "../../examples/workload.yaml", "-o", gw}
			for _, a := range c.args {
				if a == "sim.yaml" {
					a = filepath.Join(dir, a)
				}
				args = append(args, a)
			}
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("plan: %v\n%s", err, stderr.String())
			}
			for _, want := range []string{"model gpt-4o (interactive", "PTU           110 units in sub-prod/eastus2", "total a month (730 hours)", "gateway config written to"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("plan output lacks %q:\n%s", want, stdout.String())
				}
			}
			stdout.Reset()
			if err := run(context.Background(), []string{"validate", "-c", gw}, &stdout, &stderr); err != nil {
				b, _ := os.ReadFile(gw)
				t.Fatalf("validate: %v\n%s\n%s", err, stderr.String(), b)
			}
			if len(c.args) > 0 {
				cfg, err := sim.Load(filepath.Join(dir, "sim.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sim.New(cfg, sim.Options{}); err != nil {
					t.Fatal(err)
				}
				if n := len(cfg.Deployments); n != len(p.Backends(plan.GatewayOptions{})) {
					t.Errorf("%d simulator deployments for %d backends", n, len(p.Backends(plan.GatewayOptions{})))
				}
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "w.yaml")
	if err := os.WriteFile(bad, []byte("models:\n  - name: gpt-4o\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		args     []string
		wantExit int
		stderr   string
	}{
		{"no workload", []string{}, 2, "-f is required"},
		{"sim config without sim", []string{"-f", bad, "--sim-config", "x"}, 2, "needs --sim"},
		{"bad workload: every problem", []string{"-f", bad}, 1, "models[0].peak_tpm"},
		{"missing file", []string{"-f", filepath.Join(dir, "nope.yaml")}, 1, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"plan"}, c.args...), &stdout, &stderr)
			var exit exitCode
			if !errors.As(err, &exit) || int(exit) != c.wantExit || !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("run = %v, stderr %q; want exit %d and %q", err, stderr.String(), c.wantExit, c.stderr)
			}
		})
	}
}
