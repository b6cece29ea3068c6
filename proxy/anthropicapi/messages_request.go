// Package anthropicapi is the edge codec of the Anthropic Messages API
// (POST /v1/messages and /v1/messages/count_tokens): it decodes a Messages
// request into the canonical llm.Request, and encodes llm.Response,
// llm.Chunk streams and llm.Error back into Messages objects, stream events
// and error bodies. It does no I/O beyond writing to the writer it is given;
// the proxy runs the shared pipeline (auth, limits, routing, caches,
// failover, usage) around it.
//
// The request keeps the client's body (llm.Native): an Anthropic target
// receives it untouched but for model and stream, so cache_control,
// thinking blocks and fields this codec does not model survive byte for
// byte. Other targets receive the canonical translation.
package anthropicapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"llmrouter/llm"
	"llmrouter/llm/anthropicwire"
)

// request is a Messages request as this codec reads it.
type request struct {
	Model         string                    `json:"model"`
	MaxTokens     *int                      `json:"max_tokens"`
	System        json.RawMessage           `json:"system"`
	Messages      []turnIn                  `json:"messages"`
	Tools         []anthropicwire.ToolDef   `json:"tools"`
	ToolChoice    *anthropicwire.ToolChoice `json:"tool_choice"`
	StopSequences []string                  `json:"stop_sequences"`
	Temperature   *float64                  `json:"temperature"`
	TopP          *float64                  `json:"top_p"`
	Metadata      *anthropicwire.Metadata   `json:"metadata"`
	Stream        bool                      `json:"stream"`
}

// modelled are the top-level members request decodes; every other member
// (top_k, thinking, service_tier, container, ...) goes to Request.Extra.
var modelled = map[string]bool{
	"model": true, "max_tokens": true, "system": true, "messages": true, "tools": true,
	"tool_choice": true, "stop_sequences": true, "temperature": true, "top_p": true,
	"metadata": true, "stream": true,
}

type turnIn struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// blockIn is a request content block; tool_result content may be a string
// or blocks, so it stays raw here.
type blockIn struct {
	Type         string                `json:"type"`
	Text         string                `json:"text"`
	Source       *anthropicwire.Source `json:"source"`
	Title        string                `json:"title"`
	ID           string                `json:"id"`
	Name         string                `json:"name"`
	Input        json.RawMessage       `json:"input"`
	ToolUseID    string                `json:"tool_use_id"`
	Content      json.RawMessage       `json:"content"`
	IsError      bool                  `json:"is_error"`
	Thinking     string                `json:"thinking"`
	Signature    string                `json:"signature"`
	Data         string                `json:"data"`
	CacheControl json.RawMessage       `json:"cache_control"`
}

// Headers are the request headers the codec forwards.
type Headers struct {
	Version string // anthropic-version
	Beta    string // anthropic-beta
}

// Decode turns a Messages request body into a canonical request. countOnly
// is for count_tokens, where max_tokens is not required. body is copied
// into the request's Native; the caller may reuse it afterwards. Errors are
// *llm.Error of KindInvalidRequest with Param naming the field.
func Decode(body []byte, h Headers, countOnly bool) (*llm.Request, *llm.Error) {
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, jsonError(err)
	}
	if in.Model == "" {
		return nil, invalid("model", "model: Field required")
	}
	if !countOnly {
		if in.MaxTokens == nil {
			return nil, invalid("max_tokens", "max_tokens: Field required")
		}
		if *in.MaxTokens < 1 {
			return nil, invalid("max_tokens", "max_tokens: Input should be greater than or equal to 1")
		}
	}
	if len(in.Messages) == 0 {
		return nil, invalid("messages", "messages: at least one message is required")
	}
	r := &llm.Request{
		Model:       in.Model,
		MaxTokens:   in.MaxTokens,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		Stream:      in.Stream && !countOnly,
	}
	if len(in.StopSequences) > 0 {
		r.Stop = in.StopSequences
	}
	if in.Metadata != nil {
		r.User = in.Metadata.UserID
	}
	if e := decodeSystem(in.System, r); e != nil {
		return nil, e
	}
	for i := range in.Messages {
		if e := decodeTurn(&in.Messages[i], i, r); e != nil {
			return nil, e
		}
	}
	if e := decodeTools(&in, r); e != nil {
		return nil, e
	}
	extra, e := extraMembers(body)
	if e != nil {
		return nil, e
	}
	r.Extra = extra
	r.Native = &llm.Native{API: llm.APIAnthropicMessages, Body: bytes.Clone(body),
		Messages: len(r.Messages), Version: h.Version, Beta: h.Beta}
	return r, nil
}

