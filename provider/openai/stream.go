package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"llmrouter/llm"
	"llmrouter/provider/sse"
)

// stream is an llm.Stream over an OpenAI SSE body.
type stream struct {
	provider string
	r        *sse.Reader
	close    func() error
	pending  *llm.Chunk // the first chunk, read by Client.Stream
	err      error      // sticky: io.EOF after [DONE], or the failure
	once     sync.Once
	closed   atomic.Bool
	strs     chunkStrings // the last chunk's id and model, shared by the next
}

func newStream(provider string, body io.Reader, closeFn func() error) *stream {
	return &stream{provider: provider, r: sse.NewReader(body, maxEventBytes), close: closeFn}
}

// Recv returns the next chunk; io.EOF only after "data: [DONE]". A body
// that ends without [DONE], an in-stream error object or a malformed chunk
// is an *llm.Error (KindUpstreamError unless the transport said otherwise).
func (s *stream) Recv() (*llm.Chunk, error) {
	if c := s.pending; c != nil {
		s.pending = nil
		return c, nil
	}
	return s.next()
}

// Close releases the connection; idempotent and safe while Recv blocks.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.once.Do(func() { _ = s.close() })
	return nil
}

var doneMarker = []byte("[DONE]")

func (s *stream) next() (*llm.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		if s.closed.Load() {
			// Events still buffered are not handed out after Close.
			s.err = &llm.Error{Kind: llm.KindCanceled, Provider: s.provider, Message: "stream closed"}
			s.r.Release()
			return nil, s.err
		}
		ev, err := s.r.Next()
		if err != nil {
			s.err = s.readError(err)
			s.r.Release() // the stream is over: its buffer goes back to the pool
			return nil, s.err
		}
		c, err := parseChunkWith(s.provider, ev.Name, ev.Data, &s.strs)
		if err != nil {
			if err == io.EOF {
				s.err = io.EOF
				// A well-behaved upstream ends the body right after
				// [DONE]: read that end so the connection can be pooled.
				_, _ = s.r.Next()
				s.r.Release()
				s.Close()
			} else {
				s.err = err
				s.r.Release()
			}
			return nil, s.err
		}
		if c != nil {
			return c, nil
		}
	}
}

func (s *stream) readError(err error) error {
	var e *llm.Error
	switch {
	case errors.As(err, &e):
		return err
	case err == io.EOF:
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: s.provider, Message: "upstream stream ended without [DONE]"}
	case err == io.ErrUnexpectedEOF:
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: s.provider, Message: "upstream stream cut mid-event", Err: err}
	}
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: s.provider, Message: "unreadable upstream stream", Err: err}
}

// wireChunk is a chunk that may instead carry an error object.
type wireChunk struct {
	llm.Chunk
	Error *wireError `json:"error"`
}

// parseChunk decodes one event's data. It returns io.EOF for [DONE], (nil,
// nil) for a chunk to skip (no choices and no usage), or an *llm.Error for
// an error object or malformed JSON. Unknown fields are ignored.
func parseChunk(provider, event string, data []byte) (*llm.Chunk, error) {
	return parseChunkWith(provider, event, data, &chunkStrings{})
}

// parseChunkWith is parseChunk with a stream's string cache: the common
// chunk takes the allocation-light path, anything else encoding/json.
func parseChunkWith(provider, event string, data []byte, cs *chunkStrings) (*llm.Chunk, error) {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneMarker) {
		return nil, io.EOF
	}
	if event != "error" {
		if c, ok := parseChunkFast(data, cs); ok {
			if len(c.Choices) == 0 && c.Usage == nil {
				return nil, nil
			}
			return c, nil
		}
	}
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: provider, Message: "malformed upstream stream chunk", Err: err}
	}
	if w.Error != nil || event == "error" {
		e := &llm.Error{Kind: llm.KindUpstreamError, Provider: provider, Message: "upstream stream error"}
		if w.Error != nil {
			e.Code = rawString(w.Error.Code)
			if w.Error.Message != "" {
				e.Err = errors.New(w.Error.Message)
			}
			if w.Error.Type == "rate_limit_exceeded" || e.Code == llm.CodeRateLimitExceeded {
				e.Kind = llm.KindUpstreamRateLimited
			}
		}
		return nil, e
	}
	if len(w.Choices) == 0 && w.Usage == nil {
		return nil, nil
	}
	c := w.Chunk
	return &c, nil
}
