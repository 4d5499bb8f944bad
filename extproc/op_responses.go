package extproc

import (
	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/tokens"
)

// responsesOp creates a response (POST /openai/v1/responses). Azure serves
// the Responses API on its v1 surface only, with the deployment named in
// the body's model: each attempt's body carries its backend's deployment.
// A stored response (store: true, the default) lives on the backend that
// created it; a request continuing it (previous_response_id) goes there.
type responsesOp struct{}

var _ operation = responsesOp{}

func (responsesOp) name() string                      { return telemetry.OperationChat }
func (responsesOp) allows(method string) bool         { return method == "POST" }
func (responsesOp) atHeaders() bool                   { return false }
func (responsesOp) streamUsage() bool                 { return false } // usage is always in response.completed
func (responsesOp) streamFormat() openai.StreamFormat { return openai.ResponseStream }
func (responsesOp) perAttemptBody() bool              { return true }

func (responsesOp) parse(body []byte) (openai.Request, error) {
	return openai.ParseRequest(openai.Responses, body)
}

func (responsesOp) count(m *Model, tm *tokens.Model, body []byte) (charge, *azure.Error) {
	c, err := tokens.CountResponses(tm, body)
	if err != nil {
		return charge{}, countError(err, "input")
	}
	return chargeCount(m, c)
}

func (responsesOp) usage(body []byte) (openai.Usage, bool, string) {
	id, u, ok := openai.ResponseFromJSON(body)
	return u, ok, id
}

// upstreamPath keeps the v1 path and the client's query (api-version=preview
// and the like); the backend is named by the body.
func (responsesOp) upstreamPath(_ *Backend, t target) string { return t.v1Path() }

func (responsesOp) attemptBody(b *Backend, body []byte) ([]byte, error) {
	return openai.SetModel(body, b.Deployment)
}

func (responsesOp) affinity(_ target, r openai.Request) (string, string) {
	return r.PreviousResponseID, "previous_response_id"
}

func (responsesOp) stores(r openai.Request) bool { return r.Store }

// storedResponseOp is an operation on a stored response, by id: GET or
// DELETE /responses/{id}, POST /responses/{id}/cancel, GET
// /responses/{id}/input_items. Only the backend that stored it has it, so
// it is routed there from the headers alone, without counting or waiting
// for capacity (it costs no tokens).
type storedResponseOp struct {
	// sub is "", "cancel" or "input_items".
	sub string
}

var _ operation = storedResponseOp{}

func (storedResponseOp) name() string { return "" }

func (o storedResponseOp) allows(method string) bool {
	switch o.sub {
	case "":
		return method == "GET" || method == "DELETE"
	case "cancel":
		return method == "POST"
	}
	return method == "GET"
}

func (storedResponseOp) atHeaders() bool                      { return true }
func (storedResponseOp) parse([]byte) (openai.Request, error) { return openai.Request{}, nil }
func (storedResponseOp) count(*Model, *tokens.Model, []byte) (charge, *azure.Error) {
	return charge{}, nil
}
func (storedResponseOp) streamUsage() bool { return false }
func (storedResponseOp) usage([]byte) (openai.Usage, bool, string) {
	return openai.Usage{}, false, ""
}
func (storedResponseOp) streamFormat() openai.StreamFormat            { return openai.ResponseStream }
func (storedResponseOp) upstreamPath(_ *Backend, t target) string     { return t.v1Path() }
func (storedResponseOp) perAttemptBody() bool                         { return false }
func (storedResponseOp) attemptBody(*Backend, []byte) ([]byte, error) { return nil, nil }
func (storedResponseOp) affinity(t target, _ openai.Request) (string, string) {
	return t.id, ""
}
func (storedResponseOp) stores(openai.Request) bool { return false }
