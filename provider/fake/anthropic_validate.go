package fake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// fakeRequest is a Messages request as the fake API reads it: unknown
// fields anywhere are an error, as in the real API.
type fakeRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      []fakeTurn      `json:"messages"`
	Tools         []fakeTool      `json:"tools"`
	ToolChoice    *fakeToolChoice `json:"tool_choice"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Thinking      *fakeThinking   `json:"thinking"`
	Metadata      *fakeMetadata   `json:"metadata"`
	Stream        bool            `json:"stream"`
	ServiceTier   string          `json:"service_tier"`

	// Derived by validateMessagesRequest.
	blocks          [][]fakeBlock
	promptChars     int
	lastUserText    string
	lastToolResults []string
	images          int
	prefill         string
	toolChoice      string
	thinkingEnabled bool
}

type fakeTurn struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type fakeBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	Source       *fakeSource     `json:"source"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      *bool           `json:"is_error"`
	Thinking     *string         `json:"thinking"`
	Signature    *string         `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
	Citations    json.RawMessage `json:"citations"`
}

type fakeSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type fakeTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type fakeToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

type fakeThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens"`
}

type fakeMetadata struct {
	UserID string `json:"user_id"`
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func parseMessagesRequest(body []byte) (*fakeRequest, error) {
	var r fakeRequest
	if err := strictDecode(body, &r); err != nil {
		return nil, fmt.Errorf("invalid request body: %v", err)
	}
	return &r, nil
}

// validToolName reports whether name matches ^[a-zA-Z0-9_-]{1,128}$.
func validToolName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// validateMessagesRequest applies the API's rules and fills in the derived
// fields. Messages follow the API's "path: problem" style.
func validateMessagesRequest(r *fakeRequest) error {
	switch {
	case r.Model == "":
		return errors.New("model: Field required")
	case r.MaxTokens == nil:
		return errors.New("max_tokens: Field required")
	case *r.MaxTokens < 1:
		return errors.New("max_tokens: Input should be greater than or equal to 1")
	case len(r.Messages) == 0:
		return errors.New("messages: Field required")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1):
		return errors.New("temperature: Input should be less than or equal to 1")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return errors.New("top_p: Input should be less than or equal to 1")
	}
	for i, s := range r.StopSequences {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("stop_sequences.%d: stop sequences must contain non-whitespace", i)
		}
	}
	if err := r.validateSystem(); err != nil {
		return err
	}
	if err := r.validateTools(); err != nil {
		return err
	}
	if r.Thinking != nil {
		switch r.Thinking.Type {
		case "disabled":
		case "enabled":
			if r.Thinking.BudgetTokens < 1024 || r.Thinking.BudgetTokens >= *r.MaxTokens {
				return errors.New("thinking.budget_tokens: must be ≥ 1024 and less than max_tokens")
			}
			r.thinkingEnabled = true
		default:
			return errors.New("thinking.type: Input should be 'enabled' or 'disabled'")
		}
	}
	r.blocks = make([][]fakeBlock, len(r.Messages))
	for i, m := range r.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Errorf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if i > 0 && r.Messages[i-1].Role == m.Role {
			return fmt.Errorf("messages: roles must alternate between \"user\" and \"assistant\", but found multiple %q roles in a row", m.Role)
		}
		blocks, err := r.messageBlocks(i)
		if err != nil {
			return err
		}
		r.blocks[i] = blocks
	}
	if err := r.validateToolPairs(); err != nil {
		return err
	}
	r.derive()
	return nil
}

func (r *fakeRequest) validateSystem() error {
	if len(r.System) == 0 || string(r.System) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(r.System, &s) == nil {
		r.promptChars += len(s)
		return nil
	}
	var blocks []fakeBlock
	if err := strictDecode(r.System, &blocks); err != nil {
		return fmt.Errorf("system: Input should be a valid string or list of text blocks: %v", err)
	}
	for j, b := range blocks {
		if b.Type != "text" || b.Text == nil || *b.Text == "" {
			return fmt.Errorf("system.%d: system blocks must be non-empty text blocks", j)
		}
		r.promptChars += len(*b.Text)
	}
	return nil
}

