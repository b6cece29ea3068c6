package cache

import (
	"io"
	"slices"
	"strings"
	"sync"

	"llmrouter/llm"
)

// assembler rebuilds a whole Response from stream chunks: content, reasoning
// and refusal text, tool-call fragments keyed by index, finish reasons and
// usage.
type assembler struct {
	resp    llm.Response
	choices map[int]*choiceAcc
	tainted bool // saw something a replay could not reproduce (logprobs)
}

type choiceAcc struct {
	role      string
	content   strings.Builder
	reasoning strings.Builder
	refusal   strings.Builder
	hasRef    bool
	calls     map[int]*callAcc
	finish    *string
}

type callAcc struct {
	id, typ, name string
	args          strings.Builder
}

func (a *assembler) add(c *llm.Chunk) {
	if a.choices == nil {
		a.choices = make(map[int]*choiceAcc, 1)
	}
	if a.resp.ID == "" && c.ID != "" {
		a.resp.ID, a.resp.Created, a.resp.Model = c.ID, c.Created, c.Model
	}
	if a.resp.Model == "" {
		a.resp.Model = c.Model
	}
	if c.SystemFingerprint != "" {
		a.resp.SystemFingerprint = c.SystemFingerprint
	}
	if c.ServiceTier != "" {
		a.resp.ServiceTier = c.ServiceTier
	}
	if c.Usage != nil {
		a.resp.Usage = cloneUsage(c.Usage)
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		acc := a.choices[ch.Index]
		if acc == nil {
			acc = &choiceAcc{}
			a.choices[ch.Index] = acc
		}
		d := &ch.Delta
		if d.Role != "" {
			acc.role = d.Role
		}
		if d.Content != nil {
			acc.content.WriteString(*d.Content)
		}
		if d.ReasoningContent != nil {
			acc.reasoning.WriteString(*d.ReasoningContent)
		}
		if d.Refusal != nil {
			acc.hasRef = true
			acc.refusal.WriteString(*d.Refusal)
		}
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			idx := j
			if tc.Index != nil {
				idx = *tc.Index
			}
			if acc.calls == nil {
				acc.calls = make(map[int]*callAcc, 1)
			}
			ca := acc.calls[idx]
			if ca == nil {
				ca = &callAcc{}
				acc.calls[idx] = ca
			}
			if tc.ID != "" {
				ca.id = tc.ID
			}
			if tc.Type != "" {
				ca.typ = tc.Type
			}
			if tc.Function.Name != "" {
				ca.name = tc.Function.Name
			}
			ca.args.WriteString(tc.Function.Arguments)
		}
		if ch.FinishReason != nil {
			acc.finish = llm.Ptr(*ch.FinishReason)
		}
		if len(ch.Logprobs) > 0 && string(ch.Logprobs) != "null" {
			a.tainted = true
		}
		if len(d.ThinkingBlocks) > 0 {
			// Signed thinking (Anthropic) must come back whole on the next
			// turn; a replay rebuilt from text would lose the signatures.
			a.tainted = true
		}
	}
}

// response returns the assembled answer, or nil when it is not a complete
// answer of want choices that a replay could reproduce.
func (a *assembler) response(want int) *llm.Response {
	if a.tainted || len(a.choices) != want {
		return nil
	}
	r := a.resp
	r.Object = llm.ObjectChatCompletion
	idx := make([]int, 0, len(a.choices))
	for i := range a.choices {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		acc := a.choices[i]
		if acc.finish == nil {
			return nil
		}
		role := acc.role
		if role == "" {
			role = "assistant"
		}
		m := llm.Message{Role: role, Content: llm.TextContent(acc.content.String()), ReasoningContent: acc.reasoning.String()}
		if acc.hasRef {
			m.Refusal = llm.Ptr(acc.refusal.String())
		}
		if len(acc.calls) > 0 {
			if acc.content.Len() == 0 {
				m.Content = llm.Content{} // null, as OpenAI sends with tool calls
			}
			ci := make([]int, 0, len(acc.calls))
			for k := range acc.calls {
				ci = append(ci, k)
			}
			slices.Sort(ci)
			for _, k := range ci {
				ca := acc.calls[k]
				m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: ca.id, Type: ca.typ,
					Function: llm.ToolCallFunction{Name: ca.name, Arguments: ca.args.String()}})
			}
		}
		r.Choices = append(r.Choices, llm.Choice{Index: i, Message: m, FinishReason: *acc.finish})
	}
	return &r
}

// recordingStream passes an upstream stream through unchanged and, when it
// ends with io.EOF and a complete answer, hands the assembled Response to
// done exactly once. A stream that fails, or is closed before io.EOF, is
// never recorded.
type recordingStream struct {
	up   llm.Stream
	want int
	done func(*llm.Response)

	mu   sync.Mutex // guards asm, over (Recv is not concurrent, Close may be)
	asm  assembler
	over bool
}

func (s *recordingStream) Recv() (*llm.Chunk, error) {
	c, err := s.up.Recv()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return c, err
	}
	switch {
	case err == nil:
		s.asm.add(c)
	case err == io.EOF: // only a clean end counts; wrapped EOFs are truncations
		s.over = true
		if r := s.asm.response(s.want); r != nil {
			s.done(r)
		}
	default:
		s.over = true
	}
	return c, err
}

func (s *recordingStream) Close() error {
	s.mu.Lock()
	s.over = true
	s.mu.Unlock()
	return s.up.Close()
}
