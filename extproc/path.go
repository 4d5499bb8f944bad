package extproc

import (
	"strings"

	"github.com/spillway-gw/spillway/openai"
)

// target is what a client's request path asks for.
type target struct {
	op openai.Operation
	// opPath is the operation's path suffix, e.g. "chat/completions".
	opPath string
	// model is the deployment named in an Azure-style path; empty for the
	// v1 paths, where the body's "model" names it.
	model string
}

// parsePath understands Azure's deployment paths and the OpenAI/Azure v1
// paths. Clients name spillway's models where Azure has deployment names.
func parsePath(p string) (target, bool) {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if rest, ok := strings.CutPrefix(p, "/openai/deployments/"); ok {
		model, op, ok := strings.Cut(rest, "/")
		if !ok || model == "" {
			return target{}, false
		}
		t, ok := operation(op)
		if !ok {
			return target{}, false
		}
		t.model = model
		return t, true
	}
	for _, prefix := range []string{"/openai/v1/", "/v1/"} {
		if op, ok := strings.CutPrefix(p, prefix); ok {
			return operation(op)
		}
	}
	return target{}, false
}

func operation(op string) (target, bool) {
	switch strings.TrimSuffix(op, "/") {
	case "chat/completions":
		return target{op: openai.ChatCompletions, opPath: "chat/completions"}, true
	case "embeddings":
		return target{op: openai.Embeddings, opPath: "embeddings"}, true
	}
	return target{}, false
}

// upstreamPath is the Azure path a backend is called on.
func upstreamPath(b *Backend, opPath string) string {
	return "/openai/deployments/" + b.Deployment + "/" + opPath + "?api-version=" + b.APIVersion
}
