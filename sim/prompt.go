package sim

// PromptCounter counts the prompt tokens of a chat-completions request body as
// Azure would bill them for model (the deployment's configured model). The
// simulator calls it only with bodies that parsed as valid chat requests. When
// it returns an error the simulator falls back to ApproxPromptTokens.
type PromptCounter func(model string, body []byte) (int, error)

// Constants of the approximation, after OpenAI's published chat counting rule
// (3 per message, 1 more for a name, 3 for the reply primer) and image costs.
const (
	approxCharsPerToken  = 4
	approxPerMessage     = 3
	approxPerName        = 1
	approxReplyPrimer    = 3
	approxImageLowDetail = 85
	approxImageDefault   = 765 // a 1024x1024 image at high detail: 4 tiles x 170 + 85
)

// ApproxPromptTokens is the simulator's default prompt counter. It is an
// APPROXIMATION, not tiktoken: about 4 characters per token for every string,
// plus OpenAI's per-message overheads, 85 tokens per low-detail image and 765
// per other image. Inject an exact counter through Options.PromptCounter.
func ApproxPromptTokens(model string, body []byte) (int, error) {
	r, err := parseChatRequest(body)
	if err != nil {
		return 0, err
	}
	return int(approxChatTokens(&r)), nil
}

func approxChatTokens(r *chatRequest) int64 {
	n := int64(approxReplyPrimer)
	for i := range r.messages {
		m := &r.messages[i]
		n += approxPerMessage + approxTextTokens(len(m.role)) + approxTextTokens(len(m.text)) + approxTextTokens(m.extra)
		if m.name != "" {
			n += approxPerName + approxTextTokens(len(m.name))
		}
		for _, detail := range m.images {
			if detail == "low" {
				n += approxImageLowDetail
			} else {
				n += approxImageDefault
			}
		}
	}
	return n + approxTextTokens(r.toolsBytes)
}

// approxTextTokens rounds chars/4 up.
func approxTextTokens(chars int) int64 {
	return int64((chars + approxCharsPerToken - 1) / approxCharsPerToken)
}

// approxEmbeddingTokens approximates an embeddings request's input tokens.
func approxEmbeddingTokens(r *embeddingsRequest) int64 {
	n := r.tokenCount
	for _, s := range r.inputs {
		n += max(1, approxTextTokens(len(s)))
	}
	return n
}
