//go:build gatewaybench

package gatewaybench

import (
	"fmt"
	"strings"
)

// modes are the ext_proc message modes of the two phases. floorModes must
// follow what spillway configures (xds.routerExtProc, xds.upstreamExtProc)
// and asks for per response (extproc's routerPhase.responseHeaders), so the
// floor path sends the do-nothing server the messages spillway gets.
type modes struct {
	// Router phase (HCM filter): request headers, request body, response
	// headers as configured; the response body mode set per 2xx response
	// by mode override ("" = none).
	routerRequestHeaders  string
	routerRequestBody     string
	routerResponseHeaders string
	routerJSON, routerSSE string
	// Upstream phase (cluster filter, once per attempt); upstream false: no
	// upstream filter at all.
	upstream                                        bool
	upstreamRequestHeaders, upstreamResponseHeaders string
}

var floorModes = modes{
	routerRequestHeaders:    "SEND",
	routerRequestBody:       "BUFFERED",
	routerResponseHeaders:   "SEND",
	routerJSON:              "BUFFERED",
	routerSSE:               "STREAMED",
	upstream:                true,
	upstreamRequestHeaders:  "SEND",
	upstreamResponseHeaders: "SEND",
}

// messages describes floorModes for the output.
func (m modes) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "router: request headers %s, body %s, response headers %s, response body JSON %s / SSE %s",
		m.routerRequestHeaders, m.routerRequestBody, m.routerResponseHeaders, or(m.routerJSON, "NONE"), or(m.routerSSE, "NONE"))
	if m.upstream {
		fmt.Fprintf(&b, "; upstream: request headers %s, response headers %s", m.upstreamRequestHeaders, m.upstreamResponseHeaders)
	}
	return b.String()
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// simYAML: one deployment that never throttles and answers at once with as
// many completion tokens as max_tokens asks (one SSE event per token).
const simYAML = `
keys: ["sim-key-1"]
max_body_bytes: 4194304
deployments:
  - name: gpt-4o-ptu
    kind: provisioned
    model: gpt-4o
    region: eastus
    capacity_tpm: 100000000000
    completion: {mode: max_tokens, tokens: 20}
  - name: gpt-4o-eastus2
    kind: standard
    model: gpt-4o
    region: eastus2
    tpm: 100000000000
    rpm: 100000000000
    completion: {mode: max_tokens, tokens: 20}
`

// gatewayYAML: spillway with the PTU and one TPM backend on the simulator,
// limits never reached, as the e2e tests configure it.
const gatewayYAML = `
gateway:
  listen: {{GATEWAY}}
  body_limit_bytes: 1048576
  request_timeout: 30s
control:
  grpc_listen: {{GRPC}}
  admin_listen: {{ADMIN}}
  node_id: e2e
consumers:
  - name: team-a
    api_key: {file: secrets/client-key}
models:
  - name: gpt-4o
    context_window: 128000
    backends:
      - name: ptu-eastus
        kind: ptu
        endpoint: http://{{SIM}}
        deployment: gpt-4o-ptu
        api_version: 2024-10-21
        auth: {api_key: {file: secrets/sim-key}}
        region: eastus
        capacity_tpm: 100000000000
      - name: tpm-eastus2
        kind: tpm
        endpoint: http://{{SIM}}
        deployment: gpt-4o-eastus2
        api_version: 2024-10-21
        auth: {api_key: {file: secrets/sim-key}}
        region: eastus2
        tpm: 100000000000
        priority: 1
`

// envoyYAML is a static Envoy config: a listener whose one route goes
// straight to the simulator. With ext_proc set (the floor) the listener has
// a router-phase ext_proc filter and the cluster an upstream-phase one, both
// calling the floor server at extprocPort, in modes m.
func envoyYAML(listenPort, adminPort, simPort, extprocPort int, extproc bool, m modes) string {
	var filters, upstreamFilters, extprocCluster string
	if extproc {
		filters = fmt.Sprintf(`
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service:
                envoy_grpc: {cluster_name: floor_extproc}
                timeout: 10s
                initial_metadata: [{key: x-spillway-phase, value: router}]
              message_timeout: 10s
              allow_mode_override: true
              processing_mode:
                request_header_mode: %s
                request_body_mode: %s
                request_trailer_mode: SKIP
                response_header_mode: %s
                response_body_mode: NONE
                response_trailer_mode: SKIP`, m.routerRequestHeaders, m.routerRequestBody, m.routerResponseHeaders)
		if m.upstream {
			upstreamFilters = fmt.Sprintf(`
        http_filters:
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service:
                envoy_grpc: {cluster_name: floor_extproc}
                timeout: 10s
                initial_metadata: [{key: x-spillway-phase, value: upstream}]
              message_timeout: 10s
              allow_mode_override: true
              processing_mode:
                request_header_mode: %s
                request_body_mode: NONE
                request_trailer_mode: SKIP
                response_header_mode: %s
                response_body_mode: NONE
                response_trailer_mode: SKIP
          - name: envoy.filters.http.upstream_codec
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec`, m.upstreamRequestHeaders, m.upstreamResponseHeaders)
		}
		extprocCluster = fmt.Sprintf(`
    - name: floor_extproc
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {http2_protocol_options: {}}
      load_assignment:
        cluster_name: floor_extproc
        endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}}]}]`, extprocPort)
	}
	return fmt.Sprintf(`
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
static_resources:
  listeners:
    - name: bench
      address: {socket_address: {address: 127.0.0.1, port_value: %d}}
      per_connection_buffer_limit_bytes: 4194304
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: bench
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      request_body_buffer_limit: 4194304
                      routes:
                        - match: {prefix: "/"}
                          route: {cluster: sim, timeout: 30s}
                http_filters:%s
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: sim
      type: STATIC
      connect_timeout: 1s
      per_connection_buffer_limit_bytes: 4194304
      circuit_breakers: {thresholds: [{max_connections: 100000, max_pending_requests: 100000, max_requests: 100000, max_retries: 100000}]}
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {http_protocol_options: {}}%s
      load_assignment:
        cluster_name: sim
        endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}}]}]%s
`, adminPort, listenPort, indent(filters, 8), indent(upstreamFilters, 2), simPort, extprocCluster)
}

// indent shifts a block right by n spaces (the HCM filters sit deeper than
// the template above writes them).
func indent(s string, n int) string {
	if s == "" {
		return s
	}
	pad := strings.Repeat(" ", n)
	return strings.ReplaceAll(s, "\n", "\n"+pad)
}
