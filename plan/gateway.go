package plan

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// GatewayOptions shape the gateway config written for a plan.
type GatewayOptions struct {
	// Source names the workload file in the header comment.
	Source string
	// Listen, GRPCListen and AdminListen are the gateway's addresses;
	// 127.0.0.1:10000, :18000 and :9464 when empty.
	Listen, GRPCListen, AdminListen string
	// NodeID is control.node_id, Envoy's node id; spillway's default when empty.
	NodeID string
	// APIVersion sent to the backends; 2024-10-21 when empty.
	APIVersion string
	// SimURL, when set, points every backend at the Azure OpenAI simulator
	// (one deployment per backend, the key in secrets/sim-api-key, the
	// client's in secrets/demo-client-key: the files of examples/secrets),
	// for a demo of the plan. Otherwise each subscription × region is an
	// Azure OpenAI resource https://aoai-SUBSCRIPTION-REGION.openai.azure.com
	// whose key is in secrets/aoai-SUBSCRIPTION-REGION.key, and clients'
	// key in secrets/client-key.
	SimURL string
}

// Backend is one backend of the gateway config a plan writes.
type Backend struct {
	Name, Model, Kind, Deployment, Endpoint, KeyFile, Region, Subscription string
	// A ptu backend: PTUUnits of DeploymentType, NormalizedTPM its capacity
	// in normalized tokens a minute, measured by Facts.
	PTUUnits       int
	DeploymentType DeploymentType
	NormalizedTPM  int
	Facts          Facts
	// A tpm backend: TPM and RPM, tried in Priority order.
	TPM, RPM, Priority int
}

var notName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// resource is the placeholder name of the Azure OpenAI resource of a
// subscription and region.
func resource(subscription, region string) string {
	var parts []string
	for _, p := range []string{"aoai", subscription, region} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.ToLower(notName.ReplaceAllString(strings.Join(parts, "-"), "-"))
}

// Backends lists the deployments of p as gateway backends, by model, PTU
// first.
func (p *Plan) Backends(o GatewayOptions) []Backend {
	var out []Backend
	add := func(b Backend) {
		b.Name = strings.Trim(notName.ReplaceAllString(b.Name, "-"), "-")
		res := resource(b.Subscription, b.Region)
		if o.SimURL != "" {
			b.Endpoint, b.KeyFile, b.Deployment = strings.TrimRight(o.SimURL, "/"), "secrets/sim-api-key", b.Name
		} else {
			b.Endpoint, b.KeyFile = "https://"+res+".openai.azure.com", "secrets/"+res+".key"
		}
		out = append(out, b)
	}
	for _, m := range p.Models {
		name := m.Model.Name
		if m.PTU > 0 {
			add(Backend{Name: name + "-ptu-" + m.PTURegion, Model: name, Kind: "ptu", Deployment: name + "-ptu",
				Region: m.PTURegion, Subscription: m.PTUSubscription, PTUUnits: m.PTU, DeploymentType: m.Model.PTUType,
				NormalizedTPM: int(m.PTUNormalizedTPM), Facts: m.Model.PTU})
		}
		for i, d := range m.TPM {
			add(Backend{Name: name + "-tpm-" + d.Region + "-" + d.Subscription, Model: name, Kind: "tpm", Deployment: name,
				Region: d.Region, Subscription: d.Subscription, TPM: d.TPM, RPM: d.RPM, Priority: i})
		}
	}
	return out
}

