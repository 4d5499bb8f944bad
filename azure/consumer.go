package azure

import (
	"fmt"
	"net/http"
)

// ConsumerRateLimited is spillway's 429 for a consumer over one of its own
// rate limits (its tpm or rpm, consumer-wide or for one model): Azure's
// shape and wording, naming the limit, so SDKs back off on retry-after.
func ConsumerRateLimited(rule, retryAfterSeconds string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "429", Type: "rate_limit_exceeded",
		Message: fmt.Sprintf("Requests have exceeded %s. Please retry after %s seconds.", rule, retryAfterSeconds)}
}

// ConsumerQuotaExceeded is spillway's 403 for a consumer whose token quota
// for the period is spent: it names the quota and when it renews.
func ConsumerQuotaExceeded(quota, renews string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "quota_exceeded", Type: "insufficient_quota",
		Message: fmt.Sprintf("Token quota exceeded: %s. The quota renews at %s.", quota, renews)}
}

// ConsumerNoBackend is spillway's 403 for a consumer none of whose allowed
// backends (PTU only, or its regions) serves the model it asked for.
func ConsumerNoBackend(consumer, model string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "PermissionDenied",
		Message: fmt.Sprintf("Consumer '%s' may use no deployment serving %s (its spill policy or regions exclude them all).", consumer, model)}
}
