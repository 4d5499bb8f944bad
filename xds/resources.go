package xds

import (
	"fmt"
	"slices"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	internalupstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway-gw/spillway/config"
)

// SystemCABundle is where Debian-based images (and Envoy's official image) keep
// the trusted roots Envoy verifies Azure's certificates against.
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// Resources is the Envoy configuration generated from one gateway config.
type Resources struct {
	Listeners []types.Resource
	Routes    []types.Resource
	Clusters  []types.Resource
}

// ByType returns the resources keyed as go-control-plane's snapshot wants them.
func (r *Resources) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: r.Listeners,
		resource.RouteType:    r.Routes,
		resource.ClusterType:  r.Clusters,
	}
}

// Generate builds the Envoy resources for a validated config.
func Generate(cfg *config.Config) (*Resources, error) {
	l, err := gatewayListener(cfg)
	if err != nil {
		return nil, err
	}
	res := &Resources{
		Listeners: []types.Resource{l},
		Routes:    []types.Resource{routeConfig(cfg)},
	}
	if c, err := tracingCluster(cfg); err != nil {
		return nil, err
	} else if c != nil {
		res.Clusters = append(res.Clusters, c)
	}
	for i := range cfg.Models {
		m := &cfg.Models[i]
		c, err := modelCluster(cfg, m)
		if err != nil {
			return nil, err
		}
		res.Clusters = append(res.Clusters, c)
		for j := range m.Backends {
			b := &m.Backends[j]
			bc, err := backendCluster(cfg, b)
			if err != nil {
				return nil, err
			}
			res.Clusters = append(res.Clusters, bc)
			res.Listeners = append(res.Listeners, backendListener(b))
		}
	}
	return res, nil
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil { // only fails for a nil message, a programming error
		panic(err)
	}
	return a
}

// controlService is the gRPC service both ext_proc filters call. The phase
// travels as gRPC metadata on the stream, so one server tells them apart
// before the first message.
func controlService(timeout config.Duration, phase string) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ControlCluster},
		},
		Timeout:         durationpb.New(timeout.D()),
		InitialMetadata: []*corev3.HeaderValue{{Key: PhaseMetadataKey, Value: phase}},
		RetryPolicy:     controlRetryPolicy(),
	}
}

// controlRetryPolicy opens an ext_proc stream on another replica when the
// one picked cannot take it (refused, reset before it answered): a replica
// that just died costs no request that had not reached it yet.
func controlRetryPolicy() *corev3.RetryPolicy {
	return &corev3.RetryPolicy{
		RetryOn:    "connect-failure,refused-stream,reset",
		NumRetries: wrapperspb.UInt32(2),
		RetryBackOff: &corev3.BackoffStrategy{
			BaseInterval: durationpb.New(5 * time.Millisecond),
			MaxInterval:  durationpb.New(50 * time.Millisecond),
		},
		RetryHostPredicate: []*corev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &corev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: 5,
	}
}

// routerExtProc is the downstream ext_proc filter: it sees the client's
// request once (headers, then the buffered body), decides the model and the
// order of backends, and reads the final response.
func routerExtProc(cfg *config.Config) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService:    controlService(cfg.Control.MessageTimeout, PhaseRouter),
		MessageTimeout: durationpb.New(cfg.Control.MessageTimeout.D()),
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		// The server picks the response body mode per response: STREAMED for
		// SSE (usage arrives in the last events), BUFFERED for JSON.
		AllowModeOverride: true,
		StatPrefix:        "spillway_router",
		// No replica answered: a status of its own, which the local reply
		// config turns into an Azure-shaped 503 (see localReplyConfig).
		StatusOnError: &typev3.HttpStatus{Code: ControlErrorStatus},
		// x-envoy-max-retries caps this request's attempts at the length
		// of its backend list; ext_proc may set x-envoy-* only if allowed.
		MutationRules: &mutationrulesv3.HeaderMutationRules{AllowEnvoy: wrapperspb.Bool(true)},
		MetadataOptions: &extprocv3.MetadataOptions{
			ReceivingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{
				Untyped: []string{MetadataNamespace},
			},
		},
	}
}

// upstreamExtProc runs once per attempt, after Envoy picked the endpoint: it
// rewrites the request for that backend and observes the attempt's response.
func upstreamExtProc(cfg *config.Config) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService:    controlService(cfg.Control.MessageTimeout, PhaseUpstream),
		MessageTimeout: durationpb.New(cfg.Control.MessageTimeout.D()),
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_NONE,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		RequestAttributes: []string{UpstreamAddressAttribute},
		StatPrefix:        "spillway_upstream",
		StatusOnError:     &typev3.HttpStatus{Code: ControlErrorStatus},
		// A 429 that says when to retry only in its message text has its
		// (small) body sent too; everything else is observed from headers.
		AllowModeOverride: true,
	}
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}}
}

func socketAddress(hostPort string) (*corev3.Address, error) {
	host, port, err := splitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	sa := &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: sa}}, nil
}

