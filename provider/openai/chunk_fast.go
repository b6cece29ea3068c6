package openai

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"llmrouter/llm"
)

// chunkStrings remembers one stream's last id, model and fingerprint, so
// that the chunks of a stream, which repeat them, share one copy.
type chunkStrings struct{ id, model, fingerprint, tier string }

func (cs *chunkStrings) intern(prev *string, b []byte) string {
	if string(b) != *prev { // compares without allocating
		*prev = string(b)
	}
	return *prev
}

// chunkBlock holds a chunk with room for one choice and its content in one
// allocation.
type chunkBlock struct {
	c       llm.Chunk
	choice  [1]llm.ChunkChoice
	content string
}

// jsonNullRaw is what encoding/json stores in a json.RawMessage for null.
var jsonNullRaw = json.RawMessage("null")[:4:4]

// parseChunkFast decodes the common shape of a streamed chat chunk (text,
// reasoning or refusal deltas, no tool calls, no usage, no error, strings
// without escapes) in one pass with two allocations, and gives up (ok
// false) on anything else, which encoding/json then decodes. When ok, the
// chunk equals what json.Unmarshal makes of data; a test and a fuzz target
// hold the two together.
func parseChunkFast(data []byte, cs *chunkStrings) (c *llm.Chunk, ok bool) {
	p := scanner{b: data}
	blk := &chunkBlock{}
	c = &blk.c
	var seenChoices bool
	ok = p.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return p.stringInto(&c.ID, &cs.id, cs)
		case "object":
			return p.stringInto(&c.Object, nil, cs)
		case "model":
			return p.stringInto(&c.Model, &cs.model, cs)
		case "system_fingerprint":
			return p.stringInto(&c.SystemFingerprint, &cs.fingerprint, cs)
		case "service_tier":
			return p.stringInto(&c.ServiceTier, &cs.tier, cs)
		case "created":
			n, ok := p.integer()
			c.Created = n
			return ok
		case "choices":
			if seenChoices {
				return false
			}
			seenChoices = true
			if p.null() {
				return true
			}
			c.Choices = blk.choice[:0]
			return p.array(func() bool {
				c.Choices = append(c.Choices, llm.ChunkChoice{})
				ch := &c.Choices[len(c.Choices)-1]
				content := &blk.content
				if len(c.Choices) > 1 {
					content = new(string)
				}
				return p.choice(ch, content)
			})
		case "usage":
			return p.null()
		}
		return p.unknown(key, chunkKeys)
	})
	if !ok || p.skipWS() != len(data) {
		return nil, false
	}
	return c, true
}

var (
	chunkKeys  = []string{"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier", "error"}
	choiceKeys = []string{"index", "delta", "logprobs", "finish_reason"}
	deltaKeys  = []string{"role", "content", "reasoning_content", "tool_calls", "refusal", "thinking_blocks"}
)

func (p *scanner) choice(ch *llm.ChunkChoice, content *string) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			n, ok := p.integer()
			ch.Index = int(n)
			return ok && int64(ch.Index) == n
		case "logprobs":
			if !p.null() {
				return false
			}
			ch.Logprobs = jsonNullRaw
			return true
		case "finish_reason":
			if p.null() {
				ch.FinishReason = nil
				return true
			}
			b, ok := p.str()
			if ok {
				ch.FinishReason = llm.Ptr(string(b))
			}
			return ok
		case "delta":
			return p.delta(&ch.Delta, content)
		}
		return p.unknown(key, choiceKeys)
	})
}

func (p *scanner) delta(d *llm.Delta, content *string) bool {
	if p.null() {
		return true
	}
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "role":
			if p.null() {
				return true
			}
			b, ok := p.str()
			if ok {
				if string(b) == "assistant" {
					d.Role = "assistant"
				} else {
					d.Role = string(b)
				}
			}
			return ok
		case "content":
			return p.optString(&d.Content, content)
		case "reasoning_content":
			return p.optString(&d.ReasoningContent, nil)
		case "refusal":
			return p.optString(&d.Refusal, nil)
		}
		return p.unknown(key, deltaKeys)
	})
}

// optString decodes null (nil) or a string into *dst, using into as its
// storage when not nil.
func (p *scanner) optString(dst **string, into *string) bool {
	if p.null() {
		*dst = nil
		return true
	}
	b, ok := p.str()
	if !ok {
		return false
	}
	if into == nil {
		into = new(string)
	}
	*into = string(b)
	*dst = into
	return true
}

// scanner is a strict reader of the JSON subset parseChunkFast accepts.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) skipWS() int {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return p.i
		}
	}
	return p.i
}

func (p *scanner) peek() byte {
	if p.skipWS() < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *scanner) null() bool {
	if p.peek() == 'n' && bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes or control bytes, valid UTF-8.
func (p *scanner) str() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// stringInto reads null (no change, as encoding/json does) or a string
// into dst, sharing prev's copy when it is the same.
func (p *scanner) stringInto(dst *string, prev *string, cs *chunkStrings) bool {
	if p.null() {
		return true
	}
	b, ok := p.str()
	if !ok {
		return false
	}
	switch {
	case prev != nil:
		*dst = cs.intern(prev, b)
	case string(b) == llm.ObjectChatCompletionChunk:
		*dst = llm.ObjectChatCompletionChunk
	default:
		*dst = string(b)
	}
	return true
}

// integer reads an optionally negative run of digits (no fraction, no
// exponent, no leading zeros) that fits an int64.
func (p *scanner) integer() (int64, bool) {
	if p.peek() == 0 {
		return 0, false
	}
	neg := p.b[p.i] == '-'
	j := p.i
	if neg {
		j++
	}
	start := j
	var n int64
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		if n > (1<<63-1)/10-1 {
			return 0, false
		}
		n = n*10 + int64(p.b[j]-'0')
		j++
	}
	if j == start || j-start > 1 && p.b[start] == '0' {
		return 0, false
	}
	if j < len(p.b) {
		switch p.b[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	p.i = j
	if neg {
		n = -n
	}
	return n, true
}

// object reads {"key": value, ...}, calling member with each key with the
// scanner at the value; member must consume the value.
func (p *scanner) object(member func(key []byte) bool) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		key, ok := p.str()
		if !ok || p.peek() != ':' {
			return false
		}
		p.i++
		if !member(key) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

func (p *scanner) array(elem func() bool) bool {
	if p.peek() != '[' {
		return false
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

// unknown skips the value of a member the chunk does not have, when it is
// a plain string, an integer, a boolean or null and the key is not a
// known one in another case (encoding/json matches keys case-insensitively).
func (p *scanner) unknown(key []byte, known []string) bool {
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			return false
		}
	}
	if p.null() {
		return true
	}
	switch p.peek() {
	case '"':
		_, ok := p.str()
		return ok
	case 't':
		if bytes.HasPrefix(p.b[p.i:], []byte("true")) {
			p.i += 4
			return true
		}
	case 'f':
		if bytes.HasPrefix(p.b[p.i:], []byte("false")) {
			p.i += 5
			return true
		}
	default:
		_, ok := p.integer()
		return ok
	}
	return false
}
