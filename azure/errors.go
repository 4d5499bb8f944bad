package azure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Error is the body of an Azure OpenAI error: {"error":{...}}.
// Code is a string in Azure's bodies ("429", "context_length_exceeded").
// Param is null in most of Azure's bodies, so it is a pointer.
type Error struct {
	Code       string      `json:"code,omitempty"`
	Message    string      `json:"message"`
	Type       string      `json:"type,omitempty"`
	Param      *string     `json:"param"`
	InnerError *InnerError `json:"innererror,omitempty"`

	// Status is the HTTP status this error is sent with. Not serialised.
	Status int `json:"-"`
}

// InnerError carries the content-filter details Azure adds to 400 content_filter.
type InnerError struct {
	Code                string                    `json:"code"`
	ContentFilterResult map[string]FilterCategory `json:"content_filter_result,omitempty"`
}

// FilterCategory is one category's verdict in a content-filter result.
type FilterCategory struct {
	Filtered bool   `json:"filtered"`
	Severity string `json:"severity,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Body returns the JSON body {"error": e}.
func (e *Error) Body() []byte {
	b, err := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	if err != nil { // cannot happen: every field is a plain value
		panic(err)
	}
	return b
}

// Write sends e as an HTTP response with the JSON content type.
func (e *Error) Write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body())
}

func param(s string) *string { return &s }

// BadRequest is a 400 invalid_request_error, e.g. malformed JSON or a missing field.
func BadRequest(message, paramName string) *Error {
	e := &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: message}
	if paramName != "" {
		e.Param = param(paramName)
	}
	return e
}

// ContextLengthExceeded is Azure's 400 for a prompt plus completion over the model's window.
func ContextLengthExceeded(window, requested int) *Error {
	return &Error{
		Status: http.StatusBadRequest,
		Code:   "context_length_exceeded",
		Type:   "invalid_request_error",
		Param:  param("messages"),
		Message: fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. "+
			"Please reduce the length of the messages.", window, requested),
	}
}

// ContentFiltered is Azure's 400 for a prompt blocked by the content filter.
func ContentFiltered(category string) *Error {
	return &Error{
		Status: http.StatusBadRequest,
		Code:   "content_filter",
		Param:  param("prompt"),
		Message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. " +
			"Please modify your prompt and retry.",
		InnerError: &InnerError{
			Code: "ResponsibleAIPolicyViolation",
			ContentFilterResult: map[string]FilterCategory{
				category: {Filtered: true, Severity: "high"},
			},
		},
	}
}

// Unauthorized is Azure's 401 for a missing or wrong key.
func Unauthorized() *Error {
	return &Error{
		Status: http.StatusUnauthorized,
		Code:   "401",
		Message: "Access denied due to invalid subscription key or wrong API endpoint. " +
			"Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
	}
}

// DeploymentNotFound is Azure's 404 for an unknown deployment (or, at the gateway, an unknown model).
func DeploymentNotFound(name string) *Error {
	return &Error{
		Status:  http.StatusNotFound,
		Code:    "DeploymentNotFound",
		Message: fmt.Sprintf("The API deployment for this resource does not exist: %q. If you created the deployment within the last 5 minutes, please wait a moment and try again.", name),
	}
}

// MissingAPIVersion is Azure's 404 for a request without api-version.
func MissingAPIVersion() *Error {
	return &Error{
		Status:  http.StatusNotFound,
		Code:    "404",
		Message: "Resource not found",
	}
}

// TooLarge is a 413 for a body over the size limit.
func TooLarge(limit int64) *Error {
	return &Error{
		Status:  http.StatusRequestEntityTooLarge,
		Code:    "request_too_large",
		Type:    "invalid_request_error",
		Message: fmt.Sprintf("The request body is larger than the limit of %d bytes.", limit),
	}
}

// TokenRateLimited is the 429 body for a standard deployment's token budget.
func TokenRateLimited(apiVersion string, retryAfterSeconds int) *Error {
	return rateLimited(fmt.Sprintf("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version %s have exceeded token rate limit of your current OpenAI S0 pricing tier. "+
		"Please retry after %d seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
		apiVersion, retryAfterSeconds))
}

// CallRateLimited is the 429 body for a standard deployment's request budget.
func CallRateLimited(apiVersion string, retryAfterSeconds int) *Error {
	return rateLimited(fmt.Sprintf("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version %s have exceeded call rate limit of your current OpenAI S0 pricing tier. "+
		"Please retry after %d seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
		apiVersion, retryAfterSeconds))
}

// RateLimitShort is the short 429 form "Rate limit is exceeded. Try again in N seconds."
func RateLimitShort(retryAfterSeconds int) *Error {
	return rateLimited(fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", retryAfterSeconds))
}

// HighDemand is the peak-load 429 form seen on provisioned and shared capacity.
func HighDemand(retryAfterSeconds int) *Error {
	return rateLimited(fmt.Sprintf("The system is currently experiencing high demand and cannot process your request. "+
		"Your request exceeds the maximum usage size allowed during peak load. Please retry after %d seconds.", retryAfterSeconds))
}

func rateLimited(message string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "429", Message: message}
}

// Timeout is Azure's 408 body.
func Timeout() *Error {
	return &Error{Status: http.StatusRequestTimeout, Code: "Timeout", Message: "The operation was timeout."}
}

// ServerError is Azure's 500 body; status lets the same shape serve 502/503/504.
func ServerError(status int) *Error {
	return &Error{
		Status: status,
		Type:   "server_error",
		Message: "The server had an error while processing your request. Sorry about that! " +
			"You can retry your request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 " +
			"if the error persists.",
	}
}

// RetryAfterSeconds rounds a duration in milliseconds up to whole seconds, at least 1,
// the way retry-after is written next to retry-after-ms.
func RetryAfterSeconds(ms int64) string {
	s := (ms + 999) / 1000
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// MissingAPIVersionOrPath is the 404 for a path the gateway does not serve.
func MissingAPIVersionOrPath() *Error {
	return &Error{Status: http.StatusNotFound, Code: "404", Message: "Resource not found"}
}

// MethodNotAllowed is the 405 for a method the path does not serve (anything
// but POST on an inference path).
func MethodNotAllowed(method string) *Error {
	return &Error{
		Status:  http.StatusMethodNotAllowed,
		Code:    "405",
		Type:    "invalid_request_error",
		Message: fmt.Sprintf("Method %s is not allowed on this path.", method),
	}
}

// ContextLengthExceededMessage is ContextLengthExceeded with a message
// already worded (the token counter words it as Azure does).
func ContextLengthExceededMessage(message string) *Error {
	e := ContextLengthExceeded(0, 0)
	e.Message = message
	return e
}

// GatewayAtCapacity is spillway's 429 when no backend of a model has room
// within the queue bound: Azure's shape, so SDKs back off as they would.
func GatewayAtCapacity(model, retryAfterSeconds string) *Error {
	return rateLimited(fmt.Sprintf("Every deployment serving %s is at its rate limit. Please retry after %s seconds.", model, retryAfterSeconds))
}

// StoredResponseBackendAtCapacity is spillway's 429 for a request that must
// go to the one backend holding a stored response, while that backend is
// at its rate limit: only it can serve the request, so the client waits.
func StoredResponseBackendAtCapacity(id, retryAfterSeconds string) *Error {
	return rateLimited(fmt.Sprintf("The deployment that stored response '%s' is at its rate limit, and only it has the response. Please retry after %s seconds.", id, retryAfterSeconds))
}

// ServerBusy is a 503 for a request abandoned while it waited.
func ServerBusy() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "503", Message: "The request was abandoned while waiting for capacity."}
}

// GatewayUnavailable is the 503 a client gets when Envoy cannot reach any
// spillway replica: Azure's server_error shape, with a code, so SDKs retry.
func GatewayUnavailable(retryAfterSeconds int) *Error {
	seconds := "seconds"
	if retryAfterSeconds == 1 {
		seconds = "second"
	}
	return &Error{
		Status:  http.StatusServiceUnavailable,
		Code:    "503",
		Type:    "server_error",
		Message: fmt.Sprintf("The gateway cannot reach its routing service right now. Please retry after %d %s.", retryAfterSeconds, seconds),
	}
}

// ResponseNotFound is the answer for a stored response (Responses API) the
// gateway has no record of: a 400 previous_response_not_found for a
// request continuing it (param previous_response_id), as OpenAI answers,
// or a 404 for the /responses/{id} paths.
func ResponseNotFound(id, paramName string) *Error {
	if paramName != "" {
		return &Error{Status: http.StatusBadRequest, Code: "previous_response_not_found", Type: "invalid_request_error",
			Message: fmt.Sprintf("Previous response with id '%s' not found.", id), Param: param(paramName)}
	}
	return &Error{Status: http.StatusNotFound, Code: "404", Type: "invalid_request_error",
		Message: fmt.Sprintf("Response with id '%s' not found.", id)}
}

// ResponseBackendGone is the answer for a stored response whose backend is
// no longer in the gateway's config: no other backend has it.
func ResponseBackendGone(id, backend, paramName string) *Error {
	e := ResponseNotFound(id, paramName)
	e.Message = fmt.Sprintf("Response with id '%s' was stored by backend '%s', which this gateway no longer serves.", id, backend)
	return e
}
