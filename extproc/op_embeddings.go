package extproc

import (
	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/tokens"
)

// embeddingsOp is embeddings: the input's tokens (strings counted, token
// ids one each) are the whole cost; dimensions and every other field pass
// through untouched. The context window bounds each input, not their sum,
// so it is left to the backend.
type embeddingsOp struct{ deploymentOp }

var _ operation = embeddingsOp{}

func (embeddingsOp) name() string { return telemetry.OperationEmbeddings }

func (embeddingsOp) parse(body []byte) (openai.Request, error) {
	return openai.ParseRequest(openai.Embeddings, body)
}

func (embeddingsOp) count(m *Model, tm *tokens.Model, body []byte) (charge, *azure.Error) {
	n, err := tokens.CountEmbeddings(tm, body)
	if err != nil {
		return charge{}, countError(err, "input")
	}
	return charge{prompt: n, cost: n}, nil
}
