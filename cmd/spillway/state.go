package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/metric"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/capacity/redisstore"
	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/extproc"
	"github.com/spillway-gw/spillway/telemetry"
)

// redisStore connects the capacity model's shared state (lazily: Redis may
// be down when spillway starts, and spillway must start anyway).
func redisStore(ctx context.Context, co rueidis.ClientOption, rc config.Redis) *redisstore.Store {
	return redisstore.Connect(ctx, co, redisstore.Options{KeyPrefix: rc.KeyPrefix, Timeout: rc.Timeout.D()})
}

// redisClientOption is how every store reaches Redis.
func redisClientOption(rc config.Redis, dir string) (rueidis.ClientOption, error) {
	co := rueidis.ClientOption{
		InitAddress:  []string{rc.Address},
		Username:     rc.Username,
		DisableCache: true, // no client-side caching: every read must see the other replicas
		Dialer:       net.Dialer{Timeout: rc.DialTimeout.D()},
		// Fail fast rather than queue: a replica that cannot reach Redis
		// serves from its own share (see capacity.Sharing).
		ConnWriteTimeout: rc.Timeout.D() * 4,
		DisableRetry:     true,
	}
	if !rc.Password.IsZero() {
		pw, err := rc.Password.Resolve(dir)
		if err != nil {
			return co, fmt.Errorf("password: %w", err)
		}
		co.Password = pw
	}
	if rc.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: rc.ServerName}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(rc.Address)
		}
		if rc.CAFile != "" {
			pem, err := os.ReadFile(rc.CAFile)
			if err != nil {
				return co, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return co, fmt.Errorf("ca_file %s: no PEM certificate", rc.CAFile)
			}
			tc.RootCAs = pool
		}
		co.TLSConfig = tc
	}
	return co, nil
}

// logStoreChange says, once per change, that the shared state failed or
// came back: the line an operator paged at night needs.
func logStoreChange(log *slog.Logger, st config.State, err error) {
	if err != nil {
		log.Error("capacity state store unreachable: serving from this replica's share of every backend until it answers",
			slog.String("address", st.Redis.Address), slog.Int("replicas", st.Replicas), slog.String("error", err.Error()))
		return
	}
	log.Info("capacity state store reachable again: shared state resumed", slog.String("address", st.Redis.Address))
}

// registerStoreGauge exports spillway.state_store.degraded: 1 while the
// shared state store fails and this replica serves from its own share.
func registerStoreGauge(tel *telemetry.Telemetry, m *capacity.Model) error {
	meter := tel.MeterProvider().Meter("spillway")
	_, err := meter.Int64ObservableGauge("spillway.state_store.degraded",
		metric.WithDescription("1 while the shared capacity state store (Redis) is unreachable and this replica serves from its own share of every backend"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if m.StoreStatus().Degraded {
				v = 1
			}
			o.Observe(v)
			return nil
		}))
	return err
}

// memoryResponsesMax bounds the response ids a replica remembers itself
// while Redis is unreachable.
const memoryResponsesMax = 100_000

// sharedResponses keeps the Responses API's affinity in Redis, and a copy
// in this replica's memory: while Redis is unreachable, follow-ups of the
// responses this replica saw still find their backend.
type sharedResponses struct {
	shared, local extproc.ResponseStore
}

var _ extproc.ResponseStore = sharedResponses{}

func (s sharedResponses) Get(ctx context.Context, id string) (string, bool, error) {
	b, found, err := s.shared.Get(ctx, id)
	if err != nil {
		return s.local.Get(ctx, id)
	}
	return b, found, nil
}

func (s sharedResponses) Put(ctx context.Context, id, backend string, ttl time.Duration) error {
	_ = s.local.Put(ctx, id, backend, ttl)
	return s.shared.Put(ctx, id, backend, ttl)
}
