package extproc

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/jwtauth"
	"github.com/spillway-gw/spillway/limits"
)

func TestLimitKey(t *testing.T) {
	claims := &jwtauth.Claims{AppID: "app-1", ObjectID: "oid-1", TenantID: "tid-1", Subject: "sub-1"}
	tests := []struct {
		name   string
		cl     consumerLimits
		h      headers
		claims *jwtauth.Claims
		want   string
	}{
		{"the consumer by default", consumerLimits{}, hdrs("x-team", "a"), claims, "batch"},
		{"a header's value", consumerLimits{header: "x-team"}, hdrs("x-team", "red"), nil, "batch=red"},
		{"a missing header: the empty value", consumerLimits{header: "x-team"}, nil, nil, "batch="},
		{"a claim", consumerLimits{claim: "oid"}, nil, claims, "batch=oid-1"},
		{"a claim without a token", consumerLimits{claim: "tid"}, nil, nil, "batch="},
		{"a long header is cut", consumerLimits{header: "x-team"}, hdrs("x-team", strings.Repeat("x", 1000)), nil, "batch=" + strings.Repeat("x", maxKeyValue)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cl.key("batch", tt.h, tt.claims); got != tt.want {
				t.Fatalf("key %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDescribeLimit(t *testing.T) {
	p, _ := limits.ParsePeriod("monthly", "Europe/Paris")
	for _, tt := range []struct {
		r    limits.Refusal
		want string
	}{
		{limits.Refusal{Kind: limits.KindTPM, Limit: 1000, Used: 900, Cost: 300}, "the token rate limit of consumer 'batch': 1000 tokens per 1m0s (900 in use, this request needs 300)"},
		{limits.Refusal{Kind: limits.KindRPM, Model: "gpt-4o", Limit: 6}, "the request rate limit of consumer 'batch' on model 'gpt-4o': 6 requests per 1m0s"},
		{limits.Refusal{Kind: limits.KindQuota, Limit: 5000, Used: 4900, Cost: 300, Period: p}, "the monthly token quota of consumer 'batch' is 5000 tokens (Europe/Paris), 4900 used, this request needs 300"},
	} {
		if got := describe("batch", tt.r, time.Minute); got != tt.want {
			t.Errorf("describe = %q\nwant       %q", got, tt.want)
		}
	}
}

// TestChargeLimitsRefusal: over its tpm a consumer gets a 429 with
// retry-after, its remaining tokens and the access log's metadata.
func TestChargeLimitsRefusal(t *testing.T) {
	cl := &consumerLimits{rules: &limits.Rules{Window: time.Minute, All: limits.Scope{TPM: 1000}}}
	tbl := &Table{limitHeaders: config.LimitHeaders{RemainingTokens: "x-ratelimit-remaining-tokens", ConsumedTokens: "x-spillway-consumed-tokens"}}
	s := NewServer(tbl, Options{})
	phase := func() *routerPhase {
		return &routerPhase{s: s, t: tbl, limitKey: "batch", path: "/p", req: Request{Consumer: "batch", Cost: 600}}
	}
	first := phase()
	if r := first.chargeLimits(cl, "gpt-4o"); r != nil || first.charge == nil {
		t.Fatalf("first request refused: %v", r)
	}
	second := phase()
	r := second.chargeLimits(cl, "gpt-4o")
	im := r.GetImmediateResponse()
	if im == nil || im.Status.Code != 429 || second.charge != nil {
		t.Fatalf("second request: %v, want a 429", r)
	}
	got := map[string]string{}
	for _, h := range im.Headers.SetHeaders {
		got[h.Header.Key] = string(h.Header.RawValue)
	}
	if got["retry-after"] != "60" || got["x-ratelimit-remaining-tokens"] != "400" || got["x-spillway-consumed-tokens"] != "0" || got["retry-after-ms"] == "" {
		t.Errorf("headers %v", got)
	}
	md := r.DynamicMetadata.Fields["spillway"].GetStructValue().Fields
	if md["consumer"].GetStringValue() != "batch" || md["limit"].GetStringValue() != "tpm" || md["cost"].GetNumberValue() != 600 {
		t.Errorf("access log metadata %v", md)
	}
	if !strings.Contains(string(im.Body), "token rate limit of consumer 'batch'") {
		t.Errorf("body %s", im.Body)
	}
}
