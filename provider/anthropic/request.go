package anthropic

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"llmrouter/llm"
)

// buildRequest translates an OpenAI-shaped request into a Messages request.
// It never modifies req. Errors are *llm.Error of KindInvalidRequest with
// Param naming the offending OpenAI field.
//
// prefillWS is the whitespace trimmed from the end of a prefill (a final
// assistant message): the API rejects a final assistant turn ending in
// whitespace, and the model's continuation usually starts with that same
// whitespace, which the caller then removes once (see trimContinuation).
func buildRequest(req *llm.Request, defaultMaxTokens int) (out *msgRequest, prefillWS string, err error) {
	if req.N != nil && *req.N > 1 {
		return nil, "", invalid("n", "n > 1 is not supported by anthropic models")
	}
	out = &msgRequest{Model: req.Model, Stream: req.Stream}

	switch {
	case req.MaxCompletionTokens != nil:
		if *req.MaxCompletionTokens < 1 {
			return nil, "", invalid("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
		out.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil:
		if *req.MaxTokens < 1 {
			return nil, "", invalid("max_tokens", "max_tokens must be at least 1")
		}
		out.MaxTokens = *req.MaxTokens
	default:
		out.MaxTokens = defaultMaxTokens
	}

	if req.Temperature != nil {
		// OpenAI accepts 0..2, Anthropic 0..1: clamp instead of failing a
		// request that another target would have accepted.
		t := min(max(*req.Temperature, 0), 1)
		out.Temperature = &t
	}
	out.TopP = req.TopP
	if len(req.Stop) > 0 {
		out.StopSequences = append([]string(nil), req.Stop...)
	}
	if req.User != "" {
		out.Metadata = &metadata{UserID: req.User}
	}
	// Anthropic-native fields a client may add to an OpenAI-shaped request
	// (they land in Extra) are forwarded verbatim; every other unknown field
	// is dropped, because the Messages API rejects fields it does not know.
	out.TopK = req.Extra["top_k"]
	out.Thinking = req.Extra["thinking"]

	if err := convertTools(req, out); err != nil {
		return nil, "", err
	}
	var system []block
	out.Messages, system, err = convertMessages(req.Messages)
	if err != nil {
		return nil, "", err
	}
	out.System = systemPrompt(system)
	prefillWS = trimPrefill(out)
	if len(out.Messages) == 0 {
		return nil, "", invalid("messages", "messages must contain at least one non-system message with content")
	}
	return out, prefillWS, nil
}

// convertMessages maps OpenAI messages to alternating Anthropic turns and
// collects the system/developer texts.
func convertMessages(msgs []llm.Message) (turns []turn, system []block, err error) {
	add := func(role string, blocks []block) {
		if len(blocks) == 0 {
			return
		}
		if n := len(turns); n > 0 && turns[n-1].Role == role {
			turns[n-1].Content = append(turns[n-1].Content, blocks...)
			return
		}
		turns = append(turns, turn{Role: role, Content: blocks})
	}
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			blocks, err := contentBlocks(m.Content, param)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, withCacheControl(blocks, m.CacheBreakpoint())...)
		case "user":
			blocks, err := contentBlocks(m.Content, param)
			if err != nil {
				return nil, nil, err
			}
			add("user", withCacheControl(blocks, m.CacheBreakpoint()))
		case "assistant":
			blocks, err := assistantBlocks(m, param)
			if err != nil {
				return nil, nil, err
			}
			add("assistant", withCacheControl(blocks, m.CacheBreakpoint()))
		case "tool":
			if m.ToolCallID == "" {
				return nil, nil, invalid(param+".tool_call_id", "tool messages must have a tool_call_id")
			}
			res := block{Type: "tool_result", ToolUseID: m.ToolCallID, CacheControl: m.CacheBreakpoint()}
			if t := m.Content.Text(); t != "" {
				res.Content = []block{{Type: "text", Text: t}}
			}
			add("user", []block{res})
		default:
			return nil, nil, invalid(param+".role", fmt.Sprintf("unsupported role %q", m.Role))
		}
	}
	// A user turn that answers tool calls must start with its tool_result
	// blocks; keep every other block's order.
	for i := range turns {
		if turns[i].Role == "user" {
			toolResultsFirst(turns[i].Content)
		}
	}
	return turns, system, nil
}

// contentBlocks converts user content (a string or text/image parts).
func contentBlocks(c llm.Content, param string) ([]block, error) {
	if c.Parts == nil {
		if c.Str == "" {
			return nil, nil
		}
		return []block{{Type: "text", Text: c.Str}}, nil
	}
	blocks := make([]block, 0, len(c.Parts))
	for j, p := range c.Parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, block{Type: "text", Text: p.Text, CacheControl: p.CacheControl})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, invalid(pp+".image_url", "image_url part without image_url")
			}
			src, err := imageFromURL(p.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, block{Type: "image", Source: src, CacheControl: p.CacheControl})
		default:
			return nil, invalid(pp+".type", fmt.Sprintf("content part type %q is not supported by anthropic models", p.Type))
		}
	}
	return blocks, nil
}

// imageFromURL turns an image_url into a base64 source (data: URL) or a url
// source (http/https).
func imageFromURL(u, param string) (*imageSource, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(u[len("data:"):], ",")
		mediaType, enc, _ := strings.Cut(meta, ";")
		if !ok || enc != "base64" || mediaType == "" || data == "" {
			return nil, invalid(param, "image data URLs must look like data:<media type>;base64,<data>")
		}
		return &imageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return &imageSource{Type: "url", URL: u}, nil
	}
	return nil, invalid(param, "image url must be an http(s) or data: URL")
}

