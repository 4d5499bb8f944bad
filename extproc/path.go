package extproc

import (
	"strings"
)

// deploymentPather is an operation Azure serves on its deployment paths
// (/openai/deployments/{deployment}/...) as well as on v1.
type deploymentPather interface{ deploymentPath() }

// target is what a client's request path asks for.
type target struct {
	op operation
	// model is the deployment named in an Azure-style path; empty for the
	// v1 paths, where the body's "model" names it.
	model string
	// rest is the path after /openai/v1/ (v1 paths), e.g. "responses/resp_1/cancel".
	rest string
	// query is the client's query string, without the '?'.
	query string
	// id is the stored response a /responses/{id} path names.
	id string
}

// v1Path is the Azure v1 path of the target, with the client's query.
func (t target) v1Path() string {
	p := "/openai/v1/" + t.rest
	if t.query != "" {
		p += "?" + t.query
	}
	return p
}

// parsePath understands Azure's deployment paths and the OpenAI/Azure v1
// paths. Clients name spillway's models where Azure has deployment names.
func parsePath(p string) (target, bool) {
	var query string
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p, query = p[:i], p[i+1:]
	}
	if rest, ok := strings.CutPrefix(p, "/openai/deployments/"); ok {
		model, opPath, ok := strings.Cut(rest, "/")
		if !ok || model == "" {
			return target{}, false
		}
		op, ok := operations[strings.TrimSuffix(opPath, "/")]
		if _, onDeployment := op.(deploymentPather); !ok || !onDeployment {
			return target{}, false
		}
		return target{op: op, model: model, query: query}, true
	}
	if rest, ok := strings.CutPrefix(p, "/openai/"); ok && (rest == "responses" || strings.HasPrefix(rest, "responses/")) {
		// The Responses API's preview surface, which AzureOpenAI clients
		// configured with an api-version call: served on v1, where no
		// dated api-version is wanted.
		p, query = "/openai/v1/"+rest, withoutAPIVersion(query)
	}
	for _, prefix := range []string{"/openai/v1/", "/v1/"} {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		rest = strings.TrimSuffix(rest, "/")
		t := target{rest: rest, query: query}
		if op, ok := operations[rest]; ok {
			t.op = op
			return t, true
		}
		if r, ok := strings.CutPrefix(rest, "responses/"); ok {
			id, sub, _ := strings.Cut(r, "/")
			if id == "" || (sub != "" && sub != "cancel" && sub != "input_items") {
				return target{}, false
			}
			t.op, t.id = storedResponseOp{sub: sub}, id
			return t, true
		}
		if rest == "models" {
			t.op = modelsOp{}
			return t, true
		}
		if id, ok := strings.CutPrefix(rest, "models/"); ok && id != "" {
			t.op, t.id = modelsOp{}, id
			return t, true
		}
		return target{}, false
	}
	return target{}, false
}

// withoutAPIVersion drops api-version from a query string.
func withoutAPIVersion(query string) string {
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		if kv != "" && !strings.HasPrefix(kv, "api-version=") {
			kept = append(kept, kv)
		}
	}
	return strings.Join(kept, "&")
}
