package llm

import (
	"bytes"
	"encoding/json"
)

// The upstream request encoder writes the messages by hand. Left to
// encoding/json, each Message's MarshalJSON output (and, inside it, each
// Content's) is scanned once more to compact and HTML-escape it, which for
// a prompt of a few KB was most of the cost of encoding a request. The
// bytes are those of the reflection encoder (json.Marshal of Request with
// Message.MarshalJSON); FuzzRequestEncodingMatchesReflection checks it.

// messagesNull is how json.Marshal writes a nil Messages member.
var messagesNull = []byte(`,"messages":null`)

// marshalRequestFields is json.Marshal((*requestFields)(r)), with the
// messages appended by appendMessages.
func marshalRequestFields(r *Request) ([]byte, error) {
	cp := *(*requestFields)(r)
	cp.Messages = nil
	b, err := json.Marshal(&cp)
	if err != nil || r.Messages == nil {
		return b, err
	}
	// Only model (a JSON string, whose quotes are escaped) precedes
	// messages, so the first match is the member.
	i := bytes.Index(b, messagesNull)
	if i < 0 {
		return json.Marshal((*requestFields)(r))
	}
	out := make([]byte, 0, len(b)+messagesSize(r.Messages))
	out = append(out, b[:i]...)
	out = append(out, `,"messages":`...)
	out, err = appendMessages(out, r.Messages)
	if err != nil {
		return nil, err
	}
	return append(out, b[i+len(messagesNull):]...), nil
}

func messagesSize(ms []Message) int {
	n := 2
	for i := range ms {
		n += 64 + len(ms[i].Content.Str) + len(ms[i].ReasoningContent)
		for _, p := range ms[i].Content.Parts {
			n += 64 + len(p.Text)
		}
	}
	return n
}

// appendMessages appends ms as encoding/json writes a []Message inside a
// value encoded with json.Marshal.
func appendMessages(b []byte, ms []Message) ([]byte, error) {
	b = append(b, '[')
	for i := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendMessage(b, &ms[i], true); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendMessage appends m as an enclosing encoder writes it:
// Message.MarshalJSON's output, compacted, and HTML-escaped when html (as
// json.Marshal does; an Encoder with SetEscapeHTML(false) does not).
func appendMessage(b []byte, m *Message, html bool) ([]byte, error) {
	start := len(b)
	b = append(b, `{"role":`...)
	b = appendString(b, m.Role)
	b = append(b, `,"content":`...)
	switch {
	case m.Content.Parts != nil:
		pb, err := json.Marshal(m.Content.Parts)
		if err != nil {
			return nil, err
		}
		b = append(b, pb...)
	case m.Content.Set:
		b = appendString(b, m.Content.Str)
	default:
		b = append(b, "null"...)
	}
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, m.Name)
	}
	if len(m.ToolCalls) > 0 {
		tb, err := json.Marshal(m.ToolCalls)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"tool_calls":`...)
		b = append(b, tb...)
	}
	if m.ToolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = appendString(b, m.ToolCallID)
	}
	if m.Refusal != nil {
		b = append(b, `,"refusal":`...)
		b = appendString(b, *m.Refusal)
	}
	if m.ReasoningContent != "" {
		b = append(b, `,"reasoning_content":`...)
		b = appendString(b, m.ReasoningContent)
	}
	if x := m.MessageExtras; x != nil {
		if len(x.ThinkingBlocks) > 0 {
			tb, err := json.Marshal(x.ThinkingBlocks)
			if err != nil {
				return nil, err
			}
			b = append(b, `,"thinking_blocks":`...)
			b = append(b, tb...)
		}
		if len(x.CacheControl) > 0 {
			var err error
			b = append(b, `,"cache_control":`...)
			// json.Marshal inside Message.MarshalJSON writes it: escaped
			// whatever the enclosing encoder does.
			if b, err = appendCompactRaw(b, x.CacheControl, true); err != nil {
				return nil, err
			}
		}
	}
	b = append(b, '}')
	if len(m.Extra) == 0 {
		return b, nil
	}
	return appendCompactRaw(b[:start], appendExtra(b[start:], m.Extra, knownMessageField), html)
}

// appendString appends s as json.Marshal writes a string.
func appendString(b []byte, s string) []byte {
	if plainJSONString(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// appendCompactRaw appends the raw JSON v compacted, and HTML-escaped when
// html, as encoding/json writes a json.Marshaler's output.
func appendCompactRaw(b []byte, v []byte, html bool) ([]byte, error) {
	var c bytes.Buffer
	if err := json.Compact(&c, v); err != nil {
		return nil, err
	}
	if !html {
		return append(b, c.Bytes()...), nil
	}
	var e bytes.Buffer
	json.HTMLEscape(&e, c.Bytes())
	return append(b, e.Bytes()...), nil
}