func gatewayListener(cfg *config.Config) (*listenerv3.Listener, error) {
	addr, err := socketAddress(cfg.Gateway.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway.listen: %w", err)
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "spillway",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: RouteConfigName,
			ConfigSource:    adsSource(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			httpFilter("envoy.filters.http.ext_proc", routerExtProc(cfg)),
			httpFilter("envoy.filters.http.router", &routerv3.Router{}),
		},
		// Streams can be long (minutes of SSE); the route timeout bounds them.
		StreamIdleTimeout: durationpb.New(cfg.Gateway.RequestTimeout.D()),
		LocalReplyConfig:  localReplyConfig(cfg.Gateway.BodyLimitBytes),
		// The client sees the x-request-id that spillway's logs carry.
		AlwaysSetRequestIdInResponse: true,
		AccessLog:                    []*accesslogv3.AccessLog{accessLog()},
		Tracing:                      tracing(cfg),
	}
	return &listenerv3.Listener{
		Name:    ListenerName,
		Address: addr,
		// The ext_proc filter buffers the whole request body: the connection
		// buffer must hold the largest allowed body, or Envoy answers 413 on
		// its own before spillway can say why.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit(cfg)),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
		}},
	}, nil
}

// bufferLimit leaves room above the body limit so spillway, not Envoy, is the
// one that rejects an oversize body, with an Azure-shaped 413.
func bufferLimit(cfg *config.Config) uint32 {
	n := cfg.Gateway.BodyLimitBytes*2 + 64<<10
	if n > 1<<31 {
		n = 1 << 31
	}
	return uint32(n)
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func routeConfig(cfg *config.Config) *routev3.RouteConfiguration {
	vh := &routev3.VirtualHost{
		Name:    "spillway",
		Domains: []string{"*"},
		// x-envoy-attempt-count on each upstream request tells the
		// upstream-phase ext_proc which attempt it is looking at.
		IncludeRequestAttemptCount: true,
		// The router keeps the body to replay it on the next backend; a
		// body over this limit would silently not be retried.
		RequestBodyBufferLimit: wrapperspb.UInt64(uint64(bufferLimit(cfg))),
	}
	for i := range cfg.Models {
		m := &cfg.Models[i]
		vh.Routes = append(vh.Routes, &routev3.Route{
			Name: "model_" + m.Name,
			Match: &routev3.RouteMatch{
				PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				Headers: []*routev3.HeaderMatcher{{
					Name: ModelHeader,
					HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
						StringMatch: exact(m.Name),
					},
				}},
			},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ClusterName(m.Name)},
				Timeout:          durationpb.New(cfg.Gateway.RequestTimeout.D()),
				HostRewriteSpecifier: &routev3.RouteAction_AutoHostRewrite{
					AutoHostRewrite: wrapperspb.Bool(true),
				},
				RetryPolicy: retryPolicy(cfg, m),
			}},
		})
	}
	// Reached only when the router-phase ext_proc did not name a model, which
	// it always does or answers itself: a safety net with a clear message.
	vh.Routes = append(vh.Routes, &routev3.Route{
		Name:  "no_model",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: 404,
			Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{
				InlineString: `{"error":{"code":"404","message":"Resource not found"}}`,
			}},
		}},
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{{
			Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
		}},
	})
	return &routev3.RouteConfiguration{
		Name:         RouteConfigName,
		VirtualHosts: []*routev3.VirtualHost{vh},
		// The model header is spillway's own: never forwarded upstream.
		RequestHeadersToRemove: []string{ModelHeader},
	}
}

// retryPolicy makes Envoy retry an attempt on the next backend of the
// request's list. The route allows one attempt per backend; each request's
// own list length caps it further through x-envoy-max-retries.
func retryPolicy(cfg *config.Config, m *config.Model) *routev3.RetryPolicy {
	codes := make([]uint32, 0, len(cfg.Retry.StatusCodes))
	for _, c := range cfg.Retry.StatusCodes {
		codes = append(codes, uint32(c))
	}
	slices.Sort(codes)
	return &routev3.RetryPolicy{
		RetryOn:              "retriable-status-codes,reset,connect-failure,refused-stream",
		RetriableStatusCodes: codes,
		NumRetries:           wrapperspb.UInt32(uint32(MaxAttempts(cfg, m) - 1)),
		PerTryTimeout:        durationpb.New(cfg.Retry.PerTryTimeout.D()),
		RetryBackOff: &routev3.RetryPolicy_RetryBackOff{
			BaseInterval: durationpb.New(cfg.Retry.BackoffBase.D()),
			MaxInterval:  durationpb.New(cfg.Retry.BackoffMax.D()),
		},
	}
}

// MaxAttempts is the most attempts one request of model m may make: one per
// backend, capped by retry.attempts when set.
func MaxAttempts(cfg *config.Config, m *config.Model) int {
	n := len(m.Backends)
	if cfg.Retry.Attempts > 0 && cfg.Retry.Attempts < n {
		n = cfg.Retry.Attempts
	}
	return n
}

