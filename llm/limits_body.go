package llm

import (
	"encoding/json"
	"strconv"
	"strings"
)

// BodyFields names the JSON keys of one wire API that CheckBody counts:
// the top-level arrays of messages (whose elements' "content" and
// "tool_calls" arrays are counted too), tools and stop strings. An empty
// name is not counted.
type BodyFields struct {
	Messages, Tools, Stop string
}

// Body fields of the inbound APIs.
var (
	ChatBodyFields      = BodyFields{Messages: "messages", Tools: "tools", Stop: "stop"}
	MessagesBodyFields  = BodyFields{Messages: "messages", Tools: "tools", Stop: "stop_sequences"}
	ResponsesBodyFields = BodyFields{Messages: "input", Tools: "tools"}
)

// CheckBody counts, without decoding, the elements of the arrays named by f
// in the raw JSON object body, and returns the same limit_exceeded error as
// Check for the first count over a limit (messages, messages[i].content,
// messages[i].tool_calls, tools, stop), or nil. It runs before the body is
// decoded, so a body of 100,000 tiny messages is refused in one pass over
// its bytes with no allocation, instead of after 100,000 Messages were
// built: memory stays O(limit), not O(body). Keys match as encoding/json
// matches them (escapes decoded, case-insensitively). A body that is not
// well-formed JSON is not judged here (nil): the decoder reports it. Check
// still runs on the decoded request; CheckBody only refuses earlier.
func (l *Limits) CheckBody(body []byte, f BodyFields) *Error {
	sc := bodyScanner{b: body, l: l, f: f}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil
	}
	sc.object(i, sc.top)
	return sc.err
}

type bodyScanner struct {
	b   []byte
	l   *Limits
	f   BodyFields
	err *Error
	msg int // index of the message being scanned
}

func over(v, max int) bool { return max > 0 && v > max }

// keyIs reports whether the JSON string b[i:j] (quotes excluded) names want
// as encoding/json would match it to a field.
func (s *bodyScanner) keyIs(i, j int, want string) bool {
	if want == "" {
		return false
	}
	k := s.b[i:j]
	for _, c := range k {
		if c == '\\' {
			var dec string
			if json.Unmarshal(s.b[i-1:j+1], &dec) != nil {
				return false
			}
			return strings.EqualFold(dec, want)
		}
	}
	return len(k) == len(want) && strings.EqualFold(string(k), want)
}

// object scans the object at b[i] ('{'), calling val for each member with
// the key's bounds and the value's start; val returns the index just after
// the value. object returns the index just after the closing '}', or
// len(b) when the object is malformed or scanning stopped.
func (s *bodyScanner) object(i int, val func(ks, ke, v int) int) int {
	i++
	for s.err == nil {
		i = skipWS(s.b, i)
		if i >= len(s.b) {
			return len(s.b)
		}
		switch s.b[i] {
		case '}':
			return i + 1
		case ',':
			i++
			continue
		case '"':
		default:
			return len(s.b)
		}
		ks := i + 1
		ke := stringEnd(s.b, ks)
		if ke >= len(s.b) {
			return len(s.b)
		}
		i = skipWS(s.b, ke+1)
		if i >= len(s.b) || s.b[i] != ':' {
			return len(s.b)
		}
		i = val(ks, ke, skipWS(s.b, i+1))
	}
	return len(s.b)
}

// stringEnd returns the index of the quote closing the string whose first
// content byte is b[i].
func stringEnd(b []byte, i int) int {
	for i < len(b) && b[i] != '"' {
		if b[i] == '\\' {
			i++
		}
		i++
	}
	return i
}

// array scans the array at b[i] ('['), calling elem for each element's
// start (elem returns the index just after it), and returns the count and
// the index just after the closing ']'. It stops at the first count over
// max, reporting that count.
func (s *bodyScanner) array(i, max int, elem func(n, v int) int) (int, int) {
	n := 0
	i++
	for s.err == nil {
		i = skipWS(s.b, i)
		if i >= len(s.b) {
			return n, len(s.b)
		}
		switch s.b[i] {
		case ']':
			return n, i + 1
		case ',':
			i++
			continue
		}
		n++
		if over(n, max) {
			return n, len(s.b)
		}
		next := elem(n-1, i)
		if next <= i {
			return n, len(s.b)
		}
		i = next
	}
	return n, len(s.b)
}

// skip returns the index just after the value at b[i].
func (s *bodyScanner) skip(i int) int {
	if i >= len(s.b) {
		return i
	}
	switch s.b[i] {
	case '"':
		return stringEnd(s.b, i+1) + 1
	case '{', '[':
		return bracketEnd(s.b, i)
	}
	j := i
	for j < len(s.b) && s.b[j] != ',' && s.b[j] != '}' && s.b[j] != ']' && s.b[j] != ' ' && s.b[j] != '\n' && s.b[j] != '\t' && s.b[j] != '\r' {
		j++
	}
	return j
}

// bracketEnd returns the index just after the object or array opened at
// b[i], skipping strings.
func bracketEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i+1)
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// count counts the array at v (when it is one) against max, setting err to
// the limit error of param() when over; it returns the index after the
// value. param is called only on failure, so the scan does not allocate.
func (s *bodyScanner) count(v, max int, param func() string, what string, elem func(n, v int) int) int {
	if v >= len(s.b) || s.b[v] != '[' {
		return s.skip(v)
	}
	if elem == nil {
		elem = s.skipElem
	}
	n, end := s.array(v, max, elem)
	if s.err == nil && over(n, max) {
		s.err = limitError(param(), what, max)
	}
	return end
}

func (s *bodyScanner) skipElem(_, v int) int { return s.skip(v) }

func (s *bodyScanner) top(ks, ke, v int) int {
	switch {
	case s.keyIs(ks, ke, s.f.Messages):
		return s.count(v, s.l.MaxMessages, func() string { return s.f.Messages }, "the number of messages", s.message)
	case s.keyIs(ks, ke, s.f.Tools):
		return s.count(v, s.l.MaxTools, func() string { return s.f.Tools }, "the number of tools", nil)
	case s.keyIs(ks, ke, s.f.Stop):
		return s.count(v, s.l.MaxStop, func() string { return s.f.Stop }, "the number of stop strings", nil)
	}
	return s.skip(v)
}

func (s *bodyScanner) message(n, v int) int {
	if v >= len(s.b) || s.b[v] != '{' {
		return s.skip(v)
	}
	s.msg = n
	return s.object(v, s.messageField)
}

func (s *bodyScanner) messageField(ks, ke, v int) int {
	switch {
	case s.keyIs(ks, ke, "content"):
		return s.count(v, s.l.MaxContentParts, func() string { return s.msgParam("content") }, "the number of content parts", nil)
	case s.keyIs(ks, ke, "tool_calls"):
		return s.count(v, s.l.MaxToolCalls, func() string { return s.msgParam("tool_calls") }, "the number of tool calls", nil)
	}
	return s.skip(v)
}

func (s *bodyScanner) msgParam(field string) string {
	return s.f.Messages + "[" + strconv.Itoa(s.msg) + "]." + field
}
