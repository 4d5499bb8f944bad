package main

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthService is grpc.health.v1 as Envoy's active health check calls it:
// SERVING while spillway serves, NOT_SERVING while it drains. It remembers
// when it was last asked, so a shutdown waits for Envoy to notice only when
// an Envoy is checking.
type healthService struct {
	*health.Server
	now  func() time.Time
	last atomic.Int64 // unix nanoseconds of the last Check
}

func newHealthService(now func() time.Time) *healthService {
	h := &healthService{Server: health.NewServer(), now: now}
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return h
}

// Check answers and records the call.
func (h *healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.last.Store(h.now().UnixNano())
	return h.Server.Check(ctx, req)
}

// drain says NOT_SERVING and waits until the health checkers have had time
// to see it and move new streams to other replicas: at most max, and no
// longer once quiet has passed without a check (no Envoy is watching).
// Streams already open keep being served meanwhile.
func (h *healthService) drain(max, quiet, poll time.Duration) {
	h.Shutdown()
	start := h.now()
	for {
		now := h.now()
		if now.Sub(start) >= max || now.Sub(time.Unix(0, h.last.Load())) >= quiet {
			return
		}
		time.Sleep(poll)
	}
}
