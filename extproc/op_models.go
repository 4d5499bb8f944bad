package extproc

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/openai"
	"github.com/spillway-gw/spillway/tokens"
)

// modelsOp is GET /openai/v1/models and /models/{model}: the gateway's
// models, answered by spillway itself (the backends' lists name their
// deployments, not the models clients ask spillway for).
type modelsOp struct{}

var _ operation = modelsOp{}

func (modelsOp) name() string                                               { return "" }
func (modelsOp) allows(method string) bool                                  { return method == "GET" }
func (modelsOp) atHeaders() bool                                            { return true }
func (modelsOp) parse([]byte) (openai.Request, error)                       { return openai.Request{}, nil }
func (modelsOp) count(*Model, *tokens.Model, []byte) (charge, *azure.Error) { return charge{}, nil }
func (modelsOp) streamUsage() bool                                          { return false }
func (modelsOp) usage([]byte) (openai.Usage, bool, string)                  { return openai.Usage{}, false, "" }
func (modelsOp) streamFormat() openai.StreamFormat                          { return openai.ChunkStream }
func (modelsOp) upstreamPath(*Backend, target) string                       { return "" }
func (modelsOp) perAttemptBody() bool                                       { return false }
func (modelsOp) attemptBody(*Backend, []byte) ([]byte, error)               { return nil, nil }
func (modelsOp) affinity(target, openai.Request) (string, string)           { return "", "" }
func (modelsOp) stores(openai.Request) bool                                 { return false }

// modelObject is one entry of the list, in OpenAI's shape.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// answer is the local reply: the list, one model, or a 404 for a model the
// gateway does not serve.
func (modelsOp) answer(t *Table, tgt target) (int, []byte, *azure.Error) {
	if tgt.id != "" {
		if t.models[tgt.id] == nil {
			return 0, nil, azure.DeploymentNotFound(tgt.id)
		}
		b, _ := json.Marshal(modelObject{ID: tgt.id, Object: "model", OwnedBy: "spillway"})
		return http.StatusOK, b, nil
	}
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: []modelObject{}}
	for name := range t.models {
		list.Data = append(list.Data, modelObject{ID: name, Object: "model", OwnedBy: "spillway"})
	}
	sort.Slice(list.Data, func(i, j int) bool { return list.Data[i].ID < list.Data[j].ID })
	b, _ := json.Marshal(list)
	return http.StatusOK, b, nil
}
