package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

var (
	sseData      = []byte("data: ")
	sseDone      = []byte("data: [DONE]\n\n")
	sseHeartbeat = []byte(": keep-alive\n\n")
)

// recvWaitLimit bounds how long a finished stream writer waits for its Recv
// goroutine after Close; a Stream that ignores Close is a bug we log.
const recvWaitLimit = 5 * time.Second

// chunkEncoder writes one upstream chunk in a route's client format.
type chunkEncoder interface {
	// writeChunk writes c as one SSE event to w and reports whether it
	// wrote anything. The usage-only chunk is written only if wantUsage.
	writeChunk(w *bufio.Writer, enc *json.Encoder, c *llm.Chunk, wantUsage bool) (bool, error)
}

// chatEncoder writes chat.completion.chunk events as they came.
type chatEncoder struct{}

func (chatEncoder) writeChunk(w *bufio.Writer, enc *json.Encoder, c *llm.Chunk, wantUsage bool) (bool, error) {
	if len(c.Choices) == 0 && (c.Usage == nil || !wantUsage) {
		return false, nil
	}
	if c.Encodings != nil && (c.Usage == nil || wantUsage) {
		if ok, err := writeMemoisedEvent(w, c); ok {
			return true, err
		}
	}
	if c.Usage != nil && !wantUsage {
		cp := *c
		cp.Usage = nil
		c = &cp
	}
	// The common chunk is appended straight into the writer's free buffer:
	// no reflection, no allocation (when events are coalesced, a nearly
	// full buffer is written out first so the append does not grow it).
	if w.Available() < 1024 && w.Buffered() > 0 {
		if err := w.Flush(); err != nil {
			return false, err
		}
	}
	b := append(w.AvailableBuffer(), sseData...)
	if b, ok := appendChatChunk(b, c); ok {
		_, err := w.Write(append(b, "\n\n"...))
		return true, err
	}
	return true, writeEvent(w, enc, c)
}

// writeMemoisedEvent writes c's memoised SSE event (the bytes writeEvent
// writes for c, checked by NewTemplate) with c's id and created, and
// reports whether it could.
func writeMemoisedEvent(w *bufio.Writer, c *llm.Chunk) (bool, error) {
	t, ok := c.Encodings.Template(llm.ShapeChatSSE, func(id string, created int64) ([]byte, error) {
		cp := *c
		cp.ID, cp.Created = id, created
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		if err := writeEvent(bw, enc, &cp); err != nil {
			return nil, err
		}
		err := bw.Flush()
		return b.Bytes(), err
	})
	if !ok {
		return false, nil
	}
	b, ok := t.Append(w.AvailableBuffer(), c.ID, c.Created)
	if !ok {
		return false, nil
	}
	_, err := w.Write(b)
	return true, err
}

// streamFramer is implemented by the encoders of wire APIs whose streams
// end, fail and idle differently from Chat Completions ([DONE], an OpenAI
// error event, an SSE comment).
type streamFramer interface {
	// done writes the end of a complete stream.
	done(w *bufio.Writer) error
	// fail writes the event that ends a failed stream.
	fail(w *bufio.Writer, e *llm.Error) error
	// heartbeat is the event written on an idle stream.
	heartbeat() []byte
}

// writeEvent writes "data: <json>\n\n".
func writeEvent(w *bufio.Writer, enc *json.Encoder, v any) error {
	w.Write(sseData)
	if err := enc.Encode(v); err != nil { // Encode adds one "\n"
		return err
	}
	_, err := w.WriteString("\n")
	return err
}

type recvResult struct {
	chunk *llm.Chunk
	err   error
}

// streamChat starts the upstream stream and, once it has its first event,
// answers with SSE headers and hands the body to a stream writer. An error
// before that point is an ordinary HTTP error. It returns false when the
// stream writer owns the rest of the exchange.
func (s *Server) streamChat(ctx *fasthttp.RequestCtx, x *exchange, r *llm.Request, enc chunkEncoder) bool {
	sctx, cancel := s.budget(x, true)
	st, err := s.completer.Stream(sctx, r)
	mv := x.meta.Values()
	setMetaHeaders(&ctx.Response.Header, &mv)
	if err != nil {
		cancel()
		return s.fail(ctx, x, llm.AsError(err))
	}
	h := &ctx.Response.Header
	h.SetContentTypeBytes(contentTypeSSE)
	h.SetBytesKV(hdrCacheControl, valNoCache)
	h.SetBytesKV(hdrConnection, valKeepAlive)
	h.SetBytesKV(hdrAccelBuffering, valNo)
	// The server's WriteTimeout is for unary answers; a stream may write
	// for its whole budget. The server restores WriteTimeout on the next
	// request of the connection (it is > 0 by setDefaults).
	_ = ctx.SetWriteDeadline(time.Now().Add(s.o.StreamTimeout + streamWriteGrace))
	x.status = fasthttp.StatusOK
	wantUsage := r.WantsUsage()
	s.streams.Add(1)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		s.pump(w, sctx, cancel, st, x, enc, wantUsage)
	})
	return false
}

