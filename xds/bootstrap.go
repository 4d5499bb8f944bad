package xds

import (
	"errors"
	"fmt"
	"net"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BootstrapOptions are what Envoy needs to know before it can ask spillway
// for the rest of its configuration.
type BootstrapOptions struct {
	NodeID string
	// Control lists spillway replicas' gRPC addresses (xDS and ext_proc),
	// host:port each. A host name is resolved to all of its addresses, so
	// one DNS name with an A record per replica is enough.
	Control []string
	// Admin is Envoy's admin address, host:port.
	Admin string
	// TLS, when set, makes Envoy reach spillway over TLS.
	TLS *ControlTLS
}

// ControlTLS is how Envoy reaches spillway's gRPC port over TLS.
type ControlTLS struct {
	// CAFile holds the roots that spillway's certificate must chain to.
	CAFile string
	// CertFile and KeyFile are Envoy's client certificate, for spillway's
	// mutual TLS (control.tls.client_ca_file). Both or neither.
	CertFile, KeyFile string
	// ServerName is sent as SNI and must be a DNS name (or IP address) in
	// spillway's certificate. Empty: the host of the control addresses,
	// which must then all share it.
	ServerName string
}

// How Envoy watches the replicas. A replica that stops answering its gRPC
// health check (or answers NOT_SERVING) is out of the balancer after
// ControlUnhealthyThreshold checks in a row, ControlHealthInterval apart,
// each given ControlHealthTimeout: tolerant enough that a replica slowed by
// a busy machine is not taken out with the others. One whose connections
// fail is ejected sooner by outlier detection, and a new ext_proc stream
// that still meets it is retried on another replica.
const (
	ControlHealthInterval     = 250 * time.Millisecond
	ControlHealthTimeout      = 500 * time.Millisecond
	ControlUnhealthyThreshold = 3
)

// Bootstrap returns Envoy's bootstrap: a node id, the admin listener, and one
// static cluster to spillway's replicas; listeners, routes and clusters come
// over ADS from any one of them.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	if len(o.Control) == 0 {
		return nil, errors.New("control address: at least one is required")
	}
	var lbs []*endpointv3.LbEndpoint
	for _, c := range o.Control {
		control, err := socketAddress(c)
		if err != nil {
			return nil, fmt.Errorf("control address %q: %w", c, err)
		}
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: control}},
		})
	}
	admin, err := socketAddress(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	h2 := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						// A replica killed without closing its
						// connections is noticed even when idle.
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(10 * time.Second),
							Timeout:  durationpb.New(2 * time.Second),
						},
					},
				},
			},
		},
	}
	controlCluster := &clusterv3.Cluster{
		Name:                 ControlCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		// Every A record of a name is a replica.
		DnsLookupFamily: clusterv3.Cluster_V4_PREFERRED,
		DnsRefreshRate:  durationpb.New(5 * time.Second),
		ConnectTimeout:  durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(h2),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: ControlCluster,
			Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
		},
		HealthChecks: []*corev3.HealthCheck{{
			Timeout:            durationpb.New(ControlHealthTimeout),
			Interval:           durationpb.New(ControlHealthInterval),
			NoTrafficInterval:  durationpb.New(ControlHealthInterval),
			UnhealthyInterval:  durationpb.New(ControlHealthInterval),
			UnhealthyThreshold: wrapperspb.UInt32(ControlUnhealthyThreshold),
			HealthyThreshold:   wrapperspb.UInt32(1),
			// grpc.health.v1 for the whole server: spillway says SERVING
			// once its table is loaded, NOT_SERVING while it drains.
			HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{}},
		}},
		OutlierDetection: &clusterv3.OutlierDetection{
			// Connection failures and resets (not spillway's answers) eject
			// a replica until the health check finds it back. Never more
			// than half of them: a burst of resets on healthy replicas
			// must not leave none; dead ones fail their health checks.
			SplitExternalLocalOriginErrors:         true,
			ConsecutiveLocalOriginFailure:          wrapperspb.UInt32(2),
			EnforcingConsecutiveLocalOriginFailure: wrapperspb.UInt32(100),
			Interval:                               durationpb.New(time.Second),
			BaseEjectionTime:                       durationpb.New(5 * time.Second),
			MaxEjectionTime:                        durationpb.New(30 * time.Second),
			MaxEjectionPercent:                     wrapperspb.UInt32(50),
			SuccessfulActiveHealthCheckUnejectHost: wrapperspb.Bool(true),
		},
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			// Never send to a replica known to be down because most are:
			// with all down, the client gets spillway's 503 at once.
			HealthyPanicThreshold: &typev3.Percent{Value: 0},
		},
		CircuitBreakers: wideOpen(),
	}
	if o.TLS != nil {
		ts, err := controlTLS(o.TLS, o.Control)
		if err != nil {
			return nil, err
		}
		controlCluster.TransportSocket = ts
	}
	ads := &corev3.ApiConfigSource{
		ApiType:             corev3.ApiConfigSource_GRPC,
		TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
				ClusterName: ControlCluster,
				// When the replica serving ADS goes, reconnect (to
				// another) soon; Envoy keeps its last config meanwhile.
				RetryPolicy: &corev3.RetryPolicy{RetryBackOff: &corev3.BackoffStrategy{
					BaseInterval: durationpb.New(100 * time.Millisecond),
					MaxInterval:  durationpb.New(2 * time.Second),
				}},
			},
		}}},
		SetNodeOnFirstMessageOnly: true,
	}
	return &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.NodeID, Cluster: "spillway"},
		Admin: &bootstrapv3.Admin{Address: admin},
		// Each backend sits behind an internal listener (see modelCluster).
		BootstrapExtensions: []*corev3.TypedExtensionConfig{{
			Name:        "envoy.bootstrap.internal_listener",
			TypedConfig: mustAny(&internallistenerv3.InternalListener{}),
		}},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{controlCluster},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: ads,
			CdsConfig: adsSource(),
			LdsConfig: adsSource(),
		},
	}, nil
}

// controlTLS is the transport socket to spillway: its certificate checked
// against the CA and the server name, Envoy's own for mutual TLS.
func controlTLS(o *ControlTLS, control []string) (*corev3.TransportSocket, error) {
	if o.CAFile == "" {
		return nil, errors.New("control TLS: a CA file is required to verify spillway's certificate")
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("control TLS: a client certificate needs both its certificate and key files")
	}
	name := o.ServerName
	if name == "" {
		for _, c := range control {
			host, _, _ := net.SplitHostPort(c)
			if name != "" && host != name {
				return nil, errors.New("control TLS: the control addresses have different hosts: name the one in spillway's certificate (server name)")
			}
			name = host
		}
	}
	if name == "" {
		return nil, errors.New("control TLS: no server name to check spillway's certificate against")
	}
	san := &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exact(name)}
	if net.ParseIP(name) != nil {
		san.SanType = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	common := &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: o.CAFile}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san},
			},
		},
	}
	if o.CertFile != "" {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: o.CertFile}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: o.KeyFile}},
		}}
	}
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: common}
	if net.ParseIP(name) == nil {
		ctx.Sni = name
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}, nil
}
