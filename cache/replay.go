package cache

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"llmrouter/llm"
)

// cloneResponse deep-copies r so that a caller may modify the copy without
// touching the cached answer.
func cloneResponse(r *llm.Response) *llm.Response {
	c := *r
	c.Choices = slices.Clone(r.Choices)
	for i := range c.Choices {
		m := &c.Choices[i].Message
		m.Content.Parts = slices.Clone(m.Content.Parts)
		m.ToolCalls = slices.Clone(m.ToolCalls)
		for j := range m.ToolCalls {
			if m.ToolCalls[j].Index != nil {
				m.ToolCalls[j].Index = llm.Ptr(*m.ToolCalls[j].Index)
			}
		}
		if m.Refusal != nil {
			m.Refusal = llm.Ptr(*m.Refusal)
		}
		c.Choices[i].Logprobs = slices.Clone(c.Choices[i].Logprobs)
	}
	c.Usage = cloneUsage(r.Usage)
	return &c
}

func cloneUsage(u *llm.Usage) *llm.Usage {
	if u == nil {
		return nil
	}
	c := *u
	if u.PromptTokensDetails != nil {
		c.PromptTokensDetails = llm.Ptr(*u.PromptTokensDetails)
	}
	if u.CompletionTokensDetails != nil {
		c.CompletionTokensDetails = llm.Ptr(*u.CompletionTokensDetails)
	}
	return &c
}

// newID returns a fresh completion id for a replayed answer: a hit is a new
// completion as far as the client is concerned.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-cache-" + hex.EncodeToString(b[:])
}

// hitResponse returns a copy of cached with a fresh id and creation time.
func hitResponse(cached *llm.Response, now time.Time) *llm.Response {
	r := cloneResponse(cached)
	r.ID = newID()
	r.Created = now.Unix()
	return r
}

// contentPieces is how many chunks a replayed text is split into.
const contentPieces = 4

// replayChunks turns a whole answer into the chunk sequence a live OpenAI
// stream would have sent, choice by choice: a role chunk (content "", or
// no content when the answer is only tool calls), the
// reasoning and content text in a few pieces, each tool call as a chunk with
// index, id, type and name (arguments "") followed by its arguments, then a
// finish chunk with an empty delta; and last, when r has usage, a usage chunk
// with no choices. Only the usage chunk carries Usage.
func replayChunks(r *llm.Response) []*llm.Chunk {
	var out []*llm.Chunk
	mk := func(ch []llm.ChunkChoice) *llm.Chunk {
		return &llm.Chunk{ID: r.ID, Object: llm.ObjectChatCompletionChunk, Created: r.Created, Model: r.Model,
			Choices: ch, SystemFingerprint: r.SystemFingerprint, ServiceTier: r.ServiceTier}
	}
	one := func(idx int, d llm.Delta) *llm.Chunk {
		return mk([]llm.ChunkChoice{{Index: idx, Delta: d}})
	}
	for _, c := range r.Choices {
		m := c.Message
		role := m.Role
		if role == "" {
			role = "assistant"
		}
		text := m.Content.Text()
		first := llm.Delta{Role: role, Content: llm.Ptr("")}
		if text == "" && len(m.ToolCalls) > 0 {
			first.Content = nil // as OpenAI opens a tool-call answer: content null
		}
		out = append(out, one(c.Index, first))
		for _, p := range splitText(m.ReasoningContent, contentPieces) {
			out = append(out, one(c.Index, llm.Delta{ReasoningContent: llm.Ptr(p)}))
		}
		for _, p := range splitText(text, contentPieces) {
			out = append(out, one(c.Index, llm.Delta{Content: llm.Ptr(p)}))
		}
		if m.Refusal != nil && *m.Refusal != "" {
			out = append(out, one(c.Index, llm.Delta{Refusal: llm.Ptr(*m.Refusal)}))
		}
		for i, tc := range m.ToolCalls {
			out = append(out, one(c.Index, llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(i), ID: tc.ID, Type: tc.Type,
				Function: llm.ToolCallFunction{Name: tc.Function.Name, Arguments: ""}}}}))
			for _, p := range splitText(tc.Function.Arguments, contentPieces) {
				out = append(out, one(c.Index, llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(i),
					Function: llm.ToolCallFunction{Arguments: p}}}}))
			}
		}
		fin := one(c.Index, llm.Delta{})
		fin.Choices[0].FinishReason = llm.Ptr(c.FinishReason)
		out = append(out, fin)
	}
	if r.Usage != nil {
		u := mk([]llm.ChunkChoice{})
		u.Usage = cloneUsage(r.Usage)
		out = append(out, u)
	}
	return out
}

// splitText cuts s into at most n pieces of similar size on rune
// boundaries; "" gives no pieces.
func splitText(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := (len(s) + n - 1) / n
	out := make([]string, 0, n)
	for len(s) > 0 {
		cut := min(size, len(s))
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// errClosed is what Recv returns after Close: the consumer gave up, which is
// not a clean finish.
var errClosed = &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}

// replayStream is an llm.Stream over prepared chunks.
type replayStream struct {
	mu     sync.Mutex
	chunks []*llm.Chunk
	closed bool
}

func (s *replayStream) Recv() (*llm.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *replayStream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.chunks = nil
	s.mu.Unlock()
	return nil
}
