package openai

import (
	"context"
	"encoding/json"
	"strconv"

	"llmrouter/llm"
)

// legacyWire is the POST /completions body with a prompt array.
type legacyWire struct {
	Model            string          `json:"model"`
	Prompt           []string        `json:"prompt"`
	MaxTokens        *int            `json:"max_tokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"top_p,omitempty"`
	Stop             llm.Stop        `json:"stop,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	User             string          `json:"user,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	LogitBias        json.RawMessage `json:"logit_bias,omitempty"`
}

// CompletePrompts sends one legacy completions request (POST /completions)
// whose prompt is the array prompts, with req's sampling parameters
// (req.Model must be the upstream model; messages are ignored). The
// answer's choices are returned in prompt order: Choices[i] answers
// prompts[i], as the upstream's choice index says. An answer that does not
// index every prompt exactly once is an upstream error.
func (c *Client) CompletePrompts(ctx context.Context, req *llm.Request, prompts []string) (*llm.Response, error) {
	maxTokens := req.MaxTokens
	if req.MaxCompletionTokens != nil {
		maxTokens = req.MaxCompletionTokens
	}
	body, err := json.Marshal(legacyWire{Model: req.Model, Prompt: prompts, MaxTokens: maxTokens, Temperature: req.Temperature,
		TopP: req.TopP, Stop: req.Stop, Seed: req.Seed, User: req.User, PresencePenalty: req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty, LogitBias: req.LogitBias})
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot encode request", Err: err}
	}
	reply, err := c.t.Do(ctx, "/completions", c.setHeaders, body)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var wire struct {
		ID                string `json:"id"`
		Created           int64  `json:"created"`
		Model             string `json:"model"`
		SystemFingerprint string `json:"system_fingerprint"`
		Choices           []struct {
			Text         string  `json:"text"`
			Index        int     `json:"index"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *llm.Usage `json:"usage"`
	}
	bad := func(msg string, err error) error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status, Message: msg, Err: err}
	}
	if err := json.Unmarshal(reply.Body, &wire); err != nil {
		return nil, bad("malformed upstream completions response", err)
	}
	if len(wire.Choices) != len(prompts) {
		return nil, bad("upstream returned "+strconv.Itoa(len(wire.Choices))+" choices for "+strconv.Itoa(len(prompts))+" prompts", nil)
	}
	out := &llm.Response{ID: wire.ID, Object: llm.ObjectChatCompletion, Created: wire.Created, Model: wire.Model,
		SystemFingerprint: wire.SystemFingerprint, Usage: wire.Usage, Choices: make([]llm.Choice, len(prompts))}
	seen := make([]bool, len(prompts))
	for _, ch := range wire.Choices {
		if ch.Index < 0 || ch.Index >= len(prompts) || seen[ch.Index] {
			return nil, bad("upstream choice indexes do not match the prompts", nil)
		}
		seen[ch.Index] = true
		fr := llm.FinishStop
		if ch.FinishReason != nil {
			fr = *ch.FinishReason
		}
		out.Choices[ch.Index] = llm.Choice{Index: ch.Index, FinishReason: fr,
			Message: llm.Message{Role: "assistant", Content: llm.TextContent(ch.Text)}}
	}
	return out, nil
}