// assistantBlocks converts an assistant message: its thinking blocks (kept
// whole, signatures included, in thinking_blocks), its text, then one
// tool_use block per tool call. Bare reasoning_content is not sent back:
// Anthropic needs the thinking block's signature.
func assistantBlocks(m llm.Message, param string) ([]block, error) {
	text, err := contentBlocks(m.Content, param)
	if err != nil {
		return nil, err
	}
	blocks := make([]block, 0, len(m.Thinking())+len(text)+len(m.ToolCalls))
	for k, tb := range m.Thinking() {
		switch tb.Type {
		case "thinking":
			blocks = append(blocks, block{Type: "thinking", Thinking: tb.Thinking, Signature: tb.Signature})
		case "redacted_thinking":
			blocks = append(blocks, block{Type: "redacted_thinking", Data: tb.Data})
		default:
			return nil, invalid(fmt.Sprintf("%s.thinking_blocks[%d].type", param, k), fmt.Sprintf("unknown thinking block type %q", tb.Type))
		}
	}
	blocks = append(blocks, text...)
	for k, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", param, k)
		if tc.Type != "" && tc.Type != "function" {
			return nil, invalid(tp+".type", fmt.Sprintf("tool call type %q is not supported", tc.Type))
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, invalid(tp, "tool calls must have an id and a function name")
		}
		input, err := toolInput(tc.Function.Arguments)
		if err != nil {
			return nil, invalid(tp+".function.arguments", "tool call arguments must be a JSON object: "+err.Error())
		}
		blocks = append(blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// toolInput parses OpenAI tool call arguments (a JSON string) into the
// object Anthropic wants as input. Empty arguments mean {}.
func toolInput(args string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &obj); err != nil {
		return nil, fmt.Errorf("%s", strings.ToLower(err.Error()))
	}
	if obj == nil {
		return nil, fmt.Errorf("got null")
	}
	return json.RawMessage(args), nil
}

// toolResultsFirst moves tool_result blocks to the front, keeping order.
func toolResultsFirst(bs []block) {
	out := make([]block, 0, len(bs))
	for _, b := range bs {
		if b.Type == "tool_result" {
			out = append(out, b)
		}
	}
	for _, b := range bs {
		if b.Type != "tool_result" {
			out = append(out, b)
		}
	}
	copy(bs, out)
}

// trimPrefill removes trailing whitespace from a final assistant turn's
// last text block and returns what it removed.
func trimPrefill(r *msgRequest) string {
	n := len(r.Messages)
	if n == 0 || r.Messages[n-1].Role != "assistant" {
		return ""
	}
	t := &r.Messages[n-1]
	last := &t.Content[len(t.Content)-1]
	if last.Type != "text" || len(last.CacheControl) > 0 {
		return ""
	}
	trimmed := strings.TrimRightFunc(last.Text, unicode.IsSpace)
	ws := last.Text[len(trimmed):]
	last.Text = trimmed
	if trimmed == "" {
		t.Content = t.Content[:len(t.Content)-1]
		if len(t.Content) == 0 {
			r.Messages = r.Messages[:n-1]
		}
	}
	return ws
}

// convertTools maps tools, tool_choice and parallel_tool_calls.
func convertTools(req *llm.Request, out *msgRequest) error {
	for i, t := range req.Tools {
		if t.Type != "" && t.Type != "function" {
			return invalid(fmt.Sprintf("tools[%d].type", i), fmt.Sprintf("tool type %q is not supported", t.Type))
		}
		if t.Function.Name == "" {
			return invalid(fmt.Sprintf("tools[%d].function.name", i), "tools must have a function name")
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, toolDef{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema, CacheControl: t.CacheControl})
	}
	tc, err := parseToolChoice(req.ToolChoice)
	if err != nil {
		return err
	}
	if len(out.Tools) == 0 {
		return nil // a tool_choice without tools means nothing
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		if tc == nil {
			tc = &toolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	out.ToolChoice = tc
	return nil
}

// parseToolChoice reads "auto" | "none" | "required" |
// {"type":"function","function":{"name":...}}.
func parseToolChoice(raw json.RawMessage) (*toolChoice, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "auto", "none":
			return &toolChoice{Type: s}, nil
		case "required":
			return &toolChoice{Type: "any"}, nil
		}
		return nil, invalid("tool_choice", fmt.Sprintf("unknown tool_choice %q", s))
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Type != "function" || obj.Function.Name == "" {
		return nil, invalid("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &toolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

func invalid(param, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Message: msg}
}

// withCacheControl puts a message-level cache breakpoint on the message's
// last block (where Anthropic reads it) unless that block has its own.
func withCacheControl(blocks []block, cc json.RawMessage) []block {
	if len(cc) == 0 || len(blocks) == 0 {
		return blocks
	}
	if last := &blocks[len(blocks)-1]; len(last.CacheControl) == 0 {
		last.CacheControl = cc
	}
	return blocks
}

// systemPrompt returns the system blocks; texts without a cache breakpoint
// are joined into one block, as a plain system string would be.
func systemPrompt(bs []block) []block {
	if len(bs) == 0 {
		return nil
	}
	for _, b := range bs {
		if len(b.CacheControl) > 0 || b.Type != "text" {
			return bs
		}
	}
	texts := make([]string, len(bs))
	for i, b := range bs {
		texts[i] = b.Text
	}
	return []block{{Type: "text", Text: strings.Join(texts, "\n\n")}}
}
