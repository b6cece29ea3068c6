package router

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"llmrouter/llm"
)

// fake is a Completer-level fault double. Its behaviour is a pair of
// functions; calls counts the upstream calls it received (Complete, Stream
// and Embed alike).
type fake struct {
	name     string
	calls    atomic.Int64
	complete func(ctx context.Context, req *llm.Request) (*llm.Response, error)
	stream   func(ctx context.Context, req *llm.Request) (llm.Stream, error)

	mu   sync.Mutex
	reqs []*llm.Request // copies of the requests seen
}

func (f *fake) record(req *llm.Request) {
	f.calls.Add(1)
	r2 := *req
	r2.Messages = append([]llm.Message(nil), req.Messages...)
	f.mu.Lock()
	f.reqs = append(f.reqs, &r2)
	f.mu.Unlock()
}

func (f *fake) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	f.record(req)
	return f.complete(ctx, req)
}

func (f *fake) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	f.record(req)
	return f.stream(ctx, req)
}

func (f *fake) n() int { return int(f.calls.Load()) }

func (f *fake) lastReq() *llm.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return nil
	}
	return f.reqs[len(f.reqs)-1]
}

// embedFake adds llm.Embedder to a fake.
type embedFake struct {
	*fake
	embed func(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error)
}

func (f *embedFake) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	f.calls.Add(1)
	return f.embed(ctx, req)
}

func failing(name string, e func() *llm.Error) *fake {
	return &fake{name: name,
		complete: func(context.Context, *llm.Request) (*llm.Response, error) { return nil, e() },
		stream:   func(context.Context, *llm.Request) (llm.Stream, error) { return nil, e() },
	}
}

// Answers replies with text: whole for Complete, word by word for Stream.
func Answers(name, text string) *fake {
	return &fake{name: name,
		complete: func(_ context.Context, req *llm.Request) (*llm.Response, error) {
			return response(req.Model, text), nil
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			return newScript(ctx, req.Model, words(text), endEOF, nil), nil
		},
	}
}

// AlwaysFails500 answers every call with an upstream 500.
func AlwaysFails500(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: name, Status: 500, Message: "internal server error"}
	})
}

// RejectsOurKey answers 401 (our provider key is wrong).
func RejectsOurKey(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: name, Status: 401, Message: "invalid api key"}
	})
}

// RateLimitedWithRetryAfter answers 429 with Retry-After d.
func RateLimitedWithRetryAfter(name string, d time.Duration) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindUpstreamRateLimited, Provider: name, Status: 429, RetryAfter: d,
			Code: llm.CodeRateLimitExceeded, Message: "rate limit reached"}
	})
}

// RateLimitedForever answers 429 without Retry-After.
func RateLimitedForever(name string) *fake { return RateLimitedWithRetryAfter(name, 0) }

// PoolFull reports local pool exhaustion (fasthttp ErrNoFreeConns).
func PoolFull(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindOverloaded, Provider: name, Message: "no free connections"}
	})
}

// RefusesConnections fails at once like a dial to a closed port.
func RefusesConnections(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: name, Message: "upstream connection failed",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	})
}

// ContextTooLong rejects the prompt as longer than the model's window.
func ContextTooLong(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindInvalidRequest, Provider: name, Status: 400, Param: "messages",
			Code: llm.CodeContextLengthExceeded, Message: "this model's maximum context length is 8192 tokens"}
	})
}

// ContentPolicyReject rejects the prompt under the provider's content policy.
func ContentPolicyReject(name string) *fake {
	return failing(name, func() *llm.Error {
		return &llm.Error{Kind: llm.KindInvalidRequest, Provider: name, Status: 400,
			Code: llm.CodeContentFilter, Message: "the prompt was flagged by the content policy"}
	})
}

// HangsBeforeHeaders never answers; it returns only when ctx ends, like a
// transport whose header timeout is longer than the router's.
func HangsBeforeHeaders(name string) *fake {
	wait := func(ctx context.Context) error {
		<-ctx.Done()
		return &llm.Error{Kind: llm.KindTimeout, Provider: name, Message: "no response headers", Err: ctx.Err()}
	}
	return &fake{name: name,
		complete: func(ctx context.Context, _ *llm.Request) (*llm.Response, error) { return nil, wait(ctx) },
		stream:   func(ctx context.Context, _ *llm.Request) (llm.Stream, error) { return nil, wait(ctx) },
	}
}

// SlowFirstToken answers after delay: Complete waits delay; Stream sends
// its role chunk at once and the first content after delay.
func SlowFirstToken(name, text string, delay time.Duration) *fake {
	return &fake{name: name,
		complete: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			select {
			case <-time.After(delay):
				return response(req.Model, text), nil
			case <-ctx.Done():
				return nil, &llm.Error{Kind: llm.KindTimeout, Provider: name, Message: "timeout", Err: ctx.Err()}
			}
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			return newScript(ctx, req.Model, words(text), endEOF, map[int]time.Duration{1: delay}), nil
		},
	}
}

// CutsStreamMidAnswer streams the first cutAfter words of text, then the
// connection drops (Complete: fails like a reset).
func CutsStreamMidAnswer(name, text string, cutAfter int) *fake {
	return streamFault(name, text, cutAfter, endCut)
}

// StallsMidStream streams the first after words, then sends nothing more.
func StallsMidStream(name, text string, after int) *fake {
	return streamFault(name, text, after, endStall)
}

// MalformedChunk streams the first after words, then a chunk that is not JSON.
func MalformedChunk(name, text string, after int) *fake {
	return streamFault(name, text, after, endMalformed)
}

