package llm

// Wire APIs a client may speak besides Chat Completions (Native.API).
const (
	APIAnthropicMessages = "anthropic.messages"
	APIOpenAIResponses   = "openai.responses"
)

// Native is a request as the client sent it in a wire API other than
// Chat Completions. The edge decodes every API into the canonical Request;
// Native keeps the original so that a provider speaking the same API can
// forward what the canonical form does not model, untouched.
//
// A Request's Extra holds the top-level fields of the client's own API that
// the canonical form does not model; providers of another API must not
// forward Extra when Native is set.
type Native struct {
	// API is APIAnthropicMessages or APIOpenAIResponses.
	API string
	// Body is the client's request body, owned (copied off the server's
	// buffers). Must not be modified.
	Body []byte
	// Messages is how many canonical messages the edge decoded from Body.
	// A layer that appends messages (a stream continuation's prefill)
	// leaves len(Request.Messages) > Messages; providers forward those
	// extra messages after the native ones.
	Messages int
	// Version and Beta are the client's anthropic-version and
	// anthropic-beta headers, "" when absent.
	Version, Beta string
}

// ThinkingBlock is an Anthropic thinking or redacted_thinking block.
type ThinkingBlock struct {
	Type      string `json:"type"` // "thinking" or "redacted_thinking"
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"` // redacted_thinking only
}

// NativeAPI returns r.Native.API, or "" for a Chat Completions request.
func (r *Request) NativeAPI() string {
	if r == nil || r.Native == nil {
		return ""
	}
	return r.Native.API
}
