package llm

import "strconv"

// Default request limits (see Limits). They sit far above what any real
// client sends and far below what would hurt the process.
const (
	DefaultMaxN            = 16
	DefaultMaxOutputTokens = 131072
	DefaultMaxMessages     = 4096
	DefaultMaxTools        = 128
	DefaultMaxStop         = 4
	DefaultMaxStopBytes    = 1024
	DefaultMaxContentParts = 1024
	DefaultMaxToolCalls    = 256
)

// Limits bound every number in a request that sizes an allocation somewhere
// below the edge (choices, generated tokens, per-message work, per-tool and
// per-stop-string work). Every inbound codec (Chat Completions, Messages,
// Responses) checks its decoded request with the same Limits, so one table
// in the config reference governs them all. A zero field takes its
// Default*; a negative field disables that check (tests only).
type Limits struct {
	MaxN            int // choices per request ("n"); default 16
	MaxOutputTokens int // max_tokens / max_completion_tokens; default 131072
	MaxMessages     int // messages per request; default 4096
	MaxTools        int // tool definitions per request; default 128
	MaxStop         int // stop strings; default 4 (OpenAI's own limit)
	MaxStopBytes    int // bytes of one stop string; default 1024
	MaxContentParts int // content parts of one message; default 1024
	MaxToolCalls    int // tool calls of one assistant message; default 256
}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&l.MaxN, DefaultMaxN)
	def(&l.MaxOutputTokens, DefaultMaxOutputTokens)
	def(&l.MaxMessages, DefaultMaxMessages)
	def(&l.MaxTools, DefaultMaxTools)
	def(&l.MaxStop, DefaultMaxStop)
	def(&l.MaxStopBytes, DefaultMaxStopBytes)
	def(&l.MaxContentParts, DefaultMaxContentParts)
	def(&l.MaxToolCalls, DefaultMaxToolCalls)
	return l
}

// Check returns a KindInvalidRequest *Error (code "limit_exceeded") naming
// the first parameter of r over a limit, or nil. Check does not apply
// defaults: call it on WithDefaults' result; a field <= 0 is unlimited. It
// reads r only and allocates only when it fails.
func (l *Limits) Check(r *Request) *Error {
	over := func(v, max int) bool { return max > 0 && v > max }
	switch {
	case r.N != nil && over(*r.N, l.MaxN):
		return limitError("n", "n", l.MaxN)
	case r.MaxTokens != nil && over(*r.MaxTokens, l.MaxOutputTokens):
		return limitError("max_tokens", "max_tokens", l.MaxOutputTokens)
	case r.MaxCompletionTokens != nil && over(*r.MaxCompletionTokens, l.MaxOutputTokens):
		return limitError("max_completion_tokens", "max_completion_tokens", l.MaxOutputTokens)
	case over(len(r.Messages), l.MaxMessages):
		return limitError("messages", "the number of messages", l.MaxMessages)
	case over(len(r.Tools), l.MaxTools):
		return limitError("tools", "the number of tools", l.MaxTools)
	case over(len(r.Stop), l.MaxStop):
		return limitError("stop", "the number of stop strings", l.MaxStop)
	}
	for i, s := range r.Stop {
		if over(len(s), l.MaxStopBytes) {
			return limitError("stop["+strconv.Itoa(i)+"]", "a stop string's length in bytes", l.MaxStopBytes)
		}
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if over(len(m.Content.Parts), l.MaxContentParts) {
			return limitError("messages["+strconv.Itoa(i)+"].content", "the number of content parts", l.MaxContentParts)
		}
		if over(len(m.ToolCalls), l.MaxToolCalls) {
			return limitError("messages["+strconv.Itoa(i)+"].tool_calls", "the number of tool calls", l.MaxToolCalls)
		}
	}
	return nil
}

func limitError(param, what string, max int) *Error {
	return &Error{Kind: KindInvalidRequest, Param: param, Code: "limit_exceeded",
		Message: what + " is over this proxy's limit of " + strconv.Itoa(max)}
}
