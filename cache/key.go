package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math"
	"slices"
	"sync"
	"unsafe"

	"llmrouter/llm"
)

// Key is a SHA-256 digest identifying what a request asks. Two requests with
// the same Key must be answerable by the same response; a collision would
// hand out a wrong answer, so the cache compares all 32 bytes on a hit.
type Key [32]byte

// harmlessExtra lists the unknown top-level request fields that do not
// change the answer. Every other field in Request.Extra is part of the key.
var harmlessExtra = map[string]bool{"user": true, "metadata": true, "stream": true, "stream_options": true, "store": true}

// Domain tags keep the exact key and the semantic scope disjoint even for
// requests that write the same fields.
const (
	domainExact    = "llmrouter.cache.exact.v1"
	domainSemantic = "llmrouter.cache.scope.v1"
)

// keyWriter builds a length-prefixed, unambiguous encoding of a request in a
// reusable buffer and hashes it. Every variable-length field is written with
// its length first and every optional field with a presence byte, so no two
// different requests share an encoding. A field longer than bigField goes
// straight into the hash (after the buffered bytes before it), so hashing
// costs O(1) extra memory whatever the prompt size.
type keyWriter struct {
	b []byte
	h hash.Hash
}

// bigField is the length from which a field bypasses the buffer.
const bigField = 1024

var keyWriters = sync.Pool{New: func() any { return &keyWriter{b: make([]byte, 0, 4096), h: sha256.New()} }}

// big hashes p directly, after what is buffered.
func (w *keyWriter) big(p []byte) {
	w.h.Write(w.b)
	w.b = w.b[:0]
	w.h.Write(p)
}

func (w *keyWriter) tag(t byte)   { w.b = append(w.b, t) }
func (w *keyWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *keyWriter) str(s string) {
	w.u64(uint64(len(s)))
	if len(s) >= bigField {
		// The hash only reads the bytes; it neither keeps nor changes them.
		w.big(unsafe.Slice(unsafe.StringData(s), len(s)))
		return
	}
	w.b = append(w.b, s...)
}
func (w *keyWriter) raw(b []byte) {
	w.u64(uint64(len(b)))
	if len(b) >= bigField {
		w.big(b)
		return
	}
	w.b = append(w.b, b...)
}
func (w *keyWriter) boolean(v bool) {
	if v {
		w.tag(1)
	} else {
		w.tag(0)
	}
}
func (w *keyWriter) optF64(p *float64) {
	if p == nil {
		w.tag(0)
		return
	}
	w.tag(1)
	w.u64(math.Float64bits(*p))
}
func (w *keyWriter) optInt(p *int) {
	if p == nil {
		w.tag(0)
		return
	}
	w.tag(1)
	w.u64(uint64(*p))
}
func (w *keyWriter) optBool(p *bool) {
	if p == nil {
		w.tag(0)
		return
	}
	w.tag(1)
	w.boolean(*p)
}

// params writes every answer-changing parameter (everything except the
// messages, the model and routing metadata).
func (w *keyWriter) params(r *llm.Request) {
	w.u64(uint64(len(r.Tools)))
	for i := range r.Tools {
		t := &r.Tools[i]
		w.str(t.Type)
		w.str(t.Function.Name)
		w.str(t.Function.Description)
		w.raw(t.Function.Parameters)
		w.optBool(t.Function.Strict)
	}
	w.raw(r.ToolChoice)
	w.optBool(r.ParallelToolCalls)
	w.raw(r.ResponseFormat)
	w.optF64(r.Temperature)
	w.optF64(r.TopP)
	w.optInt(r.MaxTokens)
	w.optInt(r.MaxCompletionTokens)
	w.u64(uint64(len(r.Stop)))
	for _, s := range r.Stop {
		w.str(s)
	}
	if r.Seed == nil {
		w.tag(0)
	} else {
		w.tag(1)
		w.u64(uint64(*r.Seed))
	}
	w.optInt(r.N)
	w.optF64(r.PresencePenalty)
	w.optF64(r.FrequencyPenalty)
	w.raw(r.LogitBias)
	w.optBool(r.Logprobs)
	w.optInt(r.TopLogprobs)
	w.extra(r)
}

