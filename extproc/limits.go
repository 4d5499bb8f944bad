package extproc

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/chargeback"
	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/jwtauth"
	"github.com/spillway-gw/spillway/limits"
)

// consumerLimits are one consumer's limits and what its counters are kept
// by.
type consumerLimits struct {
	rules *limits.Rules
	// header or claim: the limit key's source besides the consumer; both
	// empty: the consumer alone.
	header, claim string
}

// maxKeyValue bounds the part of a limit key a client's header supplies.
const maxKeyValue = 256

// key is the limit key of a request of consumer.
func (cl *consumerLimits) key(consumer string, h headers, claims *jwtauth.Claims) string {
	var v string
	switch {
	case cl.header != "":
		v = h.get(cl.header)
	case cl.claim != "" && claims == nil:
		// A key, not a token: the empty value.
	case cl.claim != "":
		switch cl.claim {
		case "appid":
			v = claims.AppID
		case "oid":
			v = claims.ObjectID
		case "tid":
			v = claims.TenantID
		case "sub":
			v = claims.Subject
		}
	default:
		return consumer
	}
	if len(v) > maxKeyValue {
		v = v[:maxKeyValue]
	}
	return consumer + "=" + v
}

func newConsumerLimits(cfg *config.Config) map[string]*consumerLimits {
	out := map[string]*consumerLimits{}
	for _, c := range cfg.Consumers {
		if c.Limits != nil {
			out[c.Name] = &consumerLimits{rules: c.Limits.Rules(cfg.Limits.Window.D()), header: c.Limits.Key.Header, claim: c.Limits.Key.Claim}
		}
	}
	return out
}

// chargeLimits charges the request to its consumer's limits; a non-nil
// reply refuses it.
func (p *routerPhase) chargeLimits(cl *consumerLimits, model string) *extprocsvc.ProcessingResponse {
	c := p.s.limiter.Charge(cl.rules, p.limitKey, model, int64(p.req.Cost))
	ref, refused := c.Refusal()
	if !refused {
		p.charge = c
		return nil
	}
	now := time.Now()
	wait := max(ref.RetryAt.Sub(now), 0)
	secs := azure.RetryAfterSeconds(wait.Milliseconds())
	extra := append(p.limitHeaders(c.Remaining()), [2]string{p.t.limitHeaders.ConsumedTokens, "0"},
		[2]string{"retry-after", secs}, [2]string{"retry-after-ms", strconv.FormatInt(wait.Milliseconds(), 10)})
	var e *azure.Error
	if ref.Kind == limits.KindQuota {
		e = azure.ConsumerQuotaExceeded(describe(p.req.Consumer, ref, cl.rules.Window), ref.RetryAt.In(ref.Period.Loc).Format(time.RFC3339))
	} else {
		e = azure.ConsumerRateLimited(describe(p.req.Consumer, ref, cl.rules.Window), secs)
	}
	resp := p.reject(e, extra...)
	resp.DynamicMetadata = spillwayMetadata(map[string]*structpb.Value{
		"consumer": structpb.NewStringValue(p.req.Consumer),
		"model":    structpb.NewStringValue(model),
		"path":     structpb.NewStringValue(p.path),
		"cost":     structpb.NewNumberValue(float64(p.req.Cost)),
		"limit":    structpb.NewStringValue(string(ref.Kind)),
	})
	return resp
}

// describe names the rule a request broke, for the client.
func describe(consumer string, r limits.Refusal, window time.Duration) string {
	scope := fmt.Sprintf("consumer '%s'", consumer)
	if r.Model != "" {
		scope += fmt.Sprintf(" on model '%s'", r.Model)
	}
	switch r.Kind {
	case limits.KindRPM:
		return fmt.Sprintf("the request rate limit of %s: %d requests per %v", scope, r.Limit, window)
	case limits.KindQuota:
		zone := ""
		if r.Period.Every == 0 {
			zone = " (" + r.Period.Loc.String() + ")"
		}
		return fmt.Sprintf("the %s token quota of %s is %d tokens%s, %d used, this request needs %d", r.Period, scope, r.Limit, zone, r.Used, r.Cost)
	default:
		return fmt.Sprintf("the token rate limit of %s: %d tokens per %v (%d in use, this request needs %d)", scope, r.Limit, window, r.Used, r.Cost)
	}
}

// limitHeaders are the consumer's remaining tokens, requests and quota for
// the kinds it has a rule of.
func (p *routerPhase) limitHeaders(r limits.Remaining) [][2]string {
	names := p.t.limitHeaders
	var out [][2]string
	for _, h := range []struct {
		name string
		v    int64
	}{{names.RemainingTokens, r.Tokens}, {names.RemainingRequests, r.Requests}, {names.RemainingQuotaTokens, r.QuotaTokens}} {
		if h.v >= 0 {
			out = append(out, [2]string{h.name, strconv.FormatInt(h.v, 10)})
		}
	}
	return out
}

// settleLimits ends the request's charge: the real usage of a served
// request, nothing for one that failed or was cancelled.
func (p *routerPhase) settleLimits() {
	if p.charge == nil {
		return
	}
	if p.req.UsageKnown && p.req.Status/100 == 2 {
		p.charge.Settle(int64(p.req.Usage.PromptTokens + p.req.Usage.CompletionTokens))
	} else {
		p.charge.Release()
	}
}

// consumedTokens is what the consumed-tokens header says for a response
// of status: the usage a JSON response reported (known at its end), else
// the arrival charge of a stream, 0 for a failed request.
func (p *routerPhase) consumedTokens(status int) string {
	if status/100 != 2 {
		return "0"
	}
	if p.req.UsageKnown && !p.isSSE {
		return strconv.Itoa(p.req.Usage.PromptTokens + p.req.Usage.CompletionTokens)
	}
	return strconv.Itoa(p.req.Cost)
}

// Usage reports the tokens used by consumer × model × tier × backend in
// the hours starting in [from, to).
func (s *Server) Usage(from, to time.Time) ([]chargeback.Row, error) {
	return s.ledger.Report(from, to)
}

// ConsumerState is one limited consumer's use of its limits.
type ConsumerState struct {
	Name string `json:"name"`
	// Key is the limit key reported; KeyedBy says what other values of it
	// there are (a header or a claim), empty when it is the consumer.
	Key     string         `json:"key"`
	KeyedBy string         `json:"keyed_by,omitempty"`
	Limits  []limits.State `json:"limits"`
}

// ConsumerStates reports every limited consumer's window use, quota use and
// renewal, under the limit key value (the header's or claim's value) for
// consumers keyed by one.
func (s *Server) ConsumerStates(value string) []ConsumerState {
	t := s.table.Load()
	names := make([]string, 0, len(t.limits))
	for n := range t.limits {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]ConsumerState, 0, len(names))
	for _, n := range names {
		cl := t.limits[n]
		st := ConsumerState{Name: n, Key: n}
		switch {
		case cl.header != "":
			st.KeyedBy, st.Key = "header "+cl.header, n+"="+value
		case cl.claim != "":
			st.KeyedBy, st.Key = "claim "+cl.claim, n+"="+value
		}
		st.Limits = s.limiter.States(cl.rules, st.Key)
		out = append(out, st)
	}
	return out
}
