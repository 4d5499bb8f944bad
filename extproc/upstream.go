package extproc

import (
	"log/slog"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/prototext"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/xds"
)

// Attempt is one upstream attempt as the upstream phase saw it.
type Attempt struct {
	RequestID string
	Backend   *Backend
	// Number is Envoy's attempt count for this request, starting at 1.
	Number int
	// Status is the backend's status; 0 if no response headers arrived
	// (reset, timeout), in which case Envoy retries without telling us.
	Status int
	// RateLimit holds the rate-limit headers the backend sent.
	RateLimit map[string]string
}

// rateLimitHeaders are the headers Azure uses to say how much capacity is
// left or when to come back; every attempt's values are observed.
var rateLimitHeaders = []string{
	"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
	"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
	"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-rate-limit-reset-tokens",
	"retry-after", "retry-after-ms", "x-ms-retry-after-ms",
	"azure-openai-deployment-utilization", "x-ms-region",
}

// upstreamPhase handles the upstream filter's stream for one attempt.
type upstreamPhase struct {
	s *Server
	t *Table

	attempt  Attempt
	reported bool
}

func (p *upstreamPhase) handle(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	switch req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return p.requestHeaders(req)
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return p.responseHeaders(req)
	}
	return continueResponse(req, nil)
}

func (p *upstreamPhase) requestHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	h := headerMap(req)
	p.attempt.RequestID = h.get("x-request-id")
	p.attempt.Number, _ = strconv.Atoi(h.get("x-envoy-attempt-count"))
	name := backendFromAttributes(req.GetAttributes())
	b := p.t.backends[name]
	var m mutation
	// The client's credentials are for spillway, never for a backend.
	m.remove("api-key", "authorization")
	m.remove(h.spillwayKeys()...)
	if b == nil {
		// Cannot happen with a consistent snapshot: the endpoint carries a
		// backend name the table knows. Let the attempt fail visibly.
		p.s.log.Error("attempt to an endpoint with no known backend", slog.String("request_id", p.attempt.RequestID), slog.String("backend", name))
		return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
	}
	p.attempt.Backend = b
	if tgt, ok := parsePath(h.get(":path")); ok {
		m.set(":path", upstreamPath(b, tgt.opPath))
	}
	if b.apiKey != "" {
		m.set("api-key", b.apiKey)
	}
	return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
}

func (p *upstreamPhase) responseHeaders(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	h := headerMap(req)
	p.attempt.Status, _ = strconv.Atoi(h.get(":status"))
	for _, k := range rateLimitHeaders {
		if v := h.get(k); v != "" {
			if p.attempt.RateLimit == nil {
				p.attempt.RateLimit = map[string]string{}
			}
			p.attempt.RateLimit[k] = v
		}
	}
	var m mutation
	if b := p.attempt.Backend; b != nil {
		m.set(HeaderBackend, b.Name)
		m.set(HeaderTier, string(b.Tier))
		m.set(HeaderAttempts, strconv.Itoa(max(p.attempt.Number, 1)))
	}
	p.report()
	return continueResponse(req, &extprocsvc.CommonResponse{HeaderMutation: m.get()})
}

func (p *upstreamPhase) report() {
	if p.reported || p.attempt.Backend == nil {
		return
	}
	p.reported = true
	p.s.observer.ObserveAttempt(p.attempt)
	p.s.log.Debug("attempt",
		slog.String("request_id", p.attempt.RequestID),
		slog.String("backend", p.attempt.Backend.Name),
		slog.Int("attempt", p.attempt.Number),
		slog.Int("status", p.attempt.Status),
	)
}

// done reports attempts that ended without response headers (reset,
// connect failure, per-try timeout) with status 0.
func (p *upstreamPhase) done() { p.report() }

// backendFromAttributes finds the backend name in the upstream host's
// metadata. Envoy 1.40 sends the xds.upstream_host_metadata attribute as a
// string holding the envoy.config.core.v3.Metadata proto in text format.
func backendFromAttributes(attrs map[string]*structpb.Struct) string {
	for _, s := range attrs {
		v, ok := s.GetFields()[xds.UpstreamHostMetadataAttribute]
		if !ok {
			continue
		}
		var md corev3.Metadata
		if err := prototext.Unmarshal([]byte(v.GetStringValue()), &md); err != nil {
			return ""
		}
		return md.GetFilterMetadata()[xds.MetadataNamespace].GetFields()[xds.BackendKey].GetStringValue()
	}
	return ""
}
