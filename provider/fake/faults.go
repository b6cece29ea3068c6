package fake

import (
	"bufio"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Fault is a misbehaviour of a fake upstream, set in OpenAIOptions.Fault (or
// AnthropicOptions). The zero Fault behaves well. Construct faults with the
// functions below; a Fault that counts requests (DownThenUp,
// RateLimitedWithRetryAfter) counts across every request of the handler it
// was given to, so build a new one per server.
type Fault struct {
	kind  faultKind
	n     int
	d     time.Duration
	count *atomic.Int64
}

type faultKind uint8

const (
	faultNone faultKind = iota
	faultFails500
	faultRateLimitedOnce
	faultRateLimitedForever
	faultHangsBeforeHeaders
	faultContextTooLong
	faultContentPolicy
	faultDownThenUp
	faultSlowFirstToken
	faultCutsStream
	faultStalls
	faultMalformedChunk
	faultNoDone
	faultFails500Then
	faultUnavailableOnce
	faultSilentUntil
)

// AlwaysFails500 answers every request with 500 and a server_error body.
func AlwaysFails500() Fault { return Fault{kind: faultFails500} }

// RateLimitedWithRetryAfter answers the first request with 429 and
// Retry-After (whole seconds, rounded up) plus retry-after-ms, then behaves.
func RateLimitedWithRetryAfter(d time.Duration) Fault {
	return Fault{kind: faultRateLimitedOnce, d: d, count: new(atomic.Int64)}
}

// RateLimitedForever answers every request with 429 and Retry-After: 1.
func RateLimitedForever() Fault { return Fault{kind: faultRateLimitedForever, d: time.Second} }

// HangsBeforeHeaders never answers: the request waits until the server
// closes (the client must time out).
func HangsBeforeHeaders() Fault { return Fault{kind: faultHangsBeforeHeaders} }

// ContextTooLong answers 400 with the upstream's "prompt too long" error
// (code context_length_exceeded).
func ContextTooLong() Fault { return Fault{kind: faultContextTooLong} }

// ContentPolicyReject answers 400 with a content-policy rejection (code
// content_filter, as Azure OpenAI sends it).
func ContentPolicyReject() Fault { return Fault{kind: faultContentPolicy} }

// DownThenUp drops the first n requests' connections without any response
// (the client sees the connection closed before headers), then behaves.
func DownThenUp(n int) Fault { return Fault{kind: faultDownThenUp, n: n, count: new(atomic.Int64)} }

// SlowFirstToken sends the stream's headers at once, then waits d (or until
// the server closes) before the first event. Non-stream answers wait d
// before answering.
func SlowFirstToken(d time.Duration) Fault { return Fault{kind: faultSlowFirstToken, d: d} }

// CutsStreamMidAnswer sends the first n events of a stream, then closes the
// connection abruptly (no terminating chunk, no [DONE]).
func CutsStreamMidAnswer(n int) Fault { return Fault{kind: faultCutsStream, n: n} }

// StallsMidStream sends the first two events of a stream (the role chunk
// and the first content), then sends nothing until the server closes.
func StallsMidStream() Fault { return Fault{kind: faultStalls, n: 2} }

// MalformedChunk sends the first event of a stream, then an event whose
// data is not valid JSON, then the rest.
func MalformedChunk() Fault { return Fault{kind: faultMalformedChunk} }

// NoDoneMarker sends the whole stream but ends the body cleanly without the
// final marker (OpenAI "data: [DONE]", Anthropic message_stop).
func NoDoneMarker() Fault { return Fault{kind: faultNoDone} }

// Fails500Then answers the first n requests with 500, then behaves.
func Fails500Then(n int) Fault { return Fault{kind: faultFails500Then, n: n, count: new(atomic.Int64)} }

// UnavailableWithRetryAfter answers the first request with 503 and
// Retry-After d (whole seconds, rounded up, plus retry-after-ms), then
// behaves.
func UnavailableWithRetryAfter(d time.Duration) Fault {
	return Fault{kind: faultUnavailableOnce, d: d, count: new(atomic.Int64)}
}

// SilentUntil never answers requests that arrive before *until (unix ns):
// they wait until the server closes, like HangsBeforeHeaders. Later ones
// behave. A zero *until is always healthy; tests and the soak move it.
func SilentUntil(until *atomic.Int64) Fault { return Fault{kind: faultSilentUntil, count: until} }

// ErrorWriter writes a protocol-specific error response.
type ErrorWriter func(ctx *fasthttp.RequestCtx, status int, errType, code, param, msg string)

// Request applies the request-level part of the fault: it writes the
// response (or hangs, or drops the connection) and returns true when the
// handler must stop, false when the request should be answered normally.
// Protocol handlers call it after parsing the request.
func (f Fault) Request(ctx *fasthttp.RequestCtx, writeErr ErrorWriter) bool {
	switch f.kind {
	case faultFails500:
		writeErr(ctx, 500, "server_error", "", "", "The server had an error while processing your request. Sorry about that!")
	case faultRateLimitedOnce:
		if f.count.Add(1) > 1 {
			return false
		}
		setRetryAfter(ctx, f.d)
		writeErr(ctx, 429, "requests", "rate_limit_exceeded", "", "Rate limit reached for requests. Please try again later.")
	case faultRateLimitedForever:
		setRetryAfter(ctx, f.d)
		writeErr(ctx, 429, "requests", "rate_limit_exceeded", "", "Rate limit reached for requests. Please try again later.")
	case faultFails500Then:
		if f.count.Add(1) > int64(f.n) {
			return false
		}
		writeErr(ctx, 500, "server_error", "", "", "The server had an error while processing your request. Sorry about that!")
	case faultUnavailableOnce:
		if f.count.Add(1) > 1 {
			return false
		}
		setRetryAfter(ctx, f.d)
		writeErr(ctx, 503, "server_error", "", "", "The engine is currently overloaded, please try again later.")
	case faultSilentUntil:
		if time.Now().UnixNano() >= f.count.Load() {
			return false
		}
		<-ctx.Done()
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
	case faultHangsBeforeHeaders:
		<-ctx.Done()
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
	case faultContextTooLong:
		writeErr(ctx, 400, "invalid_request_error", "context_length_exceeded", "messages",
			"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.")
	case faultContentPolicy:
		writeErr(ctx, 400, "invalid_request_error", "content_filter", "prompt",
			"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.")
	case faultDownThenUp:
		if f.count.Add(1) > int64(f.n) {
			return false
		}
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {})
	default:
		return false
	}
	return true
}

// Wait applies SlowFirstToken to a non-stream answer: it waits d or until
// done is closed. Other faults return at once.
func (f Fault) Wait(done <-chan struct{}) {
	if f.kind == faultSlowFirstToken {
		sleep(done, f.d)
	}
}

func setRetryAfter(ctx *fasthttp.RequestCtx, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(secs))
	ctx.Response.Header.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
}