func (r *fakeRequest) validateTools() error {
	names := map[string]bool{}
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			return fmt.Errorf("tools.%d.type: unknown tool type %q", i, t.Type)
		}
		if !validToolName(t.Name) {
			return fmt.Errorf("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
		}
		if names[t.Name] {
			return fmt.Errorf("tools: Tool names must be unique.")
		}
		names[t.Name] = true
		var schema struct {
			Type string `json:"type"`
		}
		if len(t.InputSchema) == 0 || json.Unmarshal(t.InputSchema, &schema) != nil || schema.Type != "object" {
			return fmt.Errorf("tools.%d.custom.input_schema: Input should be a JSON schema object with type 'object'", i)
		}
		r.promptChars += len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	r.toolChoice = "auto"
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any":
		case "none":
			if tc.DisableParallelToolUse != nil {
				return errors.New("tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted")
			}
		case "tool":
			if !names[tc.Name] {
				return fmt.Errorf("tool_choice.tool.name: tool %q is not defined in tools", tc.Name)
			}
		default:
			return fmt.Errorf("tool_choice.type: Input tag %q does not match any of the expected tags", tc.Type)
		}
		if tc.Type != "tool" && tc.Name != "" {
			return fmt.Errorf("tool_choice.%s.name: Extra inputs are not permitted", tc.Type)
		}
		r.toolChoice = tc.Type
	}
	return nil
}

// messageBlocks decodes and checks message i's content.
func (r *fakeRequest) messageBlocks(i int) ([]fakeBlock, error) {
	m := r.Messages[i]
	last := i == len(r.Messages)-1
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		if s == "" && !(last && m.Role == "assistant") {
			return nil, fmt.Errorf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		return []fakeBlock{{Type: "text", Text: &s}}, nil
	}
	var blocks []fakeBlock
	if err := strictDecode(m.Content, &blocks); err != nil {
		return nil, fmt.Errorf("messages.%d.content: Input should be a valid string or list of content blocks: %v", i, err)
	}
	if len(blocks) == 0 && !(last && m.Role == "assistant") {
		return nil, fmt.Errorf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
	}
	seenOther := false
	for j, b := range blocks {
		p := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			if b.Text == nil || *b.Text == "" {
				return nil, fmt.Errorf("%s: text content blocks must be non-empty", p)
			}
		case "image":
			if m.Role != "user" {
				return nil, fmt.Errorf("%s: image blocks are only allowed in user messages", p)
			}
			if err := validateImage(b.Source, p); err != nil {
				return nil, err
			}
		case "tool_use":
			if m.Role != "assistant" {
				return nil, fmt.Errorf("%s: tool_use blocks are only allowed in assistant messages", p)
			}
			var obj map[string]json.RawMessage
			if b.ID == "" || b.Name == "" || json.Unmarshal(b.Input, &obj) != nil || obj == nil {
				return nil, fmt.Errorf("%s.tool_use: id, name and an input object are required", p)
			}
		case "tool_result":
			if m.Role != "user" {
				return nil, fmt.Errorf("%s: tool_result blocks are only allowed in user messages", p)
			}
			if seenOther {
				return nil, fmt.Errorf("messages.%d: tool_result blocks must come first in the content, before any other block", i)
			}
			if b.ToolUseID == "" {
				return nil, fmt.Errorf("%s.tool_result.tool_use_id: Field required", p)
			}
			if _, err := toolResultText(b.Content, p); err != nil {
				return nil, err
			}
		case "thinking":
			if m.Role != "assistant" || b.Signature == nil || *b.Signature == "" {
				return nil, fmt.Errorf("%s.thinking.signature: Field required", p)
			}
		case "redacted_thinking":
			if m.Role != "assistant" || b.Data == "" {
				return nil, fmt.Errorf("%s.redacted_thinking.data: Field required", p)
			}
		default:
			return nil, fmt.Errorf("%s.type: Input tag %q does not match any of the expected tags", p, b.Type)
		}
		if b.Type != "tool_result" {
			seenOther = true
		}
	}
	return blocks, nil
}

