package proxy

import (
	"strconv"
	"strings"

	"llmrouter/llm"
)

// validate checks a decoded request against the server's limits, then
// with validateChat.
func (s *Server) validate(r *llm.Request) *llm.Error {
	if e := s.o.Limits.Check(r); e != nil {
		return e
	}
	return validateChat(r)
}

// checkLimits applies the server's limits to a request decoded by another
// wire API's codec, naming parameters as that API does: stop is its stop
// strings' key, maxTokens its output-token cap's key.
func (s *Server) checkLimits(r *llm.Request, stop, maxTokens string) *llm.Error {
	if e := s.o.Limits.Check(r); e != nil {
		return renameLimitParam(e, stop, maxTokens)
	}
	return nil
}

// renameLimitParam returns a limit error (code limit_exceeded) about the
// canonical stop or max_tokens / max_completion_tokens parameters with the
// names a wire API uses for them; other errors are returned as they are.
func renameLimitParam(e *llm.Error, stop, maxTokens string) *llm.Error {
	if e == nil || e.Code != "limit_exceeded" {
		return e
	}
	c := *e
	switch {
	case c.Param == "max_tokens" || c.Param == "max_completion_tokens":
		c.Message = strings.Replace(c.Message, c.Param, maxTokens, 1)
		c.Param = maxTokens
	case c.Param == "stop" || strings.HasPrefix(c.Param, "stop["):
		c.Param = stop + strings.TrimPrefix(c.Param, "stop")
	default:
		return e
	}
	return &c
}

// validateChat checks a decoded chat request beyond its JSON types. It
// returns the first problem as a KindInvalidRequest error naming the
// parameter (messages[i].role style for message fields), or nil.
func validateChat(r *llm.Request) *llm.Error {
	if r.Model == "" {
		return invalid("model", "you must provide a model parameter")
	}
	if len(r.Messages) == 0 {
		return invalid("messages", "messages must be a non-empty array")
	}
	for i := range r.Messages {
		if e := validateMessage(i, &r.Messages[i]); e != nil {
			return e
		}
	}
	switch {
	case r.N != nil && *r.N < 1:
		return invalid("n", "n must be at least 1")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2):
		return invalid("temperature", "temperature must be between 0 and 2")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return invalid("top_p", "top_p must be between 0 and 1")
	case r.MaxTokens != nil && *r.MaxTokens <= 0:
		return invalid("max_tokens", "max_tokens must be greater than 0")
	case r.MaxCompletionTokens != nil && *r.MaxCompletionTokens <= 0:
		return invalid("max_completion_tokens", "max_completion_tokens must be greater than 0")
	case r.PresencePenalty != nil && (*r.PresencePenalty < -2 || *r.PresencePenalty > 2):
		return invalid("presence_penalty", "presence_penalty must be between -2 and 2")
	case r.FrequencyPenalty != nil && (*r.FrequencyPenalty < -2 || *r.FrequencyPenalty > 2):
		return invalid("frequency_penalty", "frequency_penalty must be between -2 and 2")
	case r.TopLogprobs != nil && (*r.TopLogprobs < 0 || *r.TopLogprobs > 20):
		return invalid("top_logprobs", "top_logprobs must be between 0 and 20")
	case r.StreamOptions != nil && !r.Stream:
		return invalid("stream_options", "stream_options is only allowed when stream is true")
	}
	for i := range r.Tools {
		if r.Tools[i].Function.Name == "" {
			return invalid("tools["+strconv.Itoa(i)+"].function.name", "tool functions need a name")
		}
	}
	return nil
}

func validateMessage(i int, m *llm.Message) *llm.Error {
	for j := range m.Content.Parts {
		switch m.Content.Parts[j].Type {
		case "text", "image_url", "input_audio", "file", "refusal":
		case "":
			return invalid(msgParam(i, "content["+strconv.Itoa(j)+"].type"), "each content part needs a type")
		default:
			return invalid(msgParam(i, "content["+strconv.Itoa(j)+"].type"),
				"unknown content part type; expected one of text, image_url, input_audio, file, refusal")
		}
	}
	switch m.Role {
	case "system", "developer", "user":
		if m.Content.IsNull() {
			return invalid(msgParam(i, "content"), "messages with role '"+m.Role+"' must have content")
		}
	case "assistant":
		if m.Content.IsNull() && len(m.ToolCalls) == 0 && m.Refusal == nil {
			return invalid(msgParam(i, "content"), "assistant messages need content or tool_calls")
		}
	case "tool":
		if m.ToolCallID == "" {
			return invalid(msgParam(i, "tool_call_id"), "messages with role 'tool' must have a tool_call_id")
		}
	case "":
		return invalid(msgParam(i, "role"), "each message needs a role")
	default:
		return invalid(msgParam(i, "role"), "invalid role; expected one of system, developer, user, assistant, tool")
	}
	return nil
}

func msgParam(i int, field string) string {
	return "messages[" + strconv.Itoa(i) + "]." + field
}
