package main

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestHealthServiceDrain(t *testing.T) {
	ctx := context.Background()
	status := func(h *healthService) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	t.Run("serving until drained", func(t *testing.T) {
		h := newHealthService(time.Now)
		if got := status(h); got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("status %v, want SERVING", got)
		}
		h.drain(0, 0, time.Millisecond)
		if got := status(h); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("status after drain %v, want NOT_SERVING", got)
		}
	})
	t.Run("no checker: ends after the quiet time", func(t *testing.T) {
		h := newHealthService(time.Now)
		status(h)
		start := time.Now()
		h.drain(10*time.Second, 50*time.Millisecond, time.Millisecond)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("drain took %v with nobody checking, want about the quiet time", d)
		}
	})
	t.Run("checked: lasts until max", func(t *testing.T) {
		h := newHealthService(time.Now)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
					_, _ = h.Check(ctx, &healthpb.HealthCheckRequest{})
				}
			}
		}()
		status(h) // Envoy has checked before the drain starts
		start := time.Now()
		// The quiet time is 80 check intervals: only a machine that starves
		// the checker that long ends the drain early.
		h.drain(600*time.Millisecond, 400*time.Millisecond, time.Millisecond)
		if d := time.Since(start); d < 600*time.Millisecond {
			t.Errorf("drain ended after %v while checks kept coming, want 600ms", d)
		}
	})
}