// NoDoneMarker streams the whole answer and its finish, then the
// connection closes without [DONE].
func NoDoneMarker(name, text string) *fake {
	return &fake{name: name,
		complete: func(_ context.Context, req *llm.Request) (*llm.Response, error) {
			return response(req.Model, text), nil
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			return newScript(ctx, req.Model, words(text), endNoDone, nil), nil
		},
	}
}

func streamFault(name, text string, after int, end scriptEnd) *fake {
	return &fake{name: name,
		complete: func(context.Context, *llm.Request) (*llm.Response, error) {
			return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: name, Message: "connection reset"}
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			w := words(text)
			return newScript(ctx, req.Model, w[:min(after, len(w))], end, nil), nil
		},
	}
}

// DownThenUp fails with 503 while down is set, then answers text.
type downThenUp struct {
	*fake
	down atomic.Bool
}

func DownThenUp(name, text string) *downThenUp {
	d := &downThenUp{}
	ok := Answers(name, text)
	fail := AlwaysFails500(name)
	d.fake = &fake{name: name,
		complete: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			if d.down.Load() {
				return fail.complete(ctx, req)
			}
			return ok.complete(ctx, req)
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			if d.down.Load() {
				return fail.stream(ctx, req)
			}
			return ok.stream(ctx, req)
		},
	}
	d.down.Store(true)
	return d
}

// ContinuesPrefill behaves like a model honouring an assistant prefill: it
// streams the part of full that follows the prefill (all of full without
// one) and reports usage.
func ContinuesPrefill(name, full string) *fake {
	return &fake{name: name,
		complete: func(_ context.Context, req *llm.Request) (*llm.Response, error) {
			return response(req.Model, full), nil
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			rest := full
			if last := req.Messages[len(req.Messages)-1]; last.Role == "assistant" {
				p := last.Content.Text()
				if !strings.HasPrefix(full, p) {
					return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "prefill is not a prefix"}
				}
				rest = full[len(p):]
			}
			return newScript(ctx, req.Model, words(rest), endEOF, nil), nil
		},
	}
}

func response(model, text string) *llm.Response {
	return &llm.Response{ID: "chatcmpl-1", Object: llm.ObjectChatCompletion, Model: model,
		Choices: []llm.Choice{{Message: llm.Message{Role: "assistant", Content: llm.TextContent(text)},
			FinishReason: llm.FinishStop}},
		Usage: &llm.Usage{PromptTokens: 10, CompletionTokens: len(words(text)), TotalTokens: 10 + len(words(text))}}
}

// words splits text into pieces that concatenate back to text.
func words(text string) []string {
	var out []string
	for len(text) > 0 {
		i := strings.IndexByte(text[1:], ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

type scriptEnd int

const (
	endEOF         scriptEnd = iota // finish chunk, usage chunk, io.EOF
	endCut                          // error: connection reset mid-stream
	endStall                        // blocks until Close or ctx
	endMalformed                    // error: malformed chunk
	endNoDone                       // finish chunk, then error: no [DONE]
	endEOFNoFinish                  // io.EOF with no finish chunk (a truncated body)
)

// script is a scripted provider stream: a role chunk, one chunk per piece
// (delays[i] before piece i-1, counting the role chunk as 0), then its end.
type script struct {
	ctx    context.Context
	model  string
	events []*llm.Chunk
	delays map[int]time.Duration
	end    scriptEnd
	i      int
	closed chan struct{}
	once   sync.Once
}

func newScript(ctx context.Context, model string, pieces []string, end scriptEnd, delays map[int]time.Duration) *script {
	s := &script{ctx: ctx, model: model, end: end, delays: delays, closed: make(chan struct{})}
	mk := func(d llm.Delta, fin *string) *llm.Chunk {
		return &llm.Chunk{ID: "chatcmpl-" + model, Object: llm.ObjectChatCompletionChunk, Model: model,
			Choices: []llm.ChunkChoice{{Delta: d, FinishReason: fin}}}
	}
	s.events = append(s.events, mk(llm.Delta{Role: "assistant", Content: llm.Ptr("")}, nil))
	for _, p := range pieces {
		s.events = append(s.events, mk(llm.Delta{Content: llm.Ptr(p)}, nil))
	}
	if end == endEOF || end == endNoDone {
		s.events = append(s.events, mk(llm.Delta{}, llm.Ptr(llm.FinishStop)))
	}
	if end == endEOF {
		s.events = append(s.events, &llm.Chunk{ID: "chatcmpl-" + model, Object: llm.ObjectChatCompletionChunk,
			Model: model, Choices: []llm.ChunkChoice{},
			Usage: &llm.Usage{PromptTokens: 10, CompletionTokens: len(pieces), TotalTokens: 10 + len(pieces)}})
	}
	return s
}

func (s *script) wait(d time.Duration) error {
	var tc <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-tc:
		return nil
	case <-s.closed:
		return &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}
	case <-s.ctx.Done():
		return llm.AsError(s.ctx.Err())
	}
}

func (s *script) Recv() (*llm.Chunk, error) {
	select {
	case <-s.closed:
		return nil, &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}
	default:
	}
	if d, ok := s.delays[s.i]; ok && d > 0 {
		if err := s.wait(d); err != nil {
			return nil, err
		}
	}
	if s.i < len(s.events) {
		c := *s.events[s.i]
		c.Choices = append([]llm.ChunkChoice(nil), c.Choices...)
		s.i++
		return &c, nil
	}
	switch s.end {
	case endCut:
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "connection reset by peer"}
	case endMalformed:
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "malformed chunk: invalid character 'x'"}
	case endNoDone:
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "stream ended without [DONE]"}
	case endStall:
		return nil, s.wait(-1)
	}
	return nil, io.EOF
}

func (s *script) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
