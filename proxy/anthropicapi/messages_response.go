package anthropicapi

import (
	"encoding/json"
	"strings"

	"llmrouter/llm"
	"llmrouter/llm/anthropicwire"
)

// messageID returns an Anthropic-looking message id for an answer id.
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") || id == "" {
		return firstNonEmpty(id, "msg_llmrouter")
	}
	return "msg_" + id
}

// EncodeResponse translates a canonical answer into a Messages message
// object: thinking blocks first (whole, with signatures, when the answer has
// them), then the text, then one tool_use block per tool call.
func EncodeResponse(resp *llm.Response) *anthropicwire.Message {
	m := &anthropicwire.Message{
		ID:      messageID(resp.ID),
		Type:    "message",
		Role:    "assistant",
		Model:   resp.Model,
		Content: []anthropicwire.Block{},
		Usage:   anthropicwire.FromUsage(resp.Usage),
	}
	stop := "end_turn"
	if len(resp.Choices) > 0 {
		c := &resp.Choices[0]
		msg := &c.Message
		switch {
		case len(msg.Thinking()) > 0:
			for _, tb := range msg.Thinking() {
				m.Content = append(m.Content, anthropicwire.Block{Type: tb.Type, Thinking: tb.Thinking, Signature: tb.Signature, Data: tb.Data})
			}
		case msg.ReasoningContent != "":
			m.Content = append(m.Content, anthropicwire.Block{Type: "thinking", Thinking: msg.ReasoningContent})
		}
		if t := msg.Content.Text(); t != "" {
			m.Content = append(m.Content, anthropicwire.Block{Type: "text", Text: t})
		}
		for _, tc := range msg.ToolCalls {
			m.Content = append(m.Content, anthropicwire.Block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
		}
		stop = anthropicwire.StopReason(c.FinishReason)
	}
	m.StopReason = &stop
	return m
}

// toolInput is a tool call's arguments as the input object ({} when they
// are empty or not a JSON object).
func toolInput(args string) json.RawMessage {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(args)
}

// CountTokensResponse is the body of a count_tokens answer.
type CountTokensResponse struct {
	InputTokens int `json:"input_tokens"`
}

// CountTokens estimates the input tokens of a decoded request: about four
// bytes of text per token plus a few tokens per message and tool, the same
// order as Anthropic's count for English prose and code. It is an estimate
// made without calling a provider; clients use it to budget context.
func CountTokens(r *llm.Request) CountTokensResponse {
	n := 0
	chars := 0
	for i := range r.Messages {
		m := &r.Messages[i]
		n += 4
		chars += len(m.Content.Text()) + len(m.ReasoningContent)
		for _, p := range m.Content.Parts {
			if p.Type == "image_url" || p.Type == "file" {
				n += 1600 / 2 // an average image or page
			}
		}
		for _, tc := range m.ToolCalls {
			chars += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	for _, t := range r.Tools {
		n += 8
		chars += len(t.Function.Name) + len(t.Function.Description) + len(t.Function.Parameters)
	}
	n += (chars + 3) / 4
	return CountTokensResponse{InputTokens: max(n, 1)}
}
