// Package responsesapi is the edge codec of OpenAI's Responses API
// (POST /v1/responses), stateless: it decodes a Responses request into the
// canonical llm.Request and encodes llm.Response and llm.Chunk streams back
// into response objects and typed stream events. The gateway stores
// nothing, so store: true and previous_response_id are refused with a 400
// that says so.
package responsesapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"llmrouter/llm"
)

type request struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions"`
	Tools              []toolIn        `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	Text               *textOptions    `json:"text"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Stream             bool            `json:"stream"`
	Store              *bool           `json:"store"`
	PreviousResponseID string          `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Background         bool            `json:"background"`
	User               string          `json:"user"`
}

type toolIn struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Parameters   json.RawMessage `json:"parameters"`
	Strict       *bool           `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type textOptions struct {
	Format *struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"format"`
}

type itemIn struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

type partIn struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ImageURL     string          `json:"image_url"`
	Detail       string          `json:"detail"`
	FileData     string          `json:"file_data"`
	Filename     string          `json:"filename"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// Decode turns a Responses request body into a canonical request. Errors
// are *llm.Error of KindInvalidRequest naming the parameter.
func Decode(body []byte) (*llm.Request, *llm.Error) {
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, fmt.Sprintf("invalid type for %q: expected %s", te.Field, te.Type))
		}
		return nil, invalid("", "request body is not valid JSON: "+err.Error())
	}
	switch {
	case in.Store != nil && *in.Store:
		return nil, invalid("store", "this gateway is stateless: store: true is not supported; send store: false (or omit it) and pass the whole conversation in input")
	case in.PreviousResponseID != "":
		return nil, invalid("previous_response_id", "this gateway is stateless: previous_response_id is not supported; pass the whole conversation in input")
	case len(in.Conversation) > 0 && firstByte(in.Conversation) != 'n':
		return nil, invalid("conversation", "this gateway is stateless: conversation is not supported; pass the whole conversation in input")
	case in.Background:
		return nil, invalid("background", "this gateway is stateless: background responses are not supported")
	case in.Model == "":
		return nil, invalid("model", "you must provide a model parameter")
	case in.MaxOutputTokens != nil && *in.MaxOutputTokens < 1:
		return nil, invalid("max_output_tokens", "max_output_tokens must be at least 1")
	}
	r := &llm.Request{
		Model:               in.Model,
		MaxCompletionTokens: in.MaxOutputTokens,
		Temperature:         in.Temperature,
		TopP:                in.TopP,
		ParallelToolCalls:   in.ParallelToolCalls,
		Stream:              in.Stream,
		User:                in.User,
	}
	if in.Instructions != "" {
		r.Messages = append(r.Messages, llm.Message{Role: "system", Content: llm.TextContent(in.Instructions)})
	}
	if e := decodeInput(in.Input, r); e != nil {
		return nil, e
	}
	if len(r.Messages) == 0 || (len(r.Messages) == 1 && in.Instructions != "") {
		return nil, invalid("input", "input must be a non-empty string or list of items")
	}
	if e := decodeTools(&in, r); e != nil {
		return nil, e
	}
	if in.Text != nil && in.Text.Format != nil {
		f := in.Text.Format
		switch f.Type {
		case "text", "":
		case "json_object":
			r.ResponseFormat = json.RawMessage(`{"type":"json_object"}`)
		case "json_schema":
			if f.Name == "" || len(f.Schema) == 0 {
				return nil, invalid("text.format", "text.format of type json_schema needs a name and a schema")
			}
			b, _ := json.Marshal(map[string]any{"type": "json_schema", "json_schema": map[string]any{
				"name": f.Name, "description": f.Description, "schema": f.Schema, "strict": f.Strict}})
			r.ResponseFormat = b
		default:
			return nil, invalid("text.format.type", fmt.Sprintf("text.format type %q is not supported", f.Type))
		}
	}
	r.Native = &llm.Native{API: llm.APIOpenAIResponses, Body: bytes.Clone(body), Messages: len(r.Messages)}
	return r, nil
}

