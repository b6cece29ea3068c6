// Package sse reads Server-Sent Events (the text/event-stream format) as
// OpenAI and Anthropic stream them, with a hard bound on memory.
package sse

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// DefaultMaxEventBytes is the event size limit used when NewReader gets a
// non-positive limit.
const DefaultMaxEventBytes = 1 << 20

// Errors returned by Reader.Next. They are sticky: once returned, every
// later call returns the same error.
var (
	// ErrLineTooLong means one line of the stream exceeded the size limit.
	ErrLineTooLong = errors.New("sse: line exceeds size limit")
	// ErrEventTooLarge means the data of one event exceeded the size limit.
	ErrEventTooLarge = errors.New("sse: event data exceeds size limit")
	// ErrReleased is returned by Next after Release.
	ErrReleased = errors.New("sse: reader released")
)

// readBufSize is the read buffer of a Reader; such buffers are pooled.
const readBufSize = 4096

// bufPool holds read buffers of Readers that were released, so a stream
// that ends hands its buffer to the next one. Pointers to arrays keep Put
// free of allocations.
var bufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// Event is one dispatched event.
type Event struct {
	// Name is the "event:" field; "" when the event had none (a "message").
	Name string
	// Data is the event's data lines joined with "\n". It aliases the
	// Reader's buffer and is valid only until the next call to Next.
	Data []byte
	// ID is the last "id:" field seen so far in the stream (it persists
	// across events, as the SSE specification says).
	ID string
}

// Reader parses events from an io.Reader. It is not safe for concurrent
// use. Memory is bounded by about twice the size limit plus a 4 KiB read
// buffer, whatever the input.
type Reader struct {
	src    io.Reader
	max    int
	buf    []byte // read buffer; buf[start:end] is unread
	start  int
	end    int
	line   []byte // a line that spans refills of buf
	data   []byte // data of the event being built
	name   []byte
	hasDat bool
	id     string
	skipLF bool  // the previous line ended with CR: a following LF belongs to it
	rerr   error // a read error that came with data, returned by the next fill
	err    error
	pooled *[readBufSize]byte // buf's pooled array, nil when not pooled
}

// NewReader returns a Reader over r. maxEventBytes bounds both one line and
// one event's data; <= 0 means DefaultMaxEventBytes.
func NewReader(r io.Reader, maxEventBytes int) *Reader {
	if maxEventBytes <= 0 {
		maxEventBytes = DefaultMaxEventBytes
	}
	if maxEventBytes < readBufSize {
		return &Reader{src: r, max: maxEventBytes, buf: make([]byte, max(maxEventBytes, 64))}
	}
	pb := bufPool.Get().(*[readBufSize]byte)
	return &Reader{src: r, max: maxEventBytes, buf: pb[:], pooled: pb}
}

// Release returns the Reader's read buffer to the pool; later calls to Next
// return ErrReleased. It must not be called concurrently with Next, and an
// Event returned before must not be used after it. Idempotent.
func (r *Reader) Release() {
	r.err = ErrReleased
	r.buf, r.start, r.end = nil, 0, 0
	r.line, r.data, r.name = nil, nil, nil
	if pb := r.pooled; pb != nil {
		r.pooled = nil
		bufPool.Put(pb)
	}
}

// Next returns the next event. It returns io.EOF when the stream ends
// cleanly: at a line boundary, after which an event whose data lines were
// all terminated is still dispatched even without the final blank line. A
// stream that ends in the middle of a line yields io.ErrUnexpectedEOF; an
// oversized line or event yields ErrLineTooLong or ErrEventTooLarge; read
// errors are returned as they are. Comment lines (":...") are skipped; CRLF,
// CR and LF line ends are all accepted; a UTF-8 BOM is not stripped.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	r.data = r.data[:0]
	r.name = r.name[:0]
	r.hasDat = false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && r.hasDat {
				// The stream ended after a complete line but without the
				// blank line: dispatch what we have, EOF comes next time.
				r.err = io.EOF
				return r.event(), nil
			}
			r.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if r.hasDat {
				return r.event(), nil
			}
			r.name = r.name[:0] // an event with no data is not dispatched
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			n := len(r.data) + len(value)
			if r.hasDat {
				n++
			}
			if n > r.max {
				r.err = ErrEventTooLarge
				return Event{}, r.err
			}
			if r.hasDat {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasDat = true
		case "event":
			r.name = append(r.name[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = string(value)
			}
		}
		// "retry" and unknown fields are ignored.
	}
}

func (r *Reader) event() Event {
	ev := Event{Data: r.data, ID: r.id}
	if len(r.name) > 0 {
		ev.Name = string(r.name)
	}
	return ev
}

// readLine returns the next line without its terminator. The slice is valid
// until the next call. At the end of input it returns io.EOF if no partial
// line is pending, else io.ErrUnexpectedEOF.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		chunk := r.buf[r.start:r.end]
		if i := indexEOL(chunk); i >= 0 {
			r.skipLF = chunk[i] == '\r'
			r.start += i + 1
			if len(r.line) == 0 {
				if i > r.max {
					return nil, ErrLineTooLong
				}
				return chunk[:i], nil
			}
			if len(r.line)+i > r.max {
				return nil, ErrLineTooLong
			}
			r.line = append(r.line, chunk[:i]...)
			return r.line, nil
		}
		if len(r.line)+len(chunk) > r.max {
			return nil, ErrLineTooLong
		}
		r.line = append(r.line, chunk...)
		r.start, r.end = 0, 0
		if err := r.fill(); err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// fill reads at least one byte into the (empty) buffer.
func (r *Reader) fill() error {
	if r.rerr != nil {
		return r.rerr
	}
	for range 100 {
		n, err := r.src.Read(r.buf)
		if n < 0 || n > len(r.buf) {
			return io.ErrShortBuffer
		}
		r.end = n
		if n > 0 {
			r.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func indexEOL(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}
