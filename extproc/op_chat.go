package extproc

import (
	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/telemetry"
	"github.com/spillway-gw/spillway/tokens"
)

// chatOp is chat completions: messages counted by OpenAI's chat rule.
type chatOp struct{ deploymentOp }

var _ operation = chatOp{}

func (chatOp) name() string      { return telemetry.OperationChat }
func (chatOp) streamUsage() bool { return true }

func (chatOp) parse(body []byte) (openai.Request, error) {
	return openai.ParseRequest(openai.ChatCompletions, body)
}

func (chatOp) count(m *Model, tm *tokens.Model, body []byte) (charge, *azure.Error) {
	c, err := tokens.CountChat(tm, body)
	if err != nil {
		return charge{}, countError(err, "messages")
	}
	return chargeCount(m, c)
}
