package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/chargeback"
	"github.com/spillway-gw/spillway/limits"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/tokens"
	"github.com/spillway-gw/spillway/xds"
)

// Server is the ext_proc gRPC service for both phases.
type Server struct {
	extprocsvc.UnimplementedExternalProcessorServer

	table    atomic.Pointer[Table]
	log      *slog.Logger
	observer Observer
	capacity *capacity.Model // nil: static order only
	tel      *telemetry.Telemetry
	flights  flights
	tokens   BackendTokens
	healthy  func(backend string) bool
	// responses records which backend stored each response (Responses API).
	responses ResponseStore
	// limiter enforces consumers' limits.
	limiter *limits.Limiter
	// ledger records who used which tokens, for chargeback.
	ledger *chargeback.Ledger
	// memo remembers the counts of long strings, per consumer.
	memo *tokens.Memo
}

// Options are a Server's collaborators.
type Options struct {
	Log *slog.Logger
	// Observer learns every attempt and request; may be nil.
	Observer Observer
	// Capacity is the capacity model used by routing: capacity; nil
	// means every model routes in static order.
	Capacity *capacity.Model
	// Telemetry traces requests and attempts; nil traces nothing.
	Telemetry *telemetry.Telemetry
	// Tokens gives Entra ID backends their bearer tokens; may be nil when
	// no backend uses Entra ID.
	Tokens BackendTokens
	// Healthy, when set, says whether a backend may be routed to now
	// (false: e.g. no valid Entra ID token); backends it refuses are left
	// out of every plan.
	Healthy func(backend string) bool
	// Responses records which backend stored each response of the
	// Responses API; nil keeps them in memory (MemoryResponses).
	Responses ResponseStore
	// Limiter enforces consumers' limits; nil counts them in this
	// process's memory.
	Limiter *limits.Limiter
	// Ledger records the tokens used by consumer × model × tier × backend;
	// nil keeps them in this process's memory.
	Ledger *chargeback.Ledger
}

// memoryResponsesMax bounds the default response store: about 100 bytes an
// id, so some 50 MB at the bound.
const memoryResponsesMax = 500_000

// Observer learns what happened to every attempt and every request. The
// capacity model and telemetry implement it; it must not block.
type Observer interface {
	ObserveAttempt(Attempt)
	ObserveRequest(Request)
}

var _ extprocsvc.ExternalProcessorServer = (*Server)(nil)

// NewServer returns a server routing with table t.
func NewServer(t *Table, o Options) *Server {
	s := &Server{log: o.Log, observer: o.Observer, capacity: o.Capacity, tel: o.Telemetry, flights: flights{m: map[string]*flight{}},
		tokens: o.Tokens, healthy: o.Healthy, memo: tokens.NewMemo()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.observer == nil {
		s.observer = nopObserver{}
	}
	if s.limiter = o.Limiter; s.limiter == nil {
		s.limiter = limits.New(limits.NewMemory(), capacity.SystemClock{}, s.log)
	}
	if s.ledger = o.Ledger; s.ledger == nil {
		s.ledger = chargeback.New(chargeback.NewMemory(), capacity.SystemClock{}, s.log)
	}
	if s.responses = o.Responses; s.responses == nil {
		s.responses = NewMemoryResponses(memoryResponsesMax, nil)
	}
	s.SetTable(t)
	return s
}

// SetTable swaps in a new routing table; streams already open keep theirs.
// The capacity model learns the new backends (keeping the state of those
// whose limits did not change).
func (s *Server) SetTable(t *Table) {
	if s.capacity != nil {
		s.capacity.SetOptions(t.capacityOptions)
		s.capacity.SetBackends(t.specs)
	}
	s.table.Store(t)
}

// Register adds the ext_proc service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { extprocsvc.RegisterExternalProcessorServer(g, s) }

// Process serves one ext_proc stream: one client request (router phase) or
// one attempt (upstream phase), told apart by the stream's gRPC metadata.
func (s *Server) Process(stream extprocsvc.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	t := s.table.Load()
	var h phaseHandler
	if phaseOf(ctx) == xds.PhaseUpstream {
		h = &upstreamPhase{s: s, t: t}
	} else {
		h = &routerPhase{s: s, t: t}
	}
	defer h.done()
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || ctx.Err() != nil {
				return nil
			}
			return err
		}
		resp := h.handle(ctx, req)
		if resp == nil {
			continue
		}
		if err := stream.Send(resp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

type phaseHandler interface {
	handle(context.Context, *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse
	done()
}

func phaseOf(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(xds.PhaseMetadataKey); len(v) > 0 {
		return v[0]
	}
	return xds.PhaseRouter
}

// continueResponse answers a message of the given kind, applying m (may be nil).
func continueResponse(req *extprocsvc.ProcessingRequest, common *extprocsvc.CommonResponse) *extprocsvc.ProcessingResponse {
	if common == nil {
		common = &extprocsvc.CommonResponse{}
	}
	switch req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocsvc.HeadersResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{
			RequestBody: &extprocsvc.BodyResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocsvc.HeadersResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocsvc.BodyResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocsvc.TrailersResponse{}}}
	case *extprocsvc.ProcessingRequest_ResponseTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocsvc.TrailersResponse{}}}
	}
	return nil
}

// localReply answers the client directly with an Azure-shaped error.
func localReply(e *azure.Error, extra ...[2]string) *extprocsvc.ProcessingResponse {
	var m mutation
	m.set("content-type", "application/json")
	for _, h := range extra {
		m.set(h[0], h[1])
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocsvc.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(e.Status)},
			Headers: m.get(),
			Body:    e.Body(),
			Details: "spillway_" + strconv.Itoa(e.Status),
		},
	}}
}

// commonResponse is the common part of a headers or body reply.
func commonResponse(resp *extprocsvc.ProcessingResponse) *extprocsvc.CommonResponse {
	switch r := resp.Response.(type) {
	case *extprocsvc.ProcessingResponse_RequestHeaders:
		return r.RequestHeaders.Response
	case *extprocsvc.ProcessingResponse_RequestBody:
		return r.RequestBody.Response
	case *extprocsvc.ProcessingResponse_ResponseHeaders:
		return r.ResponseHeaders.Response
	case *extprocsvc.ProcessingResponse_ResponseBody:
		return r.ResponseBody.Response
	}
	return nil
}

// localJSON answers the client directly with a JSON body.
func localJSON(status int, body []byte) *extprocsvc.ProcessingResponse {
	var m mutation
	m.set("content-type", "application/json")
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocsvc.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: m.get(),
			Body:    body,
			Details: "spillway_" + strconv.Itoa(status),
		},
	}}
}

func headerMap(req *extprocsvc.ProcessingRequest) headers {
	var hm *corev3.HeaderMap
	switch r := req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		hm = r.RequestHeaders.GetHeaders()
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		hm = r.ResponseHeaders.GetHeaders()
	}
	return headers(hm.GetHeaders())
}

type nopObserver struct{}

func (nopObserver) ObserveAttempt(Attempt) {}
func (nopObserver) ObserveRequest(Request) {}
