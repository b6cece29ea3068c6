package anthropic

import (
	"strings"

	"llmrouter/llm"
)

// toResponse translates a whole Message into an OpenAI chat completion.
// Text blocks are concatenated into content, tool_use blocks become
// tool_calls, thinking blocks become reasoning_content (their signatures are
// dropped). prefillWS is removed once from the start of the text (see
// buildRequest). created is Unix seconds.
func toResponse(m *msgResponse, prefillWS string, created int64) *llm.Response {
	var text, thinking strings.Builder
	var calls []llm.ToolCall
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			args := "{}"
			if len(b.Input) > 0 && string(b.Input) != "null" {
				args = string(b.Input)
			}
			calls = append(calls, llm.ToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: llm.ToolCallFunction{Name: b.Name, Arguments: args},
			})
		}
	}
	msg := llm.Message{Role: "assistant", ToolCalls: calls, ReasoningContent: thinking.String()}
	if t := trimContinuation(text.String(), prefillWS); t != "" || len(calls) == 0 {
		msg.Content = llm.TextContent(t)
	}
	return &llm.Response{
		ID:      m.ID,
		Object:  llm.ObjectChatCompletion,
		Created: created,
		Model:   m.Model,
		Choices: []llm.Choice{{Index: 0, Message: msg, FinishReason: finishReason(m.StopReason)}},
		Usage:   toUsage(m.Usage),
	}
}

// trimContinuation removes the whitespace that was trimmed off a prefill
// from the start of the model's continuation, once.
func trimContinuation(s, prefillWS string) string {
	if prefillWS == "" {
		return s
	}
	return strings.TrimPrefix(s, prefillWS)
}

// finishReason maps an Anthropic stop_reason to an OpenAI finish_reason.
// Unknown or empty reasons (pause_turn, future values) are "stop".
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCalls
	case "refusal":
		return llm.FinishContentFilter
	}
	return llm.FinishStop
}

// toUsage converts Anthropic usage. Prompt tokens include cache reads and
// cache writes, as OpenAI counts every prompt token in prompt_tokens.
func toUsage(u usage) *llm.Usage {
	in, out := val(u.InputTokens), val(u.OutputTokens)
	read, write := val(u.CacheReadInputTokens), val(u.CacheCreationInputTokens)
	prompt := in + read + write
	return &llm.Usage{
		PromptTokens:        prompt,
		CompletionTokens:    out,
		TotalTokens:         prompt + out,
		PromptTokensDetails: &llm.PromptTokensDetails{CachedTokens: read, CacheCreationTokens: write},
	}
}

func val(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
