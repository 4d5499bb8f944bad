package extproc

import (
	"errors"
	"strings"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/tokens"
)

// operation is one API the gateway serves. The router and upstream phases
// handle every operation alike; what differs between them is behind these
// methods, one file per operation (op_chat.go, op_completions.go,
// op_embeddings.go, op_responses.go), so the next API is one more file and
// a line in operations.
type operation interface {
	// name is gen_ai.operation.name for telemetry ("" for operations that
	// are not inference, such as fetching a stored response).
	name() string
	// allows reports whether the operation accepts the HTTP method.
	allows(method string) bool
	// atHeaders is true when the request is routed from its headers alone
	// (no body to read, count or validate).
	atHeaders() bool
	// parse reads and validates the routing fields of a request body.
	// Errors are *openai.RequestError.
	parse(body []byte) (openai.Request, error)
	// count counts the prompt of body for model m, checks it fits the
	// context window, and returns what the request is charged on arrival.
	count(m *Model, tm *tokens.Model, body []byte) (charge, *azure.Error)
	// streamUsage is true when stream_options.include_usage exists for the
	// operation, so spillway may ask for usage on a client's behalf.
	streamUsage() bool
	// usage reads usage (and, for stored responses, the response id) from
	// a JSON response body.
	usage(body []byte) (u openai.Usage, ok bool, responseID string)
	// streamFormat is how its SSE responses carry usage.
	streamFormat() openai.StreamFormat
	// upstreamPath is the path an attempt on backend b is sent to.
	upstreamPath(b *Backend, t target) string
	// attemptBody returns the body an attempt on b must carry instead of
	// the client's, or nil. Only operations with perAttemptBody set are
	// asked (the upstream phase buffers the body for them alone).
	perAttemptBody() bool
	attemptBody(b *Backend, body []byte) ([]byte, error)
	// affinity names the stored response the request must reach (its
	// backend alone holds it); "" routes freely. stores reports whether a
	// successful response is stored by its backend and must be recorded.
	affinity(t target, r openai.Request) (id string, param string)
	stores(r openai.Request) bool
}

// operations maps the path after /openai/v1/ (or a deployment) to the
// operation. Paths with an id (responses/{id}/...) are matched by prefix.
var operations = map[string]operation{
	"chat/completions": chatOp{deploymentOp{"chat/completions"}},
	"completions":      completionsOp{deploymentOp{"completions"}},
	"embeddings":       embeddingsOp{deploymentOp{"embeddings"}},
	"responses":        responsesOp{},
}

// deploymentOp holds the defaults of an operation served on Azure's
// deployment paths: body required, POST only, deployment path upstream,
// chat-style usage, no affinity.
type deploymentOp struct{ opPath string }

func (deploymentOp) deploymentPath()           {}
func (deploymentOp) allows(method string) bool { return method == "POST" }
func (deploymentOp) atHeaders() bool           { return false }
func (deploymentOp) streamUsage() bool         { return false }
func (deploymentOp) perAttemptBody() bool      { return false }
func (deploymentOp) streamFormat() openai.StreamFormat {
	return openai.ChunkStream
}
func (deploymentOp) attemptBody(*Backend, []byte) ([]byte, error) { return nil, nil }
func (deploymentOp) affinity(target, openai.Request) (string, string) {
	return "", ""
}
func (deploymentOp) stores(openai.Request) bool { return false }
func (deploymentOp) usage(body []byte) (openai.Usage, bool, string) {
	u, ok := openai.UsageFromJSON(body)
	return u, ok, ""
}

// upstreamPath is /openai/deployments/<deployment>/<op>?api-version=<backend's>.
func (o deploymentOp) upstreamPath(b *Backend, _ target) string {
	return "/openai/deployments/" + b.Deployment + "/" + o.opPath + "?api-version=" + b.APIVersion
}

// countError turns a counting error into the client's 400 on param.
func countError(err error, param string) *azure.Error {
	msg := strings.TrimPrefix(err.Error(), tokens.ErrInvalidRequest.Error()+": ")
	var ce *tokens.ContextError
	if errors.As(err, &ce) {
		return azure.ContextLengthExceededMessage(msg)
	}
	return azure.BadRequest(msg, param)
}

// defaultCompletionTokens is the completion charged on arrival when a request
// sets no max_tokens: what Microsoft's own simulator and APIM policies charge.
const defaultCompletionTokens = 16

// charge is a request's arrival charge: its prompt tokens, the cost
// reserved (prompt + the completion's maximum), and the output share of
// that cost (a PTU weighs output by its output ratio).
type charge struct{ prompt, cost, output int }

// chargeCount checks a counted request against the window and returns its
// arrival charge.
func chargeCount(m *Model, c tokens.ChatCount) (charge, *azure.Error) {
	if err := tokens.CheckContext(m.ContextWindow, c); err != nil {
		return charge{}, azure.ContextLengthExceededMessage(err.Error())
	}
	return charge{prompt: c.Prompt, cost: c.Arrival(defaultCompletionTokens), output: c.Completion(defaultCompletionTokens)}, nil
}
