package tokens

import "fmt"

// ContextError reports a request that does not fit the model's context
// window. Its message has the wording and numbers of Azure OpenAI's 400
// context_length_exceeded, so the gateway can answer locally with it.
type ContextError struct {
	Window     int // the model's context window
	Prompt     int // prompt tokens
	Completion int // max tokens asked for the completion; 0 if not set
}

func (e *ContextError) Error() string {
	if e.Completion == 0 {
		return fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", e.Window, e.Prompt)
	}
	return fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.", e.Window, e.Prompt+e.Completion, e.Prompt, e.Completion)
}

// CheckContext returns a *ContextError when c does not fit in a context
// window of window tokens: when the prompt alone exceeds it, or the prompt
// plus max_tokens (max_completion_tokens) does. Without a maximum only the
// prompt is checked: the model may use whatever is left. The number of
// choices does not matter, as each choice has the whole window. A window of 0
// or less means unknown and passes everything.
func CheckContext(window int, c ChatCount) error {
	if window <= 0 {
		return nil
	}
	if c.Prompt > window {
		return &ContextError{Window: window, Prompt: c.Prompt}
	}
	if c.MaxTokensSet && c.Prompt+c.MaxTokens > window {
		return &ContextError{Window: window, Prompt: c.Prompt, Completion: c.MaxTokens}
	}
	return nil
}
