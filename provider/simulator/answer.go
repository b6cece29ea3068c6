package simulator

import (
	"crypto/sha256"
	"encoding/json"
	"sort"
	"strings"

	"llmrouter/llm"
)

// reply is the simulated answer to one request.
type reply struct {
	id     string
	pieces []string       // content tokens in order (words with their trailing space)
	calls  []llm.ToolCall // set instead of pieces when the model calls a tool
	finish string
	prompt int // estimated prompt tokens
	output int // estimated completion tokens
}

func (a *reply) text() string { return strings.Join(a.pieces, "") }

func (a *reply) usage(n int) *llm.Usage {
	return &llm.Usage{PromptTokens: a.prompt, CompletionTokens: a.output * n, TotalTokens: a.prompt + a.output*n}
}

var fillers = [...]string{
	"This answer comes from the llmrouter simulator, not from a real model.",
	"No network call was made to produce it.",
	"The same request always gets the same words.",
	"Latency and failures are simulated from the provider's configuration.",
	"Point the provider at a real upstream to get real answers.",
	"Token counts are estimated at about four characters per token.",
	"Streaming sends one word per chunk.",
	"Use it to try routing, caching and failover offline.",
}

// answer builds the deterministic reply to req. The answer's text is
// "[simulated <model>] " followed by a body that depends only on the
// conversation, so every simulated model answers the same body; a request
// ending in an assistant message (a prefill) gets only the rest of it.
func answer(req *llm.Request) *reply {
	a := &reply{prompt: promptTokens(req), finish: llm.FinishStop}
	last := req.Messages[len(req.Messages)-1]
	prefill := ""
	if last.Role == "assistant" && len(last.ToolCalls) == 0 {
		prefill = last.Content.Text()
	}
	a.id = hexID("chatcmpl-sim-", req.Model, conversationKey(req))

	if prefill == "" {
		if call, ok := toolCall(req); ok {
			a.calls = []llm.ToolCall{call}
			a.finish = llm.FinishToolCalls
			a.output = estimateTokens(call.Function.Name) + estimateTokens(call.Function.Arguments)
			return a
		}
	}

	tag := "[simulated " + req.Model + "] "
	full := tag + body(req)
	var rest string
	switch {
	case prefill == "":
		rest = full
	case strings.HasPrefix(full, prefill):
		rest = full[len(prefill):]
	default:
		// The prefill came from another model: continue the body after the
		// part already written, whatever tag that model used.
		b := body(req)
		written := stripTag(prefill)
		if strings.HasPrefix(b, written) {
			rest = b[len(written):]
		} else {
			rest = " " + b
		}
	}
	a.pieces = splitWords(rest)
	if limit := req.MaxOutputTokens(); limit > 0 && len(a.pieces) > limit {
		a.pieces = a.pieces[:limit]
		a.finish = llm.FinishLength
	}
	a.output = len(a.pieces)
	return a
}

// body is the model-independent part of the answer.
func body(req *llm.Request) string {
	var b strings.Builder
	if m := lastNonAssistant(req); m != nil && m.Role == "tool" {
		b.WriteString("The tool returned: \"")
		b.WriteString(snippet(m.Content.Text(), 16))
		b.WriteString("\".")
	} else {
		q := snippet(req.LastUserText(), 12)
		if q == "" {
			b.WriteString("Hello.")
		} else {
			b.WriteString("You asked: \"")
			b.WriteString(q)
			b.WriteString("\".")
		}
	}
	h := hash64(conversationKey(req))
	for i := 0; i < 2; i++ {
		b.WriteByte(' ')
		b.WriteString(fillers[(h>>(8*i))%uint64(len(fillers))])
	}
	return b.String()
}

// stripTag removes a leading "[simulated ...] " from s.
func stripTag(s string) string {
	if strings.HasPrefix(s, "[simulated ") {
		if i := strings.Index(s, "] "); i >= 0 {
			return s[i+2:]
		}
	}
	return s
}

// splitWords splits s into words that keep their trailing spaces, so that
// joining the pieces gives s back exactly.
func splitWords(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		out = append(out, s[:j])
		s = s[j:]
	}
	return out
}

// snippet returns the first n words of s, single-spaced.
func snippet(s string, n int) string {
	f := make([]string, 0, n+1)
	for w := range strings.FieldsSeq(s) { // O(n) memory, not O(len(s))
		if len(f) == n {
			f = append(f, "...")
			break
		}
		f = append(f, w)
	}
	return strings.Join(f, " ")
}

