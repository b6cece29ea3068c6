package anthropic

import "encoding/json"

// This file holds the Anthropic Messages API wire shapes
// (POST /v1/messages, anthropic-version 2023-06-01). Unknown response
// fields are ignored by encoding/json, which is what we want: the API keeps
// adding fields (caller, inference_geo, cache_creation, ...).

// msgRequest is the body of POST /v1/messages.
type msgRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []turn          `json:"messages"`
	Tools         []toolDef       `json:"tools,omitempty"`
	ToolChoice    *toolChoice     `json:"tool_choice,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          json.RawMessage `json:"top_k,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`
	Metadata      *metadata       `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

// turn is one message of the conversation; roles alternate user/assistant.
type turn struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a content block. One struct serves every block type we send or
// receive; the Type says which fields matter.
type block struct {
	Type string `json:"type"`

	// text
	Text string `json:"text,omitempty"`
	// image
	Source *imageSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string  `json:"tool_use_id,omitempty"`
	Content   []block `json:"content,omitempty"`
	IsError   bool    `json:"is_error,omitempty"`
	// thinking (responses only; the signature is read and dropped)
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// imageSource is an image block's source: base64 data or a URL.
type imageSource struct {
	Type      string `json:"type"` // "base64" or "url"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// toolDef is a client tool offered to the model.
type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// toolChoice is auto, any, tool (with Name) or none.
type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// msgResponse is a whole Message, and also message_start's "message".
type msgResponse struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []block `json:"content"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        usage   `json:"usage"`
}

// usage counters. Pointers: message_delta repeats only some of them, and a
// counter that is absent must not overwrite an earlier value.
type usage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
}

// event is any streamed event payload; Type selects the fields that matter.
type event struct {
	Type         string       `json:"type"`
	Message      *msgResponse `json:"message"`       // message_start
	Index        int          `json:"index"`         // content_block_*
	ContentBlock *block       `json:"content_block"` // content_block_start
	Delta        *eventDelta  `json:"delta"`         // content_block_delta, message_delta
	Usage        *usage       `json:"usage"`         // message_delta
	Error        *apiError    `json:"error"`         // error
}

// eventDelta is a content_block_delta's or a message_delta's delta.
type eventDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	Thinking    string `json:"thinking"`
	Signature   string `json:"signature"`
	StopReason  string `json:"stop_reason"`
}

// apiError is the "error" object of an error body or error event.
type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// errorBody is {"type":"error","error":{...},"request_id":"..."}.
type errorBody struct {
	Type      string   `json:"type"`
	Error     apiError `json:"error"`
	RequestID string   `json:"request_id"`
}
