package extproc

import (
	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/tokens"
)

// completionsOp is the legacy completions API: the prompt (text or token
// ids) counted as it is, max_tokens times best_of/n charged on arrival.
type completionsOp struct{ deploymentOp }

var _ operation = completionsOp{}

func (completionsOp) name() string      { return telemetry.OperationTextCompletion }
func (completionsOp) streamUsage() bool { return true }

func (completionsOp) parse(body []byte) (openai.Request, error) {
	return openai.ParseRequest(openai.Completions, body)
}

func (completionsOp) count(m *Model, tm *tokens.Model, body []byte) (charge, *azure.Error) {
	c, err := tokens.CountCompletion(tm, body)
	if err != nil {
		return charge{}, countError(err, "prompt")
	}
	return chargeCount(m, c)
}
