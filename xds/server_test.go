package xds

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spillway-gw/spillway/config"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return NewServer(ctx, "test-node", slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// snapshotState is what the cache serves the node: the version of each
// resource type and the names of the resources.
type snapshotState struct {
	versions []string // listeners, routes, clusters
	names    []string
}

func currentSnapshot(t *testing.T, s *Server) snapshotState {
	t.Helper()
	snap, err := s.cache.GetSnapshot("test-node")
	if err != nil {
		t.Fatalf("GetSnapshot: %v", err)
	}
	var st snapshotState
	for _, typ := range []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType} {
		st.versions = append(st.versions, snap.GetVersion(typ))
		for name := range snap.GetResources(typ) {
			st.names = append(st.names, name)
		}
	}
	slices.Sort(st.names)
	return st
}

func TestServerUpdate(t *testing.T) {
	s := newTestServer(t)
	if _, err := s.cache.GetSnapshot("test-node"); err == nil {
		t.Fatal("a snapshot exists before the first Update")
	}
	ctx := context.Background()
	withBackend := func(c *config.Config) {
		b := c.Models[0].Backends[2]
		b.Name, b.Priority = "tpm-extra", 3
		c.Models[0].Backends = append(c.Models[0].Backends, b)
	}
	broken := func(c *config.Config) { c.Gateway.Listen = "not-an-address" }

	steps := []struct {
		name        string
		mutate      func(c *config.Config)
		wantVersion string // "" when Update must fail
		wantServing string // the version the cache serves afterwards
		wantCluster string // a cluster that must be served afterwards
		noCluster   string // a cluster that must not be
	}{
		{"first config", nil, "1", "1", ClusterName("gpt-4o"), BackendName("tpm-extra")},
		{"a backend added", withBackend, "2", "2", BackendName("tpm-extra"), ""},
		{"failing generate keeps the last snapshot", broken, "", "2", BackendName("tpm-extra"), ""},
		{"the next good config takes the next version", nil, "3", "3", ClusterName("gpt-4o"), BackendName("tpm-extra")},
	}
	var before snapshotState
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			cfg := loadExample(t)
			if st.mutate != nil {
				st.mutate(cfg)
			}
			version, err := s.Update(ctx, cfg)
			if st.wantVersion == "" {
				if err == nil {
					t.Fatalf("Update of a broken config = %q, want an error", version)
				}
			} else if err != nil || seq(version) != st.wantVersion {
				t.Fatalf("Update = %q, %v; want version %q", version, err, st.wantVersion)
			}
			got := currentSnapshot(t, s)
			for _, v := range got.versions {
				if seq(v) != st.wantServing {
					t.Errorf("serving versions %v, want all %q", got.versions, st.wantServing)
					break
				}
			}
			if !slices.Contains(got.names, st.wantCluster) {
				t.Errorf("snapshot lacks %s: %v", st.wantCluster, got.names)
			}
			if st.noCluster != "" && slices.Contains(got.names, st.noCluster) {
				t.Errorf("snapshot still has %s", st.noCluster)
			}
			if st.wantVersion == "" && !slices.Equal(got.names, before.names) {
				t.Errorf("a failed Update changed the resources:\nbefore %v\nafter  %v", before.names, got.names)
			}
			before = got
		})
	}
}

func TestServerConcurrentUpdates(t *testing.T) {
	s := newTestServer(t)
	cfg := loadExample(t)
	const n = 8
	versions := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.Update(context.Background(), cfg)
			if err != nil {
				t.Error(err)
			}
			versions[i] = seq(v)
		})
	}
	wg.Wait()
	slices.SortFunc(versions, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	if !slices.Equal(versions, want) {
		t.Errorf("versions = %v, want each of %v once", versions, want)
	}
	if got := seq(currentSnapshot(t, s).versions[0]); got != "8" {
		t.Errorf("serving version %q, want 8", got)
	}
}

// TestServerPushesOverADS plays Envoy: it subscribes to clusters over ADS
// and sees a config change arrive as a new version, unprompted.
func TestServerPushesOverADS(t *testing.T) {
	s := newTestServer(t)
	if _, err := s.Update(context.Background(), loadExample(t)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go g.Serve(ln)
	t.Cleanup(g.Stop)

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &discoverygrpc.DiscoveryRequest{Node: &corev3.Node{Id: "test-node"}, TypeUrl: resource.ClusterType}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if seq(resp.GetVersionInfo()) != "1" || len(resp.GetResources()) != 4 {
		t.Fatalf("first response: version %q with %d clusters, want 1 with 4", resp.GetVersionInfo(), len(resp.GetResources()))
	}
	// ACK, as Envoy does, then change the config.
	ack := &discoverygrpc.DiscoveryRequest{Node: req.Node, TypeUrl: resource.ClusterType,
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}
	cfg := loadExample(t)
	cfg.Models[0].Backends = cfg.Models[0].Backends[:2]
	if _, err := s.Update(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if seq(resp.GetVersionInfo()) != "2" || len(resp.GetResources()) != 3 {
		t.Errorf("pushed response: version %q with %d clusters, want 2 with 3", resp.GetVersionInfo(), len(resp.GetResources()))
	}
}

// seq is the sequence part of a snapshot version "<n>-<content hash>".
func seq(version string) string {
	n, _, _ := strings.Cut(version, "-")
	return n
}

// TestVersionNamesContent: the same config gives the same content hash, a
// different one a different hash, so a restarted spillway never serves new
// resources under a version an Envoy has already applied.
func TestVersionNamesContent(t *testing.T) {
	cfg := loadExample(t)
	a := NewServer(context.Background(), "n", slog.New(slog.DiscardHandler))
	b := NewServer(context.Background(), "n", slog.New(slog.DiscardHandler))
	va, err := a.Update(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := b.Update(context.Background(), cfg)
	if va != vb {
		t.Errorf("same config, versions %q and %q", va, vb)
	}
	cfg.Gateway.BodyLimitBytes++
	vc, _ := b.Update(context.Background(), cfg)
	if _, h1, _ := strings.Cut(vb, "-"); strings.HasSuffix(vc, h1) {
		t.Errorf("changed config kept the content hash: %q then %q", vb, vc)
	}
}
