package anthropicwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Rewrite returns a copy of a client's Messages request body with the
// top-level members in set replaced (or, when absent, appended), every other
// byte kept as it was: cache_control, thinking blocks and fields this proxy
// does not model reach the upstream exactly as the client wrote them.
// appendTurns are added to the end of the "messages" array (a stream
// continuation's assistant prefill). body must be a JSON object.
func Rewrite(body []byte, set map[string]json.RawMessage, appendTurns []Turn) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("request body is not a JSON object")
	}
	out := make([]byte, 0, len(body)+64)
	last := 0 // bytes of body up to last are copied
	done := make(map[string]bool, len(set))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		start := end - len(v)
		repl, replace := set[key]
		if key == "messages" && len(appendTurns) > 0 {
			repl, err = appendToArray(v, appendTurns)
			if err != nil {
				return nil, fmt.Errorf("messages: %w", err)
			}
			replace = true
		}
		if replace && !done[key] {
			out = append(out, body[last:start]...)
			out = append(out, repl...)
			last = end
			done[key] = true
		}
	}
	closeAt := bytes.LastIndexByte(body, '}')
	out = append(out, body[last:closeAt]...)
	empty := len(bytes.TrimSpace(out)) == 1 // just "{"
	for _, k := range sortedKeys(set) {
		if done[k] {
			continue
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		kb, _ := json.Marshal(k)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, set[k]...)
	}
	return append(out, body[closeAt:]...), nil
}

func appendToArray(arr json.RawMessage, turns []Turn) (json.RawMessage, error) {
	t := bytes.TrimSpace(arr)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return nil, errors.New("not an array")
	}
	out := append([]byte(nil), t[:len(t)-1]...)
	empty := len(bytes.TrimSpace(t[1:len(t)-1])) == 0
	for _, turn := range turns {
		b, err := json.Marshal(turn)
		if err != nil {
			return nil, err
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		out = append(out, b...)
	}
	return append(out, ']'), nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
