// Package openai reads the parts of the OpenAI / Azure OpenAI wire formats the
// gateway acts on (chat completions, completions, embeddings, the Responses
// API): the request fields that steer routing and accounting, the token usage
// a response reports, from JSON or from an SSE stream that arrives in
// arbitrary chunks, and the per-backend rewrite of a body's model.
package openai
