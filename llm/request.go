package llm

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Request is a chat completion request in the OpenAI wire shape, plus the
// routing metadata that the proxy attaches (Tenant, RequestID, Meta).
//
// Optional scalar parameters are pointers so that "absent" and "zero" stay
// different: both the upstream and the cache key must see exactly what the
// client sent.
type Request struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      json.RawMessage `json:"response_format,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Stop                Stop            `json:"stop,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	N                   *int            `json:"n,omitempty"`
	User                string          `json:"user,omitempty"`
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`
	LogitBias           json.RawMessage `json:"logit_bias,omitempty"`
	Logprobs            *bool           `json:"logprobs,omitempty"`
	TopLogprobs         *int            `json:"top_logprobs,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`

	// Extra holds the top-level fields this type does not know, exactly as
	// the client sent them. OpenAI-compatible providers forward them.
	Extra map[string]json.RawMessage `json:"-"`

	// Tier is the tier the classifier decided for an auto alias; TierUnset
	// for a pinned alias. The router routes an auto request on it, and the
	// cache scopes by it.
	Tier Tier `json:"-"`
	// TierOverride is the tier the client asked for with the
	// x-llmrouter-tier header; the classifier decorator honours it only
	// where the tenant's policy allows.
	TierOverride Tier `json:"-"`
	// CacheControl is the client's Cache-Control request header, parsed.
	CacheControl CacheControl `json:"-"`
	// Tenant is the authenticated tenant; "" when auth is off.
	Tenant string `json:"-"`
	// RequestID is the x-request-id of the client request.
	RequestID string `json:"-"`
	// IdempotencyKey is the client's Idempotency-Key header, "" when none:
	// a repeat within the window gets the first answer (router.Idempotent).
	IdempotencyKey string `json:"-"`
	// Meta collects the decisions that layers make about this request (tier,
	// target, cache outcome) for response headers, logs and metrics. Shallow
	// copies of a Request share it. May be nil.
	Meta *Meta `json:"-"`
}

// CacheControl carries the request directives that the cache obeys.
type CacheControl struct {
	NoCache bool // skip the cache read (still store the answer)
	NoStore bool // do not store the answer
}

// StreamOptions is the OpenAI stream_options object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// MaxOutputTokens returns max_completion_tokens, else max_tokens, else 0.
func (r *Request) MaxOutputTokens() int {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

// WantsUsage reports whether a streaming client asked for the usage chunk.
func (r *Request) WantsUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// LastUserText returns the text of the final user message, or "".
func (r *Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content.Text()
		}
	}
	return ""
}

// Message is one chat message. Content may be a string or an array of parts
// on the wire; see Content.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    *string    `json:"refusal,omitempty"`
	// ReasoningContent carries a model's visible thinking (Anthropic
	// thinking blocks), never its signature.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// Content is a message's content: a plain string, an array of typed parts,
// or null. The zero value is null.
type Content struct {
	// Str is the content when it was (or will be) a JSON string.
	Str string
	// Parts is the content when it was an array; non-nil means array form.
	Parts []ContentPart
	// Set reports that Str holds a string (possibly ""), not null.
	Set bool
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Str: s, Set: true} }

// IsNull reports JSON null (or absent) content.
func (c Content) IsNull() bool { return !c.Set && c.Parts == nil }

// Text returns the string content, or the text parts joined by newlines.
func (c Content) Text() string {
	if c.Parts == nil {
		return c.Str
	}
	n := 0
	for _, p := range c.Parts {
		if p.Type == "text" {
			n++
		}
	}
	if n == 1 {
		for _, p := range c.Parts {
			if p.Type == "text" {
				return p.Text
			}
		}
	}
	var b strings.Builder
	for _, p := range c.Parts {
		if p.Type != "text" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String()
}

// HasImage reports whether any part is an image.
func (c Content) HasImage() bool {
	for _, p := range c.Parts {
		if p.Type == "image_url" {
			return true
		}
	}
	return false
}

// MarshalJSON writes a string, an array of parts, or null.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	if !c.Set {
		return []byte("null"), nil
	}
	if plainJSONString(c.Str) {
		b := make([]byte, 0, len(c.Str)+2)
		b = append(b, '"')
		b = append(b, c.Str...)
		return append(b, '"'), nil
	}
	return json.Marshal(c.Str)
}

// plainJSONString reports a string that encodes as itself between quotes:
// valid UTF-8 with no quote, backslash, control or HTML-special byte.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return c >= utf8.RuneSelf && asciiFreeValid(s[i:])
		}
	}
	return true
}

// asciiFreeValid checks the rest of s from its first non-ASCII byte: valid
// UTF-8, no U+2028/U+2029 (which encoding/json escapes), and no byte that
// needs escaping.
func asciiFreeValid(s string) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r == '\u2028', r == '\u2029':
			return false
		case r < utf8.RuneSelf && (r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&'):
			return false
		}
	}
	return true
}

// UnmarshalJSON accepts a string, an array of parts, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	switch firstByte(b) {
	case 'n':
		return nil
	case '"':
		c.Set = true
		// b was validated by the caller's decoder: without escapes and with
		// valid UTF-8 the bytes between the quotes are the string.
		if n := len(b); n >= 2 && b[n-1] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b[1:n-1]) {
			c.Str = string(b[1 : n-1])
			return nil
		}
		return json.Unmarshal(b, &c.Str)
	case '[':
		var parts []ContentPart
		if err := json.Unmarshal(b, &parts); err != nil {
			return &Error{Kind: KindInvalidRequest, Param: "messages", Message: "invalid content parts: " + jsonErrText(err)}
		}
		if parts == nil {
			parts = []ContentPart{}
		}
		c.Parts = parts
		return nil
	}
	return &Error{Kind: KindInvalidRequest, Param: "messages", Message: "message content must be a string, an array of content parts, or null"}
}

// ContentPart is one element of array content.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
	// Other part kinds (input_audio, file, ...) are kept raw.
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
}

// ImageURL is an image part: an https URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// Tool is a tool definition offered to the model.
type Tool struct {
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction describes a callable function; Parameters is a JSON schema.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call the model made. In streamed deltas Index says which
// call a fragment belongs to, and only a call's first fragment carries ID,
// Type and Function.Name.
type ToolCall struct {
	Index    *int             `json:"index,omitempty"`
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction is the function name and its JSON arguments (a string,
// possibly a fragment in a stream).
type ToolCallFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Stop is the stop parameter: a string or an array of strings on the wire,
// always an array once decoded. It marshals a single value as an array too.
type Stop []string

// UnmarshalJSON accepts a string, an array of strings, or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case 'n':
		*s = nil
		return nil
	case '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
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
