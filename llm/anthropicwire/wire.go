// Package anthropicwire is the Anthropic Messages API vocabulary shared by
// the edge codec (proxy/anthropicapi, clients that speak Messages) and the
// provider adapter (provider/anthropic, upstreams that speak Messages): the
// wire shapes of POST /v1/messages (anthropic-version 2023-06-01) and the
// mappings between them and the canonical llm types (stop reasons, usage,
// error types). It imports only llm and the standard library.
//
// Unknown response fields are ignored by encoding/json, which is what a
// reader wants: the API keeps adding fields (caller, inference_geo,
// cache_creation, ...). Where a raw value must survive byte for byte
// (cache_control, tool input, citations) the field is json.RawMessage.
package anthropicwire

import "encoding/json"

// Request is the body of POST /v1/messages as this proxy writes it.
type Request struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        System          `json:"system,omitempty"`
	Messages      []Turn          `json:"messages"`
	Tools         []ToolDef       `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          json.RawMessage `json:"top_k,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

// System is the system prompt as blocks. One plain text block (no cache
// breakpoint, no citations) is written as a JSON string.
type System []Block

// MarshalJSON writes a string for one plain text block, else the blocks.
func (s System) MarshalJSON() ([]byte, error) {
	if len(s) == 1 && s[0].Type == "text" && len(s[0].CacheControl) == 0 && len(s[0].Citations) == 0 {
		return json.Marshal(s[0].Text)
	}
	return json.Marshal([]Block(s))
}

// Turn is one message of the conversation; roles alternate user/assistant.
type Turn struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Block is a content block. One struct serves every block type sent or
// received; Type says which fields matter.
type Block struct {
	Type string `json:"type"`

	// text
	Text      string          `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`
	// image, document
	Source *Source `json:"source,omitempty"`
	Title  string  `json:"title,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string  `json:"tool_use_id,omitempty"`
	Content   []Block `json:"content,omitempty"`
	IsError   bool    `json:"is_error,omitempty"`
	// thinking, redacted_thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`

	// CacheControl is a prompt-cache breakpoint, kept raw.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// Source is an image or document block's source.
type Source struct {
	Type      string `json:"type"` // "base64", "url" or "text"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// ToolDef is a client tool offered to the model.
type ToolDef struct {
	Type         string          `json:"type,omitempty"` // "" or "custom" for client tools
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ToolChoice is auto, any, tool (with Name) or none.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Metadata is the request's metadata object.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Message is a whole Message, and also message_start's "message".
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage counters. Pointers: message_delta repeats only some of them, and a
// counter that is absent must not overwrite an earlier value.
type Usage struct {
	InputTokens              *int `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             *int `json:"output_tokens,omitempty"`
}

// Event is any streamed event payload; Type selects the fields that matter.
type Event struct {
	Type         string    `json:"type"`
	Message      *Message  `json:"message,omitempty"`       // message_start
	Index        *int      `json:"index,omitempty"`         // content_block_*
	ContentBlock *Block    `json:"content_block,omitempty"` // content_block_start
	Delta        *Delta    `json:"delta,omitempty"`         // content_block_delta, message_delta
	Usage        *Usage    `json:"usage,omitempty"`         // message_delta
	Error        *APIError `json:"error,omitempty"`         // error
}

// Delta is a content_block_delta's or a message_delta's delta.
type Delta struct {
	Type         string  `json:"type,omitempty"`
	Text         string  `json:"text,omitempty"`
	PartialJSON  *string `json:"partial_json,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	Signature    string  `json:"signature,omitempty"`
	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// APIError is the "error" object of an error body or error event.
type APIError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorBody is {"type":"error","error":{...},"request_id":"..."}.
type ErrorBody struct {
	Type      string   `json:"type"`
	Error     APIError `json:"error"`
	RequestID string   `json:"request_id,omitempty"`
}
