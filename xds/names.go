package xds

import "strings"

// Names shared between the generated Envoy config and the ext_proc server.
// They are the contract between the two halves of spillway.
const (
	// ListenerName is the gateway listener clients connect to.
	ListenerName = "spillway_gateway"
	// RouteConfigName is the route table the listener asks for over RDS.
	RouteConfigName = "spillway_routes"
	// ControlCluster is the static bootstrap cluster pointing at spillway's
	// gRPC port: xDS and both ext_proc filters use it.
	ControlCluster = "spillway_control"
	// ModelHeader is set by the router-phase ext_proc to the model the
	// request is for; the route table matches on it to pick the model's cluster.
	ModelHeader = "x-spillway-model"
	// MetadataNamespace holds spillway's per-endpoint metadata (the backend
	// name) and the dynamic metadata ext_proc emits for access logs.
	MetadataNamespace = "spillway"
	// BackendKey is the endpoint metadata key naming the backend.
	BackendKey = "backend"
	// UpstreamAddressAttribute is the ext_proc attribute through which the
	// upstream-phase filter learns which endpoint (backend) Envoy picked: its
	// internal address (InternalAddress). The endpoint's metadata says the
	// same, but Envoy 1.40 sends xds.upstream_host_metadata as the Metadata
	// proto printed in text format for every attempt, which cost its Envoy
	// ~50 µs of CPU per request in make bench-gateway.
	UpstreamAddressAttribute = "upstream.address"
)

// HostsKey is the dynamic metadata key (in MetadataNamespace) holding a
// request's ordered backend list, read by the override_host policy.
const HostsKey = "hosts"

// BackendName names a backend's internal listener and its cluster.
func BackendName(backend string) string { return "spillway_backend_" + backend }

// InternalAddress is how Envoy prints the address of a backend's endpoint in
// a model cluster, the form override_host matches list entries against.
func InternalAddress(backend string) string { return internalPrefix + backend + "/" }

const internalPrefix = "envoy://spillway_backend_"

// BackendFromAddress is the backend whose InternalAddress addr is.
func BackendFromAddress(addr string) (string, bool) {
	name, ok := strings.CutPrefix(addr, internalPrefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "/")
	return name, ok && name != ""
}

// ClusterName is the Envoy cluster serving a model.
func ClusterName(model string) string { return "spillway_model_" + model }

// The ext_proc phases, sent as gRPC metadata PhaseMetadataKey on each stream.
const (
	PhaseMetadataKey = "x-spillway-phase"
	// PhaseRouter is the downstream filter: once per client request.
	PhaseRouter = "router"
	// PhaseUpstream is the upstream filter: once per attempt.
	PhaseUpstream = "upstream"
)