// sleep waits d or until done is closed; it reports whether d passed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// StreamSpec is a stream to write: complete SSE blocks (each ending in a
// blank line) and the final marker block.
type StreamSpec struct {
	Events [][]byte
	Final  []byte
	// Delay is the pause between events (0: none).
	Delay time.Duration
}

// ServeStream answers ctx with spec as the streamed body (status and
// headers already set on ctx.Response), with the stream part of the fault
// applied. Call it last in the handler.
//
// Streams go through ctx.SetBodyStreamWriter, flushing after each event.
// CutsStreamMidAnswer is different: fasthttp copies a stream writer's output
// to the socket asynchronously, so closing the connection from the writer
// could lose events already "written". It hijacks the connection instead and
// writes the response bytes itself (status 200, Content-Type, chunked), so
// the n events surely reach the client before the cut.
func (f Fault) ServeStream(ctx *fasthttp.RequestCtx, spec StreamSpec) {
	if f.kind == faultCutsStream {
		ctype := string(ctx.Response.Header.ContentType())
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(c net.Conn) {
			w := bufio.NewWriter(c)
			_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + ctype + "\r\nTransfer-Encoding: chunked\r\n\r\n")
			for i, ev := range spec.Events {
				if i == f.n {
					break
				}
				_, _ = w.WriteString(strconv.FormatInt(int64(len(ev)), 16) + "\r\n")
				_, _ = w.Write(ev)
				_, _ = w.WriteString("\r\n")
			}
			_ = w.Flush()
			// Returning closes the connection mid-body.
		})
		return
	}
	done := ctx.Done()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if w.Flush() != nil { // headers go out now
			return
		}
		if f.kind == faultSlowFirstToken && !sleep(done, f.d) {
			return
		}
		for i, ev := range spec.Events {
			switch {
			case f.kind == faultStalls && i == f.n:
				<-done
				return
			case f.kind == faultMalformedChunk && i == 1:
				if !write(w, []byte("data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\"delta\":\n\n")) {
					return
				}
			}
			if i > 0 && !sleep(done, spec.Delay) {
				return
			}
			if !write(w, ev) {
				return
			}
		}
		switch {
		case f.kind == faultStalls:
			<-done
			return
		case f.kind == faultNoDone:
			return
		}
		write(w, spec.Final)
	})
}

func write(w *bufio.Writer, b []byte) bool {
	if _, err := w.Write(b); err != nil {
		return false
	}
	return w.Flush() == nil
}