// WriteGateway writes a spillway gateway config (docs/config.md) serving
// the plan: one model per workload model, its PTU and TPM deployments as
// backends, and the workload's TPM quotas so `spillway validate` checks the
// deployments fit them.
func WriteGateway(w io.Writer, p *Plan, wl *Workload, o GatewayOptions) error {
	listen, grpc, admin := or(o.Listen, "127.0.0.1:10000"), or(o.GRPCListen, "127.0.0.1:18000"), or(o.AdminListen, "127.0.0.1:9464")
	apiVersion := or(o.APIVersion, "2024-10-21")
	clientKey := "secrets/client-key"
	if o.SimURL != "" {
		clientKey = "secrets/demo-client-key"
	}
	var b strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	from := ""
	if o.Source != "" {
		from = " from " + o.Source
	}
	pf("# spillway gateway config written by `spillway plan`%s.\n", from)
	if o.SimURL != "" {
		pf("# Every backend is a deployment of the Azure OpenAI simulator at %s (a demo of the plan).\n", o.SimURL)
	} else {
		pf("# Endpoints are placeholders, one Azure OpenAI resource per subscription × region: replace\n")
		pf("# them, and put each resource's key in the file its backend names. Fields: docs/config.md.\n")
	}
	pf("\ngateway:\n  listen: %s\n\ncontrol:\n  grpc_listen: %s\n  admin_listen: %s\n", listen, grpc, admin)
	if o.NodeID != "" {
		pf("  node_id: %s\n", o.NodeID)
	}
	pf("\nconsumers:\n  - name: default\n    api_key: {file: %s}\n", clientKey)
	pf("\nmodels:\n")
	backends := p.Backends(o)
	for _, m := range p.Models {
		pf("  - name: %s\n    backends:\n", m.Model.Name)
		n := 0
		for _, be := range backends {
			if be.Model != m.Model.Name {
				continue
			}
			n++
			pf("      - name: %s\n        kind: %s\n        endpoint: %s\n        deployment: %s\n        api_version: %s\n", be.Name, be.Kind, be.Endpoint, be.Deployment, apiVersion)
			pf("        auth: {api_key: {file: %s}}\n        region: %s\n", be.KeyFile, be.Region)
			if be.Subscription != "" {
				pf("        subscription: %s\n", be.Subscription)
			}
			if be.Kind == "ptu" {
				writePTU(pf, be)
			} else {
				pf("        tpm: %d\n        rpm: %d\n        priority: %d\n", be.TPM, be.RPM, be.Priority)
			}
		}
		if n == 0 {
			return fmt.Errorf("model %s: the plan has no deployment for it (no PTU and no TPM quota)", m.Model.Name)
		}
	}
	var quotas []Quota
	for _, q := range wl.Quotas {
		for _, be := range backends {
			if be.Kind == "tpm" && be.Model == q.Model && be.Region == q.Region && be.Subscription == q.Subscription {
				quotas = append(quotas, q)
				break
			}
		}
	}
	if len(quotas) > 0 {
		pf("\nquotas:\n")
		for _, q := range quotas {
			pf("  - {subscription: %s, region: %s, model: %s, tpm: %d}\n", q.Subscription, q.Region, q.Model, q.TPM)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSim writes a simulator config (docs/sim.md) with one deployment per
// backend of the plan, at the plan's capacities, for GatewayOptions.SimURL.
func WriteSim(w io.Writer, p *Plan, o GatewayOptions) error {
	var b strings.Builder
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	pf("# Azure OpenAI simulator config written by `spillway plan`: one deployment per backend of the plan.\n")
	pf("keys: [\"sim-key-1\"]\ntime_scale: 1.0\n\ndeployments:\n")
	for _, be := range p.Backends(o) {
		pf("  - name: %s\n    model: %s\n    region: %s\n", be.Deployment, be.Model, be.Region)
		if be.Kind == "ptu" {
			pf("    kind: provisioned\n    capacity_tpm: %d      # %d PTU in normalized tokens\n    output_ratio: %g\n    throttle_headers: both\n",
				be.NormalizedTPM, be.PTUUnits, be.Facts.OutputRatio)
		} else {
			pf("    kind: standard\n    tpm: %d\n    rpm: %d\n    estimate: prompt_plus_max_tokens\n    throttle_headers: retry-after\n", be.TPM, be.RPM)
		}
		pf("    latency: {first_token_ms: 200, tokens_per_second: 80}\n    completion: {mode: random, min: 20, max: 200}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writePTU writes a ptu backend's size: ptu_units and deployment_type,
// with input_tpm_per_ptu and output_ratio where the workload's figures differ
// from the published ones; or, when the workload sells units in other steps
// than Azure's (which the gateway config checks ptu_units against), the
// capacity in normalized tokens itself.
func writePTU(pf func(string, ...any), be Backend) {
	pub, known := DefaultFacts(be.Model, be.DeploymentType)
	if known && (pub.Minimum != be.Facts.Minimum || pub.Increment != be.Facts.Increment) {
		pf("        capacity_tpm: %d           # %d PTU, normalized tokens a minute\n        output_ratio: %g\n", be.NormalizedTPM, be.PTUUnits, be.Facts.OutputRatio)
		return
	}
	pf("        ptu_units: %d\n        deployment_type: %s\n", be.PTUUnits, be.DeploymentType)
	if !known || pub.InputTPMPerPTU != be.Facts.InputTPMPerPTU {
		pf("        input_tpm_per_ptu: %d\n", be.Facts.InputTPMPerPTU)
	}
	if !known || pub.OutputRatio != be.Facts.OutputRatio {
		pf("        output_ratio: %g\n", be.Facts.OutputRatio)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
