package anthropicwire

import (
	"net/http"

	"llmrouter/llm"
)

// FinishReason maps an Anthropic stop_reason to an OpenAI finish_reason.
// Unknown or empty reasons (pause_turn, future values) are "stop".
func FinishReason(stop string) string {
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

// StopReason maps an OpenAI finish_reason back to an Anthropic stop_reason;
// the inverse of FinishReason on the values it produces.
func StopReason(finish string) string {
	switch finish {
	case llm.FinishLength:
		return "max_tokens"
	case llm.FinishToolCalls:
		return "tool_use"
	case llm.FinishContentFilter:
		return "refusal"
	}
	return "end_turn"
}

// ToUsage converts Anthropic usage. Prompt tokens include cache reads and
// cache writes, as OpenAI counts every prompt token in prompt_tokens; the
// details keep reads (CachedTokens) and writes (CacheCreationTokens) apart.
func ToUsage(u Usage) *llm.Usage {
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

// FromUsage is the inverse of ToUsage: input_tokens are the prompt tokens
// that were neither read from nor written to the cache. A nil u gives
// zeros.
func FromUsage(u *llm.Usage) Usage {
	var in, out, read, write int
	if u != nil {
		out = u.CompletionTokens
		if d := u.PromptTokensDetails; d != nil {
			read, write = d.CachedTokens, d.CacheCreationTokens
		}
		in = max(u.PromptTokens-read-write, 0)
	}
	return Usage{InputTokens: &in, CacheCreationInputTokens: &write, CacheReadInputTokens: &read, OutputTokens: &out}
}

// Merge keeps the last value seen of each counter present in o.
func (u *Usage) Merge(o *Usage) {
	if o == nil {
		return
	}
	for _, p := range [...]struct {
		dst **int
		src *int
	}{
		{&u.InputTokens, o.InputTokens},
		{&u.OutputTokens, o.OutputTokens},
		{&u.CacheReadInputTokens, o.CacheReadInputTokens},
		{&u.CacheCreationInputTokens, o.CacheCreationInputTokens},
	} {
		if p.src != nil {
			v := *p.src
			*p.dst = &v
		}
	}
}

func val(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// StatusForType gives the HTTP status the API documents for each error
// type, so that an in-stream "error" event maps like the equivalent reply.
func StatusForType(errType string) int {
	switch errType {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return StatusOverloaded
	}
	return http.StatusInternalServerError // api_error and anything new
}

// StatusOverloaded is Anthropic's 529 overloaded_error status.
const StatusOverloaded = 529
