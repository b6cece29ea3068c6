package responsesapi

import (
	"strconv"
	"strings"

	"llmrouter/llm"
)

// Response is a Responses API response object.
type Response struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Model             string             `json:"model"`
	Output            []any              `json:"output"`
	Usage             *Usage             `json:"usage"`
	Error             *ErrorObject       `json:"error"`
	IncompleteDetails *IncompleteDetails `json:"incomplete_details"`
	ParallelToolCalls bool               `json:"parallel_tool_calls"`
	ToolChoice        string             `json:"tool_choice"`
	Tools             []any              `json:"tools"`
	Store             bool               `json:"store"`
}

// IncompleteDetails says why a response stopped early.
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// ErrorObject is a failed response's error.
type ErrorObject struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MessageItem is an output message.
type MessageItem struct {
	Type    string       `json:"type"` // "message"
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []OutputText `json:"content"`
}

// OutputText is a message's text part.
type OutputText struct {
	Type        string `json:"type"` // "output_text"
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

// FunctionCallItem is a tool call the model made.
type FunctionCallItem struct {
	Type      string `json:"type"` // "function_call"
	ID        string `json:"id"`
	Status    string `json:"status"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Usage is the Responses usage object; input_tokens_details.cached_tokens
// is the part of the prompt read from a provider's prompt cache.
type Usage struct {
	InputTokens         int           `json:"input_tokens"`
	InputTokensDetails  InputDetails  `json:"input_tokens_details"`
	OutputTokens        int           `json:"output_tokens"`
	OutputTokensDetails OutputDetails `json:"output_tokens_details"`
	TotalTokens         int           `json:"total_tokens"`
}

// InputDetails splits input tokens.
type InputDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheCreationTokens were written to an Anthropic prompt cache (an
	// llmrouter addition; OpenAI has no such counter).
	CacheCreationTokens int `json:"cache_creation_tokens,omitempty"`
}

// OutputDetails splits output tokens.
type OutputDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// FromUsage converts canonical usage; nil gives nil.
func FromUsage(u *llm.Usage) *Usage {
	if u == nil {
		return nil
	}
	out := &Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.InputTokensDetails = InputDetails{CachedTokens: d.CachedTokens, CacheCreationTokens: d.CacheCreationTokens}
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.OutputTokensDetails.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// responseID returns a Responses-looking id for an answer id.
func responseID(id string) string {
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	if id == "" {
		id = "llmrouter"
	}
	return "resp_" + id
}

func itemID(prefix, respID string, n int) string {
	return prefix + strings.TrimPrefix(respID, "resp_") + "_" + strconv.Itoa(n)
}

// newResponse is the response object shell with status and no output.
func newResponse(id, model string, created int64, status string) *Response {
	return &Response{ID: responseID(id), Object: "response", CreatedAt: created, Status: status, Model: model,
		Output: []any{}, ParallelToolCalls: true, ToolChoice: "auto", Tools: []any{}}
}

// finish sets the status from a finish reason.
func (r *Response) finish(reason string) {
	r.Status = "completed"
	if reason == llm.FinishLength {
		r.Status = "incomplete"
		r.IncompleteDetails = &IncompleteDetails{Reason: "max_output_tokens"}
	} else if reason == llm.FinishContentFilter {
		r.Status = "incomplete"
		r.IncompleteDetails = &IncompleteDetails{Reason: "content_filter"}
	}
}

// EncodeResponse translates a canonical answer into a response object: one
// message item with the text (when there is text), then one function_call
// item per tool call.
func EncodeResponse(resp *llm.Response) *Response {
	r := newResponse(resp.ID, resp.Model, resp.Created, "completed")
	r.Usage = FromUsage(resp.Usage)
	if len(resp.Choices) == 0 {
		return r
	}
	c := &resp.Choices[0]
	n := 0
	if t := c.Message.Content.Text(); t != "" || len(c.Message.ToolCalls) == 0 {
		r.Output = append(r.Output, &MessageItem{Type: "message", ID: itemID("msg_", r.ID, n), Status: "completed", Role: "assistant",
			Content: []OutputText{{Type: "output_text", Text: t, Annotations: []any{}}}})
		n++
	}
	for _, tc := range c.Message.ToolCalls {
		r.Output = append(r.Output, &FunctionCallItem{Type: "function_call", ID: itemID("fc_", r.ID, n), Status: "completed",
			CallID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		n++
	}
	r.finish(c.FinishReason)
	return r
}
