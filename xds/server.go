package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"

	"github.com/spillway-gw/spillway/config"
)

// Server serves generated Envoy resources over ADS and replaces them when
// the config changes. Envoy applies a new snapshot make-before-break: a
// changed cluster is warmed before it replaces the old one, and requests
// already in flight finish on the connections they started on.
type Server struct {
	nodeID string
	cache  cache.SnapshotCache
	xds    server.Server
	log    *slog.Logger

	mu      sync.Mutex // serialises Update so versions are ordered
	version int
}

// NewServer returns a server for the Envoy node nodeID. ctx bounds the
// lifetime of the underlying go-control-plane server.
func NewServer(ctx context.Context, nodeID string, log *slog.Logger) *Server {
	c := cache.NewSnapshotCache(true, cache.IDHash{}, nil)
	return &Server{
		nodeID: nodeID,
		cache:  c,
		xds:    server.NewServer(ctx, c, nil),
		log:    log,
	}
}

// Register adds the ADS service (and the per-type services, for Envoys
// configured without ADS) to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
}

// Update generates resources for cfg and publishes them as a new version.
// On error the previous snapshot keeps serving.
func (s *Server) Update(ctx context.Context, cfg *config.Config) (string, error) {
	res, err := Generate(cfg)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The version names the content, so an Envoy that outlives a spillway
	// restart is never told "same version" for different resources.
	digest, err := configDigest(cfg)
	if err != nil {
		return "", err
	}
	version := strconv.Itoa(s.version+1) + "-" + digest
	snap, err := cache.NewSnapshot(version, res.ByType())
	if err != nil {
		return "", fmt.Errorf("build snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return "", fmt.Errorf("snapshot is not consistent: %w", err)
	}
	if err := s.cache.SetSnapshot(ctx, s.nodeID, snap); err != nil {
		return "", fmt.Errorf("publish snapshot: %w", err)
	}
	s.version++
	return version, nil
}

// configDigest is a short hash of the config the resources are generated
// from (they are a function of it alone). Proto bytes would not do: Any
// fields hold maps marshalled in random order.
func configDigest(cfg *config.Config) (string, error) {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("hash config: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6]), nil
}
