package extproc

import (
	"strings"
	"testing"
	"time"

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
