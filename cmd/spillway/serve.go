package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/chargeback"
	"github.com/spillway-gw/spillway/chargeback/redischargeback"
	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/extproc"
	"github.com/spillway-gw/spillway/grpccodec"
	"github.com/spillway-gw/spillway/limits"
	"github.com/spillway-gw/spillway/limits/redislimits"
	"github.com/spillway-gw/spillway/reload"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/telemetry/extproctel"
	"github.com/spillway-gw/spillway/tlsreload"
	"github.com/spillway-gw/spillway/xds"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "spillway.yaml", "gateway config file")
	poll := fs.Duration("reload-interval", time.Second, "how often the config file is checked for changes")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	profiling := fs.Bool("pprof", false, "serve Go's profiler at /debug/pprof/ on the admin address")
	drainTime := fs.Duration("drain-time", 3*time.Second, "on shutdown, how long to report NOT_SERVING to Envoy's health checks before closing the gRPC port (ends early when no Envoy checks)")
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := config.Load(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return exitCode(1)
	}
	dir := filepath.Dir(*path)
	table, err := extproc.NewTable(cfg, dir)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}

	tel, err := telemetry.New(ctx, telemetry.Options{ServiceName: "spillway", Logger: log, RecordContent: cfg.Tracing.RecordContent})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}()

	// Entra ID token sources and client key sets outlive reloads too.
	auth, err := newEntraAuth(ctx, log, tel)
	if err != nil {
		return fmt.Errorf("entra: %w", err)
	}
	if err := auth.apply(cfg, dir, table); err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	// The capacity model outlives reloads; each table sets its options and backends.
	capModel := capacity.New(capacity.SystemClock{}, capacity.Options{})
	var responses extproc.ResponseStore // nil: in memory
	var limitStore limits.Store = limits.NewMemory()
	var usageStore chargeback.Store = chargeback.NewMemory()
	if cfg.State.Store == config.StoreRedis {
		co, err := redisClientOption(cfg.State.Redis, dir)
		if err != nil {
			return fmt.Errorf("%s: state.redis: %w", *path, err)
		}
		store := redisStore(ctx, co, cfg.State.Redis)
		defer store.Close()
		capModel.Share(capacity.Sharing{
			Store:    store,
			Replicas: cfg.State.Replicas,
			OnChange: func(err error) { logStoreChange(log, cfg.State, err) },
		})
		limitStore = redislimits.New(ctx, store.Conn, redislimits.Options{KeyPrefix: cfg.State.Redis.KeyPrefix, Timeout: cfg.State.Redis.Timeout.D()})
		// Not cancelled with ctx: the last flush comes after it ends.
		usageStore = redischargeback.New(context.WithoutCancel(ctx), store.Conn, cfg.State.Redis.KeyPrefix, cfg.State.Redis.Timeout.D())
		responses = sharedResponses{shared: store.Responses(), local: extproc.NewMemoryResponses(memoryResponsesMax, nil)}
		log.Info("capacity state shared in redis", slog.String("address", cfg.State.Redis.Address), slog.Int("replicas", cfg.State.Replicas))
	}
	ledger := chargeback.New(usageStore, capacity.SystemClock{}, log)
	go ledger.Run(ctx, time.Second)
	if err := registerStoreGauge(tel, capModel); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	ext := extproc.NewServer(table, extproc.Options{
		Log:       log,
		Capacity:  capModel,
		Telemetry: tel,
		Observer:  extproctel.ObserverFor(tel, nil),
		Tokens:    auth.pool,
		Healthy:   auth.pool.Healthy,
		Responses: responses,
		Limiter:   limits.New(limitStore, capacity.SystemClock{}, log),
		Ledger:    ledger,
	})
	tel.RegisterBackendState(func() []telemetry.BackendGauge { return backendGauges(capModel, ext.Current()) })
	xdsServer := xds.NewServer(ctx, cfg.Control.NodeID, log)
	version, err := xdsServer.Update(ctx, cfg)
	if err != nil {
		return fmt.Errorf("generate envoy config: %w", err)
	}
	log.Info("config loaded", slog.String("file", *path), slog.String("version", version))

	var creds []grpc.ServerOption
	if t := cfg.Control.TLS; t != nil {
		certs, err := tlsreload.New(t.Files(dir), log)
		if err != nil {
			return fmt.Errorf("control.tls: %w", err)
		}
		creds = append(creds, grpc.Creds(credentials.NewTLS(certs.Config())))
		log.Info("control port serves TLS", slog.String("cert_file", t.CertFile), slog.Bool("mutual", t.ClientCAFile != ""))
	}
	g := grpc.NewServer(append(creds,
		// Every client request is one or more short ext_proc streams: serve
		// them from a pool of goroutines rather than one new goroutine each.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Bodies travel in single messages; let them through without
		// waiting for flow-control window updates.
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(4<<20),
		grpc.MaxRecvMsgSize(int(2*cfg.Gateway.BodyLimitBytes+1<<20)),
		// Replies marshalled by generated code rather than reflection.
		grpc.ForceServerCodecV2(grpccodec.New()),
	)...)
	if !grpccodec.Generated() {
		log.Warn("built without -tags vtprotobuf: ext_proc replies are marshalled by reflection, which costs more CPU per request (make build and the Dockerfile set the tag)")
	}
	ext.Register(g)
	xdsServer.Register(g)
	// SERVING from here: the table is loaded and the snapshot published.
	hs := newHealthService(time.Now)
	healthpb.RegisterHealthServer(g, hs)

	grpcLn, err := net.Listen("tcp", cfg.Control.GRPCListen)
	if err != nil {
		return fmt.Errorf("control.grpc_listen: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.Control.AdminListen)
	if err != nil {
		grpcLn.Close()
		return fmt.Errorf("control.admin_listen: %w", err)
	}
	mux := adminMux(capModel, tel)
	mux.HandleFunc("GET /credentials", auth.serveStates)
	mux.HandleFunc("GET /consumers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, struct {
			Now       time.Time               `json:"now"`
			Consumers []extproc.ConsumerState `json:"consumers"`
		}{time.Now(), ext.ConsumerStates(r.URL.Query().Get("key"))})
	})
	mux.HandleFunc("GET /usage", func(w http.ResponseWriter, r *http.Request) { serveUsage(w, r, ext.Usage) })
	if *profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	admin := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 3)
	go func() { errc <- g.Serve(grpcLn) }()
	go func() { errc <- admin.Serve(adminLn) }()
	go func() {
		errc <- reload.Watch(ctx, *path, *poll, func(ctx context.Context) {
			applyReload(ctx, log, tel, *path, dir, ext, xdsServer, auth)
		})
	}()
	log.Info("spillway serving",
		slog.String("grpc", grpcLn.Addr().String()),
		slog.String("admin", adminLn.Addr().String()),
		slog.String("gateway", cfg.Gateway.Listen))

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Envoy's health checks see NOT_SERVING and send new streams to the
	// other replicas; then in-flight streams finish before the server goes.
	hs.drain(*drainTime, 4*xds.ControlHealthInterval, 50*time.Millisecond)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx)
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		g.Stop()
	}
	// Every request has ended: store the last of their usage.
	_ = ledger.Flush()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// applyReload validates the changed file and, only if it is good, makes it