// pump copies the stream to the client until io.EOF ([DONE]), an error (an
// SSE error event, no [DONE]), the budget, or a failed write (the client is
// gone). It always closes the stream, cancels its context, waits for its
// Recv goroutine and finishes the exchange. It runs on fasthttp's stream
// writer goroutine and touches no RequestCtx.
func (s *Server) pump(w *bufio.Writer, sctx context.Context, cancel context.CancelFunc, st llm.Stream,
	x *exchange, enc chunkEncoder, wantUsage bool) {
	results := make(chan recvResult)
	stop := make(chan struct{})
	exited := make(chan struct{})
	_, relay := llm.StartSpan(sctx, llm.SpanStreamRelay)
	go func() { // owner: this pump; exits on a Recv error or on stop
		defer close(exited)
		for {
			c, err := s.recv(st, x)
			select {
			case results <- recvResult{c, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			pe := llm.Recovered(v)
			s.logPanic("stream", x, pe)
			s.midStreamError(w, x, enc, pe)
		}
		close(stop)
		_ = st.Close()
		cancel()
		t := time.NewTimer(recvWaitLimit)
		select {
		case <-exited:
		case <-t.C:
			s.log.Error("stream Recv did not return after Close; goroutine leaked", slog.String("request_id", x.requestID))
		}
		t.Stop()
		if relay.Recording() {
			relay.SetInt("llmrouter.events", int64(x.events))
			relay.SetFloat("llmrouter.ttft_ms", float64(x.ttft.Microseconds())/1000)
		}
		relay.SetError(x.err)
		relay.End()
		s.release()
		s.finish(x)
		s.streams.Done()
	}()

	jenc := json.NewEncoder(w)
	jenc.SetEscapeHTML(false)
	events := s.m.streamEvents.WithLabelValues(x.route, "chunk")
	beat := sseHeartbeat
	if f, ok := enc.(streamFramer); ok {
		beat = f.heartbeat()
	}
	// The heartbeat timer is not reset per event: when it fires on a
	// stream that was active meanwhile, it is re-armed for the rest of the
	// interval since the last event.
	every := s.o.HeartbeatInterval
	hb := time.NewTimer(every)
	defer hb.Stop()
	last := time.Now()
	// With coalescing, events after the first are written to w and flushed
	// by the flush timer (or by the next done, error or heartbeat event).
	coalesce := s.o.StreamCoalesce
	var flushT *time.Timer
	var flushC <-chan time.Time
	defer func() {
		if flushT != nil {
			flushT.Stop()
		}
	}()
	for {
		select {
		case res := <-results:
			last = time.Now()
			switch {
			case res.err == io.EOF:
				done := func() error { _, err := w.Write(sseDone); return err }
				if f, ok := enc.(streamFramer); ok {
					done = func() error { return f.done(w) }
				}
				if s.emit(w, x, "done", done) {
					s.clientGone(x)
				}
				return
			case res.err != nil:
				s.midStreamError(w, x, enc, llm.AsError(res.err))
				return
			case res.chunk == nil:
				continue
			}
			c := res.chunk
			if c.Usage != nil {
				u := *c.Usage
				x.usage = &u
			}
			if c.Model != "" && x.upstreamModel == "" {
				x.upstreamModel = c.Model
			}
			wrote, err := enc.writeChunk(w, jenc, c, wantUsage)
			if err == nil && wrote {
				switch {
				case coalesce <= 0 || x.ttft == 0: // the first token never waits
					err = w.Flush()
				case flushC == nil:
					if flushT == nil {
						flushT = time.NewTimer(coalesce)
					} else {
						flushT.Reset(coalesce)
					}
					flushC = flushT.C
				}
			}
			if err != nil {
				s.clientGone(x)
				return
			}
			if wrote {
				if x.ttft == 0 {
					x.ttft = last.Sub(x.start)
				}
				x.events++
				events.Inc()
			}
		case <-flushC:
			flushC = nil
			if w.Flush() != nil {
				s.clientGone(x)
				return
			}
		case <-hb.C:
			if idle := time.Since(last); idle < every {
				hb.Reset(every - idle)
				continue
			}
			if s.emit(w, x, "heartbeat", func() error { _, err := w.Write(beat); return err }) {
				s.clientGone(x)
				return
			}
			last = time.Now()
			hb.Reset(every)
		case <-sctx.Done():
			e := llm.AsError(sctx.Err())
			if s.base.Err() != nil {
				e = &llm.Error{Kind: llm.KindOverloaded, Message: "the proxy is shutting down", Err: sctx.Err()}
			}
			s.midStreamError(w, x, enc, e)
			return
		}
	}
}

// recv is st.Recv with a panic turned into a KindInternal error (counted
// as where="stream_recv"), so a broken Stream ends one stream, not the
// process.
func (s *Server) recv(st llm.Stream, x *exchange) (c *llm.Chunk, err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := llm.Recovered(v)
			s.logPanic("stream_recv", x, pe)
			c, err = nil, pe
		}
	}()
	return st.Recv()
}

// emit writes one non-chunk event and flushes; it reports a failed write.
func (s *Server) emit(w *bufio.Writer, x *exchange, kind string, write func() error) (failed bool) {
	err := write()
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return true
	}
	x.events++
	s.m.streamEvents.WithLabelValues(x.route, kind).Inc()
	return false
}

// midStreamError ends a stream with an OpenAI error event and no [DONE]
// (or with the error event of enc's wire API).
func (s *Server) midStreamError(w *bufio.Writer, x *exchange, enc chunkEncoder, e *llm.Error) {
	e = s.scrub(e)
	x.err = e
	if f, ok := enc.(streamFramer); ok {
		s.emit(w, x, "error", func() error { return f.fail(w, e) })
		return
	}
	b, _ := errorJSON(e)
	s.emit(w, x, "error", func() error {
		w.Write(sseData)
		w.Write(b)
		_, err := w.WriteString("\n\n")
		return err
	})
}

func (s *Server) clientGone(x *exchange) {
	if x.err == nil {
		x.err = &llm.Error{Kind: llm.KindCanceled, Message: "client disconnected mid-stream"}
	}
}

func isBodyTooLarge(err error) bool { return errors.Is(err, fasthttp.ErrBodyTooLarge) }

func isSmallBuffer(err error) bool {
	var sb *fasthttp.ErrSmallBuffer
	return errors.As(err, &sb)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
