package llm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
)

// Encodings memoises the final wire bytes of one immutable answer (a cached
// Response, or one Chunk of its replay), one Template per output shape, so
// that a cache hit is written without encoding. The cache attaches it; the
// edge that encodes a shape builds that shape's Template on first use and
// reuses it on every later hit.
//
// It must be attached only to a value whose fields, other than ID and
// Created, never change while it is attached: a consumer that modifies such
// a value must set its Encodings to nil first. Safe for concurrent use; the
// zero value is ready.
type Encodings struct {
	mu   sync.Mutex
	list atomic.Pointer[[]shapeTemplate] // copy on write; read without a lock
}

type shapeTemplate struct {
	shape string
	t     *Template // nil: the shape cannot be templated (encode it each time)
}

// Template returns the Template of shape, building it with NewTemplate(encode)
// the first time. ok is false when the shape cannot be templated (the
// caller encodes the answer itself); that outcome is memoised too.
func (e *Encodings) Template(shape string, encode func(id string, created int64) ([]byte, error)) (t *Template, ok bool) {
	if p := e.list.Load(); p != nil {
		for _, st := range *p {
			if st.shape == shape {
				return st.t, st.t != nil
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var old []shapeTemplate
	if p := e.list.Load(); p != nil {
		old = *p
		for _, st := range old {
			if st.shape == shape {
				return st.t, st.t != nil
			}
		}
	}
	t, err := NewTemplate(encode)
	if err != nil {
		t = nil
	}
	next := append(append(make([]shapeTemplate, 0, len(old)+1), old...), shapeTemplate{shape, t})
	e.list.Store(&next)
	return t, t != nil
}

// Output shapes the proxy memoises (the shape argument of
// Encodings.Template).
const (
	ShapeChatJSON = "chat.json" // a Response as the Chat Completions JSON answer
	ShapeChatSSE  = "chat.sse"  // a Chunk as one chat.completion.chunk SSE event
)

// Template is an encoded answer with holes where each client's own id and
// creation time go. Immutable; safe for concurrent use.
type Template struct {
	segs  [][]byte // literal bytes; a hole between each two
	holes []bool   // holes[i] follows segs[i]: true the id, false created
	size  int      // bytes of segs
}

// NewTemplate builds a Template from encode, which must return the same
// bytes for the same arguments and write id only inside a JSON string
// (as the value of an "id" member) and created only as a JSON number.
//
// encode is called with a random id and a random creation time that no
// answer can contain by chance, the output is cut where they occur, and the
// result is checked: the Template filled with a second random pair must
// equal encode called with that pair, byte for byte, or NewTemplate fails
// (the caller then encodes each answer itself). So a Template never writes
// anything the canonical encoder would not have written.
func NewTemplate(encode func(id string, created int64) ([]byte, error)) (*Template, error) {
	id1, c1 := sentinels()
	b, err := encode(id1, c1)
	if err != nil {
		return nil, err
	}
	b = bytes.Clone(b) // encode may reuse its buffer
	cs := strconv.FormatInt(c1, 10)
	t := &Template{}
	for len(b) > 0 {
		i, j := bytes.Index(b, []byte(id1)), bytes.Index(b, []byte(cs))
		switch {
		case i < 0 && j < 0:
			t.segs = append(t.segs, b)
			b = nil
		case j < 0 || i >= 0 && i < j:
			t.segs, t.holes = append(t.segs, b[:i]), append(t.holes, true)
			b = b[i+len(id1):]
		default:
			t.segs, t.holes = append(t.segs, b[:j]), append(t.holes, false)
			b = b[j+len(cs):]
		}
	}
	if len(t.segs) == len(t.holes) {
		t.segs = append(t.segs, nil)
	}
	for _, s := range t.segs {
		t.size += len(s)
	}
	id2, c2 := sentinels()
	want, err := encode(id2, c2)
	if err != nil {
		return nil, err
	}
	if got, _ := t.Append(nil, id2, c2); !bytes.Equal(got, want) {
		return nil, errors.New("llm: the encoding does not template")
	}
	return t, nil
}

// sentinels returns a random id of 32 hex digits and a random creation
// time of 19 digits.
func sentinels() (string, int64) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	created := int64(1e18 + binary.LittleEndian.Uint64(b[16:])%8e18)
	return "llmrouter-" + hex.EncodeToString(b[:16]), created
}

// Append appends the Template filled with id and created to dst. ok is
// false (and dst unchanged) when id holds a byte that JSON would escape or
// that is not printable ASCII; the caller then encodes the answer itself.
// It does not allocate when dst has room.
func (t *Template) Append(dst []byte, id string, created int64) ([]byte, bool) {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return dst, false
		}
	}
	for i, s := range t.segs {
		dst = append(dst, s...)
		if i < len(t.holes) {
			if t.holes[i] {
				dst = append(dst, id...)
			} else {
				dst = strconv.AppendInt(dst, created, 10)
			}
		}
	}
	return dst, true
}
