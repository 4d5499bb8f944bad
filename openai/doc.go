// Package openai reads the parts of OpenAI's chat-completions wire format the
// gateway acts on: the request fields that steer routing and accounting, and
// the token usage a response reports, from JSON or from an SSE stream that
// arrives in arbitrary chunks.
package openai