// extraMembers returns the top-level members Decode does not model.
func extraMembers(body []byte) (map[string]json.RawMessage, *llm.Error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, jsonError(err)
	}
	var extra map[string]json.RawMessage
	for k, v := range all {
		if modelled[k] {
			continue
		}
		if extra == nil {
			extra = make(map[string]json.RawMessage, len(all))
		}
		extra[k] = v
	}
	return extra, nil
}

func decodeSystem(raw json.RawMessage, r *llm.Request) *llm.Error {
	switch firstByte(raw) {
	case 0, 'n':
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("system", "system: "+err.Error())
		}
		if s != "" {
			r.Messages = append(r.Messages, llm.Message{Role: "system", Content: llm.TextContent(s)})
		}
		return nil
	case '[':
		var blocks []blockIn
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return invalid("system", "system: Input should be a valid string or list of text blocks")
		}
		parts := make([]llm.ContentPart, 0, len(blocks))
		for i, b := range blocks {
			if b.Type != "text" {
				return invalid(fmt.Sprintf("system.%d.type", i), "system blocks must be text blocks")
			}
			parts = append(parts, llm.ContentPart{Type: "text", Text: b.Text, CacheControl: b.CacheControl})
		}
		if len(parts) > 0 {
			r.Messages = append(r.Messages, llm.Message{Role: "system", Content: partsContent(parts)})
		}
		return nil
	}
	return invalid("system", "system: Input should be a valid string or list of text blocks")
}

// partsContent is one cache-free text part as a plain string, else parts.
func partsContent(parts []llm.ContentPart) llm.Content {
	if len(parts) == 1 && parts[0].Type == "text" && len(parts[0].CacheControl) == 0 {
		return llm.TextContent(parts[0].Text)
	}
	return llm.Content{Parts: parts}
}

func decodeTurn(t *turnIn, i int, r *llm.Request) *llm.Error {
	param := fmt.Sprintf("messages.%d", i)
	if t.Role != "user" && t.Role != "assistant" {
		return invalid(param+".role", fmt.Sprintf("%s.role: Input should be 'user' or 'assistant'", param))
	}
	var blocks []blockIn
	switch firstByte(t.Content) {
	case '"':
		var s string
		if err := json.Unmarshal(t.Content, &s); err != nil {
			return invalid(param+".content", param+".content: "+err.Error())
		}
		r.Messages = append(r.Messages, llm.Message{Role: t.Role, Content: llm.TextContent(s)})
		return nil
	case '[':
		if err := json.Unmarshal(t.Content, &blocks); err != nil {
			return invalid(param+".content", param+".content: "+err.Error())
		}
	default:
		return invalid(param+".content", param+".content: Field required (a string or a list of content blocks)")
	}
	if t.Role == "assistant" {
		m, e := assistantMessage(blocks, param)
		if e != nil {
			return e
		}
		r.Messages = append(r.Messages, m)
		return nil
	}
	return userMessages(blocks, param, r)
}

// userMessages appends a user turn: its tool_result blocks as tool
// messages first (in order), then the other blocks as one user message.
func userMessages(blocks []blockIn, param string, r *llm.Request) *llm.Error {
	var parts []llm.ContentPart
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content.%d", param, j)
		switch b.Type {
		case "tool_result":
			if b.ToolUseID == "" {
				return invalid(bp+".tool_use_id", bp+".tool_use_id: Field required")
			}
			text, e := toolResultText(b.Content, bp)
			if e != nil {
				return e
			}
			if b.IsError && text == "" {
				text = "error"
			}
			m := llm.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: llm.TextContent(text)}
			if len(b.CacheControl) > 0 {
				m.MessageExtras = &llm.MessageExtras{CacheControl: b.CacheControl}
			}
			r.Messages = append(r.Messages, m)
		default:
			p, e := contentPart(&b, bp)
			if e != nil {
				return e
			}
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		r.Messages = append(r.Messages, llm.Message{Role: "user", Content: partsContent(parts)})
	}
	return nil
}