func decodeInput(raw json.RawMessage, r *llm.Request) *llm.Error {
	switch firstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("input", err.Error())
		}
		r.Messages = append(r.Messages, llm.Message{Role: "user", Content: llm.TextContent(s)})
		return nil
	case '[':
	default:
		return invalid("input", "input must be a string or a list of items")
	}
	var items []itemIn
	if err := json.Unmarshal(raw, &items); err != nil {
		return invalid("input", "input items: "+err.Error())
	}
	for i := range items {
		it := &items[i]
		param := fmt.Sprintf("input[%d]", i)
		switch it.Type {
		case "", "message":
			m, e := messageItem(it, param)
			if e != nil {
				return e
			}
			r.Messages = append(r.Messages, m)
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return invalid(param, "function_call items need a call_id and a name")
			}
			tc := llm.ToolCall{ID: it.CallID, Type: "function", Function: llm.ToolCallFunction{Name: it.Name, Arguments: it.Arguments}}
			// Consecutive calls belong to one assistant turn.
			if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == "assistant" && len(r.Messages[n-1].ToolCalls) > 0 {
				r.Messages[n-1].ToolCalls = append(r.Messages[n-1].ToolCalls, tc)
			} else {
				r.Messages = append(r.Messages, llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{tc}})
			}
		case "function_call_output":
			if it.CallID == "" {
				return invalid(param+".call_id", "function_call_output items need a call_id")
			}
			out, e := outputText(it.Output, param)
			if e != nil {
				return e
			}
			r.Messages = append(r.Messages, llm.Message{Role: "tool", ToolCallID: it.CallID, Content: llm.TextContent(out)})
		case "reasoning":
			// Reasoning items of earlier turns carry nothing a stateless
			// gateway can send back.
		default:
			return invalid(param+".type", fmt.Sprintf("input item type %q is not supported", it.Type))
		}
	}
	return nil
}

func messageItem(it *itemIn, param string) (llm.Message, *llm.Error) {
	switch it.Role {
	case "user", "assistant", "system", "developer":
	default:
		return llm.Message{}, invalid(param+".role", fmt.Sprintf("unsupported role %q", it.Role))
	}
	m := llm.Message{Role: it.Role}
	switch firstByte(it.Content) {
	case '"':
		var s string
		if err := json.Unmarshal(it.Content, &s); err != nil {
			return m, invalid(param+".content", err.Error())
		}
		m.Content = llm.TextContent(s)
		return m, nil
	case '[':
	default:
		return m, invalid(param+".content", "content must be a string or a list of content parts")
	}
	var parts []partIn
	if err := json.Unmarshal(it.Content, &parts); err != nil {
		return m, invalid(param+".content", err.Error())
	}
	out := make([]llm.ContentPart, 0, len(parts))
	for j, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			out = append(out, llm.ContentPart{Type: "text", Text: p.Text, CacheControl: p.CacheControl})
		case "input_image":
			if p.ImageURL == "" {
				return m, invalid(fmt.Sprintf("%s.content[%d].image_url", param, j), "input_image parts need an image_url (file_id is not supported)")
			}
			out = append(out, llm.ContentPart{Type: "image_url", ImageURL: &llm.ImageURL{URL: p.ImageURL, Detail: p.Detail}, CacheControl: p.CacheControl})
		case "input_file":
			if p.FileData == "" {
				return m, invalid(fmt.Sprintf("%s.content[%d].file_data", param, j), "input_file parts need file_data (file_id is not supported)")
			}
			file, _ := json.Marshal(map[string]string{"filename": p.Filename, "file_data": p.FileData})
			out = append(out, llm.ContentPart{Type: "file", File: file, CacheControl: p.CacheControl})
		default:
			return m, invalid(fmt.Sprintf("%s.content[%d].type", param, j), fmt.Sprintf("content part type %q is not supported", p.Type))
		}
	}
	if len(out) == 1 && out[0].Type == "text" && len(out[0].CacheControl) == 0 {
		m.Content = llm.TextContent(out[0].Text)
	} else {
		m.Content = llm.Content{Parts: out}
	}
	return m, nil
}

func outputText(raw json.RawMessage, param string) (string, *llm.Error) {
	if firstByte(raw) == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid(param+".output", err.Error())
		}
		return s, nil
	}
	var parts []partIn
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(param+".output", "output must be a string or a list of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

func decodeTools(in *request, r *llm.Request) *llm.Error {
	for i, t := range in.Tools {
		if t.Type != "function" {
			return invalid(fmt.Sprintf("tools[%d].type", i), fmt.Sprintf("tool type %q is not supported (only function tools)", t.Type))
		}
		if t.Name == "" {
			return invalid(fmt.Sprintf("tools[%d].name", i), "function tools need a name")
		}
		r.Tools = append(r.Tools, llm.Tool{Type: "function", CacheControl: t.CacheControl,
			Function: llm.ToolFunction{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}})
	}
	if len(in.ToolChoice) == 0 || firstByte(in.ToolChoice) == 'n' {
		return nil
	}
	if firstByte(in.ToolChoice) == '"' {
		var s string
		_ = json.Unmarshal(in.ToolChoice, &s)
		switch s {
		case "auto", "none", "required":
			r.ToolChoice = in.ToolChoice
			return nil
		}
		return invalid("tool_choice", fmt.Sprintf("unknown tool_choice %q", s))
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(in.ToolChoice, &obj); err != nil || obj.Type != "function" || obj.Name == "" {
		return invalid("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","name":...}`)
	}
	b, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": obj.Name}})
	r.ToolChoice = b
	return nil
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