func lastNonAssistant(req *llm.Request) *llm.Message {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role != "assistant" {
			return &req.Messages[i]
		}
	}
	return nil
}

// conversationKey is a digest of the request's conversation without a
// trailing assistant prefill, for hashing. It costs O(1) memory however
// long the conversation.
func conversationKey(req *llm.Request) string {
	msgs := req.Messages
	if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" && len(msgs[n-1].ToolCalls) == 0 {
		msgs = msgs[:n-1]
	}
	h := sha256.New()
	var buf [4096]byte
	write := func(s string) {
		for len(s) > 0 {
			n := copy(buf[:], s)
			h.Write(buf[:n])
			s = s[n:]
		}
	}
	for _, m := range msgs {
		write(m.Role)
		write("\x00")
		write(m.Content.Text())
		write("\x00")
		for _, tc := range m.ToolCalls {
			write(tc.Function.Name)
			write(tc.Function.Arguments)
		}
	}
	return string(h.Sum(nil))
}

// toolCall decides whether the model calls a tool and builds the call:
// tool_choice "required" or a named function always call; "none" never;
// "auto" (or absent) calls the first tool when the conversation ends with
// a user message (after a tool result the model answers in text).
func toolCall(req *llm.Request) (llm.ToolCall, bool) {
	if len(req.Tools) == 0 {
		return llm.ToolCall{}, false
	}
	tool := &req.Tools[0]
	choice := strings.TrimSpace(string(req.ToolChoice))
	switch {
	case choice == `"none"`:
		return llm.ToolCall{}, false
	case strings.HasPrefix(choice, "{"):
		var named struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(req.ToolChoice, &named) == nil {
			for i := range req.Tools {
				if req.Tools[i].Function.Name == named.Function.Name {
					tool = &req.Tools[i]
				}
			}
		}
	case choice == `"required"`:
	default: // auto
		if req.Messages[len(req.Messages)-1].Role != "user" {
			return llm.ToolCall{}, false
		}
	}
	name := tool.Function.Name
	args := arguments(tool.Function.Parameters, snippet(req.LastUserText(), 5))
	return llm.ToolCall{
		ID:       hexID("call_sim_", name, conversationKey(req))[:24],
		Type:     "function",
		Function: llm.ToolCallFunction{Name: name, Arguments: args},
	}, true
}

// arguments builds a JSON object that fits the schema's top-level
// properties: the first enum value, else a value of the declared type
// (strings get text, a snippet of the user's message).
func arguments(schema json.RawMessage, text string) string {
	var s struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s) // a schema we cannot read gets "{}"
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	obj := make(map[string]any, len(names))
	for _, n := range names {
		p := s.Properties[n]
		if len(p.Enum) > 0 {
			obj[n] = p.Enum[0]
			continue
		}
		typ, _ := p.Type.(string)
		if l, ok := p.Type.([]any); ok && len(l) > 0 {
			typ, _ = l[0].(string)
		}
		switch typ {
		case "integer", "number":
			obj[n] = 1
		case "boolean":
			obj[n] = true
		case "array":
			obj[n] = []any{}
		case "object":
			obj[n] = map[string]any{}
		case "null":
			obj[n] = nil
		default:
			if text == "" {
				text = "simulated"
			}
			obj[n] = text
		}
	}
	b, _ := json.Marshal(obj) // map keys are marshalled sorted
	return string(b)
}

// promptTokens estimates the prompt's tokens: about four characters per
// token, plus a few per message, as chat formats add.
func promptTokens(req *llm.Request) int {
	n := 3
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 4 + estimateTokens(m.Content.Text())
		for _, tc := range m.ToolCalls {
			n += estimateTokens(tc.Function.Name) + estimateTokens(tc.Function.Arguments)
		}
	}
	for i := range req.Tools {
		f := &req.Tools[i].Function
		n += 8 + estimateTokens(f.Name) + estimateTokens(f.Description) + estimateTokens(string(f.Parameters))
	}
	return n
}

// estimateTokens is about one token per four characters, at least one per
// word.
func estimateTokens(s string) int {
	if s == "" {
		return 0
	}
	words, inWord := 0, false
	for i := 0; i < len(s); i++ {
		space := s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'
		if !space && !inWord {
			words++
		}
		inWord = !space
	}
	return max((len(s)+3)/4, words)
}
