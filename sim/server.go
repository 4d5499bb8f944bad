package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/jwtauth"
)

// Options are the simulator's injected dependencies. Zero values get defaults.
type Options struct {
	// Clock defaults to RealClock.
	Clock Clock
	// PromptCounter defaults to ApproxPromptTokens.
	PromptCounter PromptCounter
	// Logger defaults to a logger that discards everything.
	Logger *slog.Logger
	// HTTPClient fetches the Entra ID signing keys; default http.DefaultClient.
	HTTPClient *http.Client
}

// Server is the simulator's HTTP handler.
type Server struct {
	cfg         *Config
	clock       Clock
	count       PromptCounter // nil: the built-in approximation on the parsed request
	log         *slog.Logger
	keys        map[string]struct{}
	entra       *jwtauth.Verifier   // nil: tokens are not accepted
	globalKeys  map[string]struct{} // top-level keys (keys also has the deployments' own)
	deployments map[string]*deployment
	order       []string // deployment names in config order
	ids         atomic.Uint64
	bufs        sync.Pool
}

var _ http.Handler = (*Server)(nil)

// New validates cfg and builds a simulator.
func New(cfg *Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("sim: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		clock:       opts.Clock,
		count:       opts.PromptCounter,
		log:         opts.Logger,
		keys:        make(map[string]struct{}, len(cfg.Keys)),
		deployments: make(map[string]*deployment, len(cfg.Deployments)),
		entra:       entraVerifier(cfg.Entra, opts.HTTPClient),
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range cfg.Keys {
		s.keys[k] = struct{}{}
	}
	// globalKeys open every deployment; s.keys also holds the deployments'
	// own keys, which pass the first check and are then held to theirs.
	globalKeys := maps.Clone(s.keys)
	now := s.clock.Now()
	for i := range cfg.Deployments {
		d := &cfg.Deployments[i]
		s.deployments[d.Name] = newDeployment(d, cfg.TimeScale, cfg.Seed, now)
		s.order = append(s.order, d.Name)
		for _, k := range d.Keys {
			s.keys[k] = struct{}{}
		}
	}
	s.globalKeys = globalKeys
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return s, nil
}

// Paths.
const (
	deploymentsPrefix = "/openai/deployments/"
	v1Chat            = "/openai/v1/chat/completions"
	v1Embeddings      = "/openai/v1/embeddings"
	v1Completions     = "/openai/v1/completions"
	v1Responses       = "/openai/v1/responses"
	ledgerPath        = "/_sim/ledger"
	resetPath         = "/_sim/reset"
	healthPath        = "/_sim/health"
)

// Operations.
const (
	opChat        = "chat/completions"
	opEmbeddings  = "embeddings"
	opCompletions = "completions"
	opResponses   = "responses"
)

func errNotFound() *azure.Error {
	return &azure.Error{Status: http.StatusNotFound, Code: "404", Message: "Resource not found"}
}

func errMethod() *azure.Error {
	return &azure.Error{Status: http.StatusMethodNotAllowed, Code: "405", Message: "The requested method is not allowed for this resource."}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, deploymentsPrefix):
		name, op, ok := strings.Cut(p[len(deploymentsPrefix):], "/")
		if !ok || (op != opChat && op != opEmbeddings && op != opCompletions) || name == "" {
			errNotFound().Write(w)
			return
		}
		s.serveAPI(w, r, name, op, false)
	case p == v1Chat:
		s.serveAPI(w, r, "", opChat, true)
	case p == v1Embeddings:
		s.serveAPI(w, r, "", opEmbeddings, true)
	case p == v1Completions:
		s.serveAPI(w, r, "", opCompletions, true)
	case p == v1Responses:
		s.serveAPI(w, r, "", opResponses, true)
	case strings.HasPrefix(p, v1Responses+"/"):
		s.serveStoredResponse(w, r, p[len(v1Responses)+1:])
	case p == ledgerPath:
		if r.Method != http.MethodGet {
			errMethod().Write(w)
			return
		}
		s.serveLedger(w)
	case p == resetPath:
		if r.Method != http.MethodPost {
			errMethod().Write(w)
			return
		}
		s.Reset()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"reset"}`)
	case p == healthPath:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	default:
		errNotFound().Write(w)
	}
}

// Ledger returns what every deployment has seen since start or the last reset.
func (s *Server) Ledger() Ledger {
	now := s.clock.Now()
	l := Ledger{Deployments: make(map[string]DeploymentLedger, len(s.deployments))}
	for _, name := range s.order {
		l.Deployments[name] = s.deployments[name].snapshot(now)
	}
	return l
}

// Reset clears every deployment's counters and throttling state.
func (s *Server) Reset() {
	now := s.clock.Now()
	for _, name := range s.order {
		s.deployments[name].reset(now)
	}
}

func (s *Server) serveLedger(w http.ResponseWriter) {
	b, err := json.Marshal(s.Ledger())
	if err != nil {
		azure.ServerError(http.StatusInternalServerError).Write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Serve serves the simulator on ln until ctx is done, then shuts
// down gracefully (in-flight requests get up to grace to finish).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sim serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim serve: %w", err)
	}
	return nil
}