// contentPart converts a text, image or document block.
func contentPart(b *blockIn, bp string) (llm.ContentPart, *llm.Error) {
	switch b.Type {
	case "text":
		return llm.ContentPart{Type: "text", Text: b.Text, CacheControl: b.CacheControl}, nil
	case "image":
		if b.Source == nil {
			return llm.ContentPart{}, invalid(bp+".source", bp+".source: Field required")
		}
		var u string
		switch b.Source.Type {
		case "base64":
			u = "data:" + b.Source.MediaType + ";base64," + b.Source.Data
		case "url":
			u = b.Source.URL
		default:
			return llm.ContentPart{}, invalid(bp+".source.type", fmt.Sprintf("image source type %q is not supported", b.Source.Type))
		}
		return llm.ContentPart{Type: "image_url", ImageURL: &llm.ImageURL{URL: u}, CacheControl: b.CacheControl}, nil
	case "document":
		if b.Source == nil {
			return llm.ContentPart{}, invalid(bp+".source", bp+".source: Field required")
		}
		switch b.Source.Type {
		case "text":
			return llm.ContentPart{Type: "text", Text: b.Source.Data, CacheControl: b.CacheControl}, nil
		case "base64":
			file, _ := json.Marshal(map[string]string{
				"filename":  firstNonEmpty(b.Title, "document.pdf"),
				"file_data": "data:" + b.Source.MediaType + ";base64," + b.Source.Data,
			})
			return llm.ContentPart{Type: "file", File: file, CacheControl: b.CacheControl}, nil
		}
		return llm.ContentPart{}, invalid(bp+".source.type", fmt.Sprintf("document source type %q is not supported", b.Source.Type))
	}
	return llm.ContentPart{}, invalid(bp+".type", fmt.Sprintf("content block type %q is not supported in a user message", b.Type))
}

func toolResultText(raw json.RawMessage, bp string) (string, *llm.Error) {
	switch firstByte(raw) {
	case 0, 'n':
		return "", nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid(bp+".content", bp+".content: "+err.Error())
		}
		return s, nil
	}
	var blocks []blockIn
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", invalid(bp+".content", bp+".content: Input should be a valid string or list of blocks")
	}
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// assistantMessage converts an assistant turn: text (string or parts),
// tool_use blocks as tool calls, thinking and redacted_thinking blocks
// whole in ThinkingBlocks (their text also in ReasoningContent).
func assistantMessage(blocks []blockIn, param string) (llm.Message, *llm.Error) {
	m := llm.Message{Role: "assistant"}
	var ext llm.MessageExtras
	var parts []llm.ContentPart
	var reasoning strings.Builder
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content.%d", param, j)
		switch b.Type {
		case "text":
			parts = append(parts, llm.ContentPart{Type: "text", Text: b.Text, CacheControl: b.CacheControl})
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return m, invalid(bp, bp+": tool_use blocks need an id and a name")
			}
			args := "{}"
			if len(b.Input) > 0 && firstByte(b.Input) != 'n' {
				args = string(b.Input)
			}
			m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: b.ID, Type: "function",
				Function: llm.ToolCallFunction{Name: b.Name, Arguments: args}})
			if len(b.CacheControl) > 0 {
				ext.CacheControl = b.CacheControl
			}
		case "thinking":
			ext.ThinkingBlocks = append(ext.ThinkingBlocks, llm.ThinkingBlock{Type: "thinking", Thinking: b.Thinking, Signature: b.Signature})
			reasoning.WriteString(b.Thinking)
		case "redacted_thinking":
			ext.ThinkingBlocks = append(ext.ThinkingBlocks, llm.ThinkingBlock{Type: "redacted_thinking", Data: b.Data})
		default:
			return m, invalid(bp+".type", fmt.Sprintf("content block type %q is not supported in an assistant message", b.Type))
		}
	}
	m.ReasoningContent = reasoning.String()
	if len(ext.ThinkingBlocks) > 0 || len(ext.CacheControl) > 0 {
		m.MessageExtras = &ext
	}
	if len(parts) > 0 {
		m.Content = partsContent(parts)
	}
	return m, nil
}

// decodeTools maps client tools and tool_choice. Server tools (web search,
// code execution, ...) have no canonical form: they reach an Anthropic
// target in the forwarded body and are left out of the translation.
func decodeTools(in *request, r *llm.Request) *llm.Error {
	for i, t := range in.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		if t.Name == "" {
			return invalid(fmt.Sprintf("tools.%d.name", i), fmt.Sprintf("tools.%d.name: Field required", i))
		}
		r.Tools = append(r.Tools, llm.Tool{Type: "function", CacheControl: t.CacheControl,
			Function: llm.ToolFunction{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}})
	}
	tc := in.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		r.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		r.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		r.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		if tc.Name == "" {
			return invalid("tool_choice.name", "tool_choice.name: Field required")
		}
		b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		r.ToolChoice = b
	default:
		return invalid("tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if tc.DisableParallelToolUse {
		r.ParallelToolCalls = llm.Ptr(false)
	}
	return nil
}

func jsonError(err error) *llm.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalid(te.Field, fmt.Sprintf("%s: Input should be a valid %s", te.Field, te.Type))
	}
	return invalid("", "request body is not valid JSON: "+err.Error())
}

func invalid(param, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Message: msg}
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
