package sim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/spillway-gw/spillway/azure"
)

// hugeRetryAfter is the value sent by throttle_headers: huge (Azure's zero-quota answer).
const hugeRetryAfter = 86400 * time.Second

// throttleReason says which limit a 429 is about.
type throttleReason uint8

const (
	reasonTokens   throttleReason = iota // token budget or PTU utilization
	reasonRequests                       // request window
)

// throttle is a 429 (or 424) ready to be written.
type throttle struct {
	status     int
	retryAfter time.Duration // real (scaled) time until the limit frees up
	reason     throttleReason
	apiVersion string
	// bare: no retry header, whatever the deployment's form (throttle_headers_missing).
	bare bool
}

// write sends the throttle in the deployment's configured header form and wording.
func (t throttle) write(w http.ResponseWriter, d *Deployment) {
	after := t.retryAfter
	if d.ThrottleHeaders == HeadersHuge {
		after = hugeRetryAfter
	}
	ms := max(1, int64((after+time.Millisecond-1)/time.Millisecond))
	secs := azure.RetryAfterSeconds(ms)
	h := w.Header()
	form := d.ThrottleHeaders
	if t.bare {
		form = HeadersNone
	}
	switch form {
	case HeadersRetryAfter:
		h.Set("Retry-After", secs)
	case HeadersRetryAfterMs:
		h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
	case HeadersXMsRetryAfter:
		h.Set("X-Ms-Retry-After-Ms", strconv.FormatInt(ms, 10))
	case HeadersBoth, HeadersHuge:
		h.Set("Retry-After", secs)
		h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
	case HeadersReset:
		if t.reason == reasonRequests {
			h.Set("X-Ratelimit-Reset-Requests", secs)
			h.Set("Policy-Id", "DeploymentRatelimit-Call")
		} else {
			h.Set("X-Ratelimit-Reset-Tokens", secs)
			h.Set("Policy-Id", "DeploymentRatelimit-Token")
		}
	case HeadersResetMisspelt:
		h.Set("X-Rate-Limit-Reset-Tokens", secs)
	case HeadersNone:
		// Only the message says when to retry.
	}
	n, _ := strconv.Atoi(secs)
	apiVersion := t.apiVersion
	if apiVersion == "" {
		apiVersion = "v1"
	}
	var e *azure.Error
	switch {
	case d.ThrottleMessage == MessageShort:
		e = azure.RateLimitShort(n)
	case d.ThrottleMessage == MessageHighDemand:
		e = azure.HighDemand(n)
	case t.reason == reasonRequests:
		e = azure.CallRateLimited(apiVersion, n)
	default:
		e = azure.TokenRateLimited(apiVersion, n)
	}
	if t.status != 0 && t.status != e.Status {
		cp := *e
		cp.Status = t.status
		e = &cp
	}
	e.Write(w)
}
