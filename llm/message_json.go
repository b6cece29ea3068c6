package llm

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Unknown members of messages and content parts are kept in Extra, exactly
// as the client sent them (refusal parts, cache_control on parts,
// message-level audio, whatever a newer API adds), so OpenAI-compatible
// upstreams receive them byte for byte and the exact-cache key sees them.

type messageFields Message

var knownMessageField = map[string]struct{}{
	"role": {}, "content": {}, "name": {}, "tool_calls": {}, "tool_call_id": {},
	"refusal": {}, "reasoning_content": {}, "thinking_blocks": {}, "cache_control": {},
}

type partFields ContentPart

var knownPartField = map[string]struct{}{
	"type": {}, "text": {}, "image_url": {}, "input_audio": {}, "file": {}, "cache_control": {},
}

// UnmarshalJSON decodes a message; unknown members go to Extra.
func (m *Message) UnmarshalJSON(b []byte) error {
	*m = Message{}
	if err := json.Unmarshal(b, (*messageFields)(m)); err != nil {
		return err
	}
	extra, err := unknownMembers(b, knownMessageField)
	m.Extra = extra
	return err
}

// MarshalJSON encodes a message with its Extra members (sorted by name)
// after the known ones.
func (m Message) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(messageFields(m))
	if err != nil || len(m.Extra) == 0 {
		return b, err
	}
	return appendExtra(b, m.Extra, knownMessageField), nil
}

// UnmarshalJSON decodes a content part; unknown members go to Extra.
func (p *ContentPart) UnmarshalJSON(b []byte) error {
	*p = ContentPart{}
	if err := json.Unmarshal(b, (*partFields)(p)); err != nil {
		return err
	}
	extra, err := unknownMembers(b, knownPartField)
	p.Extra = extra
	return err
}

// MarshalJSON encodes a part with its Extra members (sorted by name) after
// the known ones.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(partFields(p))
	if err != nil || len(p.Extra) == 0 {
		return b, err
	}
	return appendExtra(b, p.Extra, knownPartField), nil
}

// unknownMembers returns the members of the JSON object b whose keys are not
// in known, or nil; the cheap scan of hasUnknownKeyIn decides whether the
// object needs a second decode.
func unknownMembers(b []byte, known map[string]struct{}) (map[string]json.RawMessage, error) {
	if !hasUnknownKeyIn(b, known) {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	for k, v := range raw {
		if _, ok := known[k]; ok || foldKnown(k, known) {
			continue
		}
		if out == nil {
			out = make(map[string]json.RawMessage, 2)
		}
		out[k] = v
	}
	return out, nil
}

func foldKnown(k string, known map[string]struct{}) bool {
	for kk := range known {
		if bytes.EqualFold([]byte(k), []byte(kk)) {
			return true
		}
	}
	return false
}

// appendExtra appends the extra members to the encoded object b.
func appendExtra(b []byte, extra map[string]json.RawMessage, known map[string]struct{}) []byte {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, ok := known[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	buf := bytes.NewBuffer(make([]byte, 0, len(b)+64*len(keys)))
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
