package llm

import "encoding/json"

// Chunk is one streamed event in the OpenAI chat.completion.chunk shape.
// A chunk with no choices and a Usage is the usage chunk.
type Chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`

	// Encodings, when set, memoises this chunk's wire bytes (set on the
	// chunks of an exact-cache replay; see Encodings for the rules).
	Encodings *Encodings `json:"-"`
}

// ChunkChoice is one choice's delta. FinishReason is nil until the choice
// ends.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the increment of a streamed message. Content is a pointer so the
// first chunk can say "" and the finish chunk can say nothing.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	Refusal          *string    `json:"refusal,omitempty"`
	// ThinkingBlocks carries what a thinking block has besides its text: a
	// signature (Type "thinking", Signature set, Thinking empty) at the end
	// of a thinking block, or a whole redacted_thinking block.
	ThinkingBlocks []ThinkingBlock `json:"thinking_blocks,omitempty"`
}

// Ptr returns a pointer to v; handy for optional fields.
func Ptr[T any](v T) *T { return &v }