// current: first the ext_proc table (a superset, so attempts Envoy already
// sent to a removed backend are still rewritten), then Envoy's snapshot.
func applyReload(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry, path, dir string, ext *extproc.Server, xdsServer *xds.Server, auth *entraAuth) {
	cfg, err := config.Load(path)
	if err != nil {
		tel.RecordReload(ctx, telemetry.ReloadRejected)
		log.Error("config reload rejected; the last good config keeps serving",
			slog.String("file", path), slog.Any("problems", problemList(err)))
		return
	}
	table, err := extproc.NewTable(cfg, dir)
	if err != nil {
		tel.RecordReload(ctx, telemetry.ReloadRejected)
		log.Error("config reload rejected; the last good config keeps serving", slog.String("file", path), slog.String("error", err.Error()))
		return
	}
	if err := auth.apply(cfg, dir, table); err != nil {
		tel.RecordReload(ctx, telemetry.ReloadRejected)
		log.Error("config reload rejected; the last good config keeps serving", slog.String("file", path), slog.String("error", err.Error()))
		return
	}
	table.Retain(ext.Current())
	ext.SetTable(table)
	version, err := xdsServer.Update(ctx, cfg)
	if err != nil {
		tel.RecordReload(ctx, telemetry.ReloadRejected)
		log.Error("config reload: envoy config not generated; envoy keeps the last good one", slog.String("error", err.Error()))
		return
	}
	tel.RecordReload(ctx, telemetry.ReloadApplied)
	log.Info("config reloaded", slog.String("file", path), slog.String("version", version))
}

// backendGauges is the capacity model's view of every backend, for metrics.
func backendGauges(m *capacity.Model, t *extproc.Table) []telemetry.BackendGauge {
	states := m.States()
	out := make([]telemetry.BackendGauge, 0, len(states))
	now := time.Now()
	for _, st := range states {
		g := telemetry.BackendGauge{
			Backend:         st.Name,
			Tier:            string(st.Tier),
			Utilization:     st.Utilization,
			RemainingTokens: int64(st.RemainingTokens),
			CoolingDown:     st.CooldownUntil.After(now),
			Effective:       st.Effective,
		}
		if b := t.Backend(st.Name); b != nil {
			g.Model = b.Model
		}
		out = append(out, g)
	}
	return out
}

func adminMux(capModel *capacity.Model, tel *telemetry.Telemetry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	// 200 while spillway serves, also when Redis fails (it then serves from
	// its local share): the detail says which.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := capModel.StoreStatus()
		if r.URL.Query().Has("detail") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(struct {
				Status string               `json:"status"`
				State  capacity.StoreStatus `json:"state"`
			}{"ok", st})
			return
		}
		if st.Degraded {
			_, _ = io.WriteString(w, "ok (state store unreachable: serving from this replica's share)\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	// What the capacity model believes about every backend right now.
	mux.HandleFunc("GET /capacity", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, struct {
			Now      time.Time               `json:"now"`
			Backends []capacity.BackendState `json:"backends"`
		}{time.Now(), capModel.States()})
	})
	return mux
}

// writeJSON answers an admin request with v, indented.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
