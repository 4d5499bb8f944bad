// Package tokens counts tokens exactly as OpenAI's tiktoken does, for the
// o200k_base and cl100k_base encodings, and counts chat-completions requests by
// OpenAI's published rules so the gateway knows a request's cost before it is
// sent.
//
// Counting needs no network and no files: the vocabularies come from
// github.com/tiktoken-go/tokenizer, which embeds them, and are turned into this
// package's own rank table the first time an encoding is used. The
// pre-tokenizer is hand-written (no regular expressions) and reproduces the
// split patterns of both encodings; the BPE merge works on that table without
// allocating.
package tokens
