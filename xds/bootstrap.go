package xds

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	internallistenerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// BootstrapOptions are what Envoy needs to know before it can ask spillway
// for the rest of its configuration.
type BootstrapOptions struct {
	NodeID string
	// Control is spillway's gRPC address (xDS and ext_proc), host:port.
	Control string
	// Admin is Envoy's admin address, host:port.
	Admin string
}

// Bootstrap returns Envoy's bootstrap: a node id, the admin listener, and one
// static cluster to spillway; listeners, routes and clusters come over ADS.
func Bootstrap(o BootstrapOptions) (*bootstrapv3.Bootstrap, error) {
	control, err := socketAddress(o.Control)
	if err != nil {
		return nil, fmt.Errorf("control address: %w", err)
	}
	admin, err := socketAddress(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	h2 := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	}
	controlCluster := &clusterv3.Cluster{
		Name:                 ControlCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:       durationpb.New(1e9),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(h2),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: ControlCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: control}},
			}}}},
		},
	}
	ads := &corev3.ApiConfigSource{
		ApiType:             corev3.ApiConfigSource_GRPC,
		TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ControlCluster},
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
