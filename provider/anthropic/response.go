package anthropic

import (
	"strings"

	"llmrouter/llm"
)

// toResponse translates a whole Message into an OpenAI chat completion.
// Text blocks are concatenated into content, tool_use blocks become
// tool_calls, thinking blocks become reasoning_content and, whole with their
// signatures, thinking_blocks (redacted_thinking too). prefillWS is removed once from the start of the text (see
// buildRequest). created is Unix seconds.
func toResponse(m *msgResponse, prefillWS string, created int64) *llm.Response {
	var text, thinking strings.Builder
	var calls []llm.ToolCall
	var blocks []llm.ThinkingBlock
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
			blocks = append(blocks, llm.ThinkingBlock{Type: "thinking", Thinking: b.Thinking, Signature: b.Signature})
		case "redacted_thinking":
			blocks = append(blocks, llm.ThinkingBlock{Type: "redacted_thinking", Data: b.Data})
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
	if len(blocks) > 0 {
		msg.MessageExtras = &llm.MessageExtras{ThinkingBlocks: blocks}
	}
	if t := trimContinuation(text.String(), prefillWS); t != "" || len(calls) == 0 {
		msg.Content = llm.TextContent(t)
	}
	return &llm.Response{
		ID:      m.ID,
		Object:  llm.ObjectChatCompletion,
		Created: created,
		Model:   m.Model,
		Choices: []llm.Choice{{Index: 0, Message: msg, FinishReason: finishReason(deref(m.StopReason))}},
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

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
