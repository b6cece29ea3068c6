package simulator

import (
	"context"
	"io"
	"sync"
	"time"

	"llmrouter/llm"
)

// stream replays a reply chunk by chunk. Recv must not be called
// concurrently with itself; Close may be called from any goroutine.
type stream struct {
	ctx     context.Context // bounds the whole stream, as llm.Completer.Stream says
	c       *Client
	model   string
	a       *reply
	created int64
	chunks  []*llm.Chunk // built up front; Recv paces them out
	next    int
	sent    bool // some content chunk was returned

	closeOnce sync.Once
	done      chan struct{}
}

func newStream(ctx context.Context, c *Client, model string, a *reply) *stream {
	s := &stream{ctx: ctx, c: c, model: model, a: a, created: time.Now().Unix(), done: make(chan struct{})}
	s.build()
	return s
}

// build lays out the chunks: role, content (or tool-call fragments), finish,
// usage.
func (s *stream) build() {
	first := llm.Delta{Role: "assistant"}
	if len(s.a.calls) == 0 {
		first.Content = llm.Ptr("")
	}
	s.add(first, nil)
	for _, p := range s.a.pieces {
		s.add(llm.Delta{Content: llm.Ptr(p)}, nil)
	}
	for i, call := range s.a.calls {
		head := call
		head.Index = llm.Ptr(i)
		head.Function.Arguments = ""
		s.add(llm.Delta{ToolCalls: []llm.ToolCall{head}}, nil)
		for _, frag := range fragments(call.Function.Arguments, 3) {
			s.add(llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(i), Function: llm.ToolCallFunction{Arguments: frag}}}}, nil)
		}
	}
	s.add(llm.Delta{}, llm.Ptr(s.a.finish))
	s.chunks = append(s.chunks, &llm.Chunk{
		ID: s.a.id, Object: llm.ObjectChatCompletionChunk, Created: s.created, Model: s.model,
		Choices: []llm.ChunkChoice{}, Usage: s.a.usage(1),
	})
}

func (s *stream) add(d llm.Delta, finish *string) {
	s.chunks = append(s.chunks, &llm.Chunk{
		ID: s.a.id, Object: llm.ObjectChatCompletionChunk, Created: s.created, Model: s.model,
		Choices: []llm.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}},
	})
}

// Recv returns the next chunk after the simulated token interval, io.EOF
// after the usage chunk, or an *llm.Error when ctx ends or the stream was
// closed.
func (s *stream) Recv() (*llm.Chunk, error) {
	select {
	case <-s.done:
		return nil, errClosed
	default:
	}
	if s.next >= len(s.chunks) {
		return nil, io.EOF
	}
	ch := s.chunks[s.next]
	// The role chunk and the first token arrive together after the time to
	// first token (already waited in Stream); later tokens are paced.
	if s.next > 1 && isToken(ch) {
		if err := sleep(s.ctx, s.done, s.c.tokenInterval()); err != nil {
			if err == errClosed {
				return nil, errClosed
			}
			return nil, s.c.ctxError(err, s.sent)
		}
	} else if err := s.ctx.Err(); err != nil {
		return nil, s.c.ctxError(err, s.sent)
	}
	s.next++
	if isToken(ch) {
		s.sent = true
	}
	return ch, nil
}

// Close ends the stream; it is idempotent and unblocks a pending Recv.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

func isToken(ch *llm.Chunk) bool {
	if len(ch.Choices) == 0 {
		return false
	}
	d := &ch.Choices[0].Delta
	return (d.Content != nil && *d.Content != "") || len(d.ToolCalls) > 0
}

// fragments splits s into at most n non-empty consecutive parts.
func fragments(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := (len(s) + n - 1) / n
	var out []string
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}