// modelCluster holds one endpoint per backend of the model. The endpoints
// are Envoy internal addresses, one per backend, so every backend is a
// distinct host even when several share an IP (deployments of one Azure
// resource, or the simulator). The override_host policy sends attempt N to
// the Nth host of the list the router-phase ext_proc put in the request's
// dynamic metadata: the order of backends is decided per request.
func modelCluster(cfg *config.Config, m *config.Model) (*clusterv3.Cluster, error) {
	la := &endpointv3.ClusterLoadAssignment{ClusterName: ClusterName(m.Name)}
	var lbs []*endpointv3.LbEndpoint
	for _, b := range m.StaticOrder() {
		u, err := config.ParseEndpoint(b.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("backend %s: endpoint: %w", b.Name, err)
		}
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{
					EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
						AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: BackendName(b.Name)},
					},
				}},
				// Hostname becomes the Host header (auto_host_rewrite).
				Hostname: u.Host,
			}},
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				MetadataNamespace: {Fields: map[string]*structpb.Value{BackendKey: structpb.NewStringValue(b.Name)}},
			}},
		})
	}
	la.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}
	opts := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
					HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
				},
			},
		},
		HttpFilters: []*hcmv3.HttpFilter{
			httpFilter("envoy.filters.http.ext_proc", upstreamExtProc(cfg)),
			httpFilter("envoy.filters.http.upstream_codec", &upstreamcodecv3.UpstreamCodec{}),
		},
	}
	override := &overridehostv3.OverrideHost{
		OverrideHostSources: []*overridehostv3.OverrideHost_OverrideHostSource{{
			Metadata: &metadatav3.MetadataKey{
				Key:  MetadataNamespace,
				Path: []*metadatav3.MetadataKey_PathSegment{{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: HostsKey}}},
			},
		}},
		// Only reached if the list runs out, which the per-request retry
		// limit (x-envoy-max-retries = list length - 1) prevents.
		FallbackPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corev3.TypedExtensionConfig{
				Name:        "envoy.load_balancing_policies.round_robin",
				TypedConfig: mustAny(&roundrobinv3.RoundRobin{}),
			},
		}}},
	}
	return &clusterv3.Cluster{
		Name:                 ClusterName(m.Name),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(5e9),
		LoadBalancingPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corev3.TypedExtensionConfig{
				Name:        "envoy.load_balancing_policies.override_host",
				TypedConfig: mustAny(override),
			},
		}}},
		LoadAssignment: la,
		TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.internal_upstream",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&internalupstreamv3.InternalUpstreamTransport{
				TransportSocket: rawBuffer(),
			})},
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(opts),
		},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit(cfg)),
		CircuitBreakers:               wideOpen(),
	}, nil
}

// wideOpen lifts Envoy's default circuit breakers (1024 requests, and only 3
// concurrent retries per cluster): spilling is the normal case here, so
// retries must not be rationed that way; the backends' own limits apply.
func wideOpen() *clusterv3.CircuitBreakers {
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:           corev3.RoutingPriority_DEFAULT,
		MaxConnections:     wrapperspb.UInt32(100000),
		MaxPendingRequests: wrapperspb.UInt32(100000),
		MaxRequests:        wrapperspb.UInt32(100000),
		MaxRetries:         wrapperspb.UInt32(100000),
	}}}
}

func rawBuffer() *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.raw_buffer",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})},
	}
}

// backendListener is the internal listener behind a backend's endpoint in
// its model cluster: it passes the attempt's bytes to the backend's cluster.
func backendListener(b *config.Backend) *listenerv3.Listener {
	proxy := &tcpproxyv3.TcpProxy{
		StatPrefix:       BackendName(b.Name),
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: BackendName(b.Name)},
	}
	return &listenerv3.Listener{
		Name:              BackendName(b.Name),
		ListenerSpecifier: &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.tcp_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(proxy)},
		}}}},
	}
}

// backendCluster reaches one Azure resource: its DNS name, and TLS with the
// resource's name as SNI for https endpoints.
func backendCluster(cfg *config.Config, b *config.Backend) (*clusterv3.Cluster, error) {
	u, err := config.ParseEndpoint(b.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("backend %s: endpoint: %w", b.Name, err)
	}
	c := &clusterv3.Cluster{
		Name:                 BackendName(b.Name),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		ConnectTimeout:       durationpb.New(5e9),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: BackendName(b.Name),
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				Locality: &corev3.Locality{Region: b.Region, Zone: b.Subscription},
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address:       u.Host,
						PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: u.Port},
					}}},
				}}}},
			}},
		},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(bufferLimit(cfg)),
		CircuitBreakers:               wideOpen(),
	}
	if u.TLS {
		c.TransportSocket = &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
				Sni: u.Host,
				CommonTlsContext: &tlsv3.CommonTlsContext{
					ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
						ValidationContext: &tlsv3.CertificateValidationContext{
							TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SystemCABundle}},
							MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
								SanType: tlsv3.SubjectAltNameMatcher_DNS,
								Matcher: exact(u.Host),
							}},
						},
					},
				},
			})},
		}
	}
	return c, nil
}