func validateImage(src *fakeSource, p string) error {
	if src == nil {
		return fmt.Errorf("%s.image.source: Field required", p)
	}
	switch src.Type {
	case "base64":
		switch src.MediaType {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return fmt.Errorf("%s.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", p)
		}
		if src.Data == "" || src.URL != "" {
			return fmt.Errorf("%s.image.source.base64: data is required and url is not permitted", p)
		}
	case "url":
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") || src.Data != "" || src.MediaType != "" {
			return fmt.Errorf("%s.image.source.url: a http(s) url is required; data and media_type are not permitted", p)
		}
	default:
		return fmt.Errorf("%s.image.source.type: Input tag %q does not match any of the expected tags", p, src.Type)
	}
	return nil
}

// toolResultText returns a tool_result's text; its content may be absent,
// a string, or a list of text and image blocks.
func toolResultText(raw json.RawMessage, p string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []fakeBlock
	if err := strictDecode(raw, &blocks); err != nil {
		return "", fmt.Errorf("%s.tool_result.content: Input should be a valid string or list of blocks: %v", p, err)
	}
	var parts []string
	for k, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text == nil || *b.Text == "" {
				return "", fmt.Errorf("%s.content.%d: text content blocks must be non-empty", p, k)
			}
			parts = append(parts, *b.Text)
		case "image":
			if err := validateImage(b.Source, fmt.Sprintf("%s.content.%d", p, k)); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("%s.content.%d.type: Input tag %q does not match any of the expected tags", p, k, b.Type)
		}
	}
	return strings.Join(parts, " "), nil
}

// validateToolPairs checks that every tool_result answers a tool_use of
// the previous message, and that every tool_use is answered by the next.
func (r *fakeRequest) validateToolPairs() error {
	for i, blocks := range r.blocks {
		ids := map[string]bool{}
		if i > 0 {
			for _, b := range r.blocks[i-1] {
				if b.Type == "tool_use" {
					ids[b.ID] = true
				}
			}
		}
		for j, b := range blocks {
			if b.Type == "tool_result" && !ids[b.ToolUseID] {
				return fmt.Errorf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
			}
		}
		if r.Messages[i].Role != "assistant" || i == len(r.blocks)-1 {
			continue
		}
		answered := map[string]bool{}
		for _, b := range r.blocks[i+1] {
			if b.Type == "tool_result" {
				answered[b.ToolUseID] = true
			}
		}
		var missing []string
		for _, b := range blocks {
			if b.Type == "tool_use" && !answered[b.ID] {
				missing = append(missing, b.ID)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i, strings.Join(missing, ", "))
		}
	}
	n := len(r.Messages) - 1
	if r.Messages[n].Role == "assistant" {
		var text strings.Builder
		for _, b := range r.blocks[n] {
			if b.Type == "text" {
				text.WriteString(*b.Text)
			}
		}
		if trailingSpace(text.String()) {
			return errors.New("messages: final assistant content cannot end with trailing whitespace")
		}
		r.prefill = text.String()
	}
	return nil
}

// derive fills the answer's inputs: prompt size, last user text, tool
// results and images of the last user turn.
func (r *fakeRequest) derive() {
	lastUser := -1
	for i, blocks := range r.blocks {
		if r.Messages[i].Role == "user" {
			lastUser = i
		}
		for _, b := range blocks {
			switch {
			case b.Text != nil:
				r.promptChars += len(*b.Text)
			case b.Type == "tool_use":
				r.promptChars += len(b.Input)
			case b.Type == "tool_result":
				t, _ := toolResultText(b.Content, "")
				r.promptChars += len(t)
			case b.Type == "image":
				r.promptChars += 1000
			}
		}
	}
	if lastUser < 0 {
		return
	}
	var texts []string
	for _, b := range r.blocks[lastUser] {
		switch b.Type {
		case "text":
			texts = append(texts, *b.Text)
		case "image":
			r.images++
		case "tool_result":
			t, _ := toolResultText(b.Content, "")
			r.lastToolResults = append(r.lastToolResults, t)
		}
	}
	r.lastUserText = strings.Join(texts, " ")
}

func (r *fakeRequest) offersTool(name string) bool {
	for _, t := range r.Tools {
		if t.Name == name {
			return true
		}
	}
	return false
}