func (w *keyWriter) extra(r *llm.Request) {
	n := 0
	for k := range r.Extra {
		if !harmlessExtra[k] {
			n++
		}
	}
	w.u64(uint64(n))
	if n == 0 {
		return
	}
	keys := make([]string, 0, n)
	for k := range r.Extra {
		if !harmlessExtra[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.str(k)
		w.raw(r.Extra[k])
	}
}

// message writes one message; withContent false replaces the content by a
// fixed marker (the semantic scope's slot for the embedded final user turn).
func (w *keyWriter) message(m *llm.Message, withContent bool) {
	w.str(m.Role)
	w.str(m.Name)
	w.str(m.ToolCallID)
	if withContent {
		w.content(&m.Content)
	} else {
		w.tag(0xff)
	}
	w.u64(uint64(len(m.ToolCalls)))
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		w.optInt(tc.Index)
		w.str(tc.ID)
		w.str(tc.Type)
		w.str(tc.Function.Name)
		w.str(tc.Function.Arguments)
	}
	if m.Refusal == nil {
		w.tag(0)
	} else {
		w.tag(1)
		w.str(*m.Refusal)
	}
	w.str(m.ReasoningContent)
}

func (w *keyWriter) content(c *llm.Content) {
	switch {
	case c.Parts != nil:
		w.tag(2)
		w.u64(uint64(len(c.Parts)))
		for i := range c.Parts {
			p := &c.Parts[i]
			w.str(p.Type)
			w.str(p.Text)
			if p.ImageURL == nil {
				w.tag(0)
			} else {
				w.tag(1)
				w.str(p.ImageURL.URL)
				w.str(p.ImageURL.Detail)
			}
			w.raw(p.InputAudio)
			w.raw(p.File)
		}
	case c.Set:
		w.tag(1)
		w.str(c.Str)
	default:
		w.tag(0)
	}
}

func (w *keyWriter) head(domain, tenant string, nsVersion int64, r *llm.Request) {
	w.b = w.b[:0]
	w.h.Reset()
	w.str(domain)
	w.str(tenant)
	w.u64(uint64(nsVersion))
	w.str(r.Model)
	w.tag(byte(r.Tier))
}

func (w *keyWriter) sum() Key {
	var k Key
	w.h.Write(w.b)
	copy(k[:], w.h.Sum(w.b[:0])) // the sum lands in the pooled buffer: no allocation
	if cap(w.b) > 1<<20 {        // many small fields; do not pin the buffer in the pool
		w.b = make([]byte, 0, 4096)
	}
	keyWriters.Put(w)
	return k
}

// ExactKey returns the exact-cache key of r in the tenant namespace at
// version nsVersion: tenant, namespace version, the requested model (alias),
// the decided tier, every message field, and every answer-changing parameter
// (including unknown Extra fields other than user, metadata, stream,
// stream_options and store). stream and stream_options are left out: a
// streamed answer replays as JSON and the other way round.
func ExactKey(tenant string, nsVersion int64, r *llm.Request) Key {
	w := keyWriters.Get().(*keyWriter)
	w.head(domainExact, tenant, nsVersion, r)
	w.u64(uint64(len(r.Messages)))
	for i := range r.Messages {
		w.message(&r.Messages[i], true)
	}
	w.params(r)
	return w.sum()
}

// ScopeKey returns the semantic scope of r: everything ExactKey covers
// except the content of the final user message (the part that is embedded),
// plus the embedder's name and dimension, so vectors of two embedders never
// meet. Requests in the same scope differ only in their final user turn.
func ScopeKey(tenant string, nsVersion int64, r *llm.Request, embedder string, dim int) Key {
	last := lastUserIndex(r)
	w := keyWriters.Get().(*keyWriter)
	w.head(domainSemantic, tenant, nsVersion, r)
	w.str(embedder)
	w.u64(uint64(dim))
	w.u64(uint64(len(r.Messages)))
	for i := range r.Messages {
		w.message(&r.Messages[i], i != last)
	}
	w.params(r)
	return w.sum()
}

func lastUserIndex(r *llm.Request) int {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return i
		}
	}
	return -1
}
