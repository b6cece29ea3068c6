package simulator

import (
	"encoding/json"
	"sort"
	"strings"

	"llmrouter/llm"
)

// structuredAnswer returns the JSON text that answers a request with a
// response_format of json_object (an object holding the simulated answer)
// or json_schema (a value that matches the schema), and false for text
// answers.
func structuredAnswer(req *llm.Request, text string) (string, bool) {
	if len(req.ResponseFormat) == 0 {
		return "", false
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if json.Unmarshal(req.ResponseFormat, &rf) != nil {
		return "", false
	}
	switch rf.Type {
	case "json_object":
		b, _ := json.Marshal(map[string]string{"answer": text})
		return string(b), true
	case "json_schema":
		var root map[string]any
		if json.Unmarshal(rf.JSONSchema.Schema, &root) != nil {
			root = map[string]any{"type": "object"}
		}
		g := schemaGen{root: root, text: snippet(text, 5)}
		b, _ := json.Marshal(g.value(root, 0))
		return string(b), true
	}
	return "", false
}

// schemaGen builds a value matching a JSON schema: every property of an
// object (so required ones are there), one item for arrays (or minItems),
// the first enum or const value, the first branch of anyOf/oneOf, local
// $ref pointers (#/$defs/..., #/definitions/...) resolved.
type schemaGen struct {
	root map[string]any
	text string
}

func (g *schemaGen) value(s map[string]any, depth int) any {
	if depth > 16 {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		return g.value(g.resolve(ref), depth+1)
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if l, ok := s[k].([]any); ok && len(l) > 0 {
			if first, ok := l[0].(map[string]any); ok {
				return g.value(first, depth+1)
			}
		}
	}
	typ, _ := s["type"].(string)
	if l, ok := s["type"].([]any); ok && len(l) > 0 {
		typ, _ = l[0].(string)
	}
	if typ == "" {
		if _, ok := s["properties"]; ok {
			typ = "object"
		}
	}
	switch typ {
	case "object":
		props, _ := s["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		obj := make(map[string]any, len(names))
		for _, n := range names {
			ps, _ := props[n].(map[string]any)
			obj[n] = g.value(ps, depth+1)
		}
		return obj
	case "array":
		items, _ := s["items"].(map[string]any)
		n := 1
		if m, ok := s["minItems"].(float64); ok && int(m) > n {
			n = int(m)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = g.value(items, depth+1)
		}
		return out
	case "integer":
		return minimum(s, 1)
	case "number":
		return minimum(s, 1.5)
	case "boolean":
		return true
	case "null":
		return nil
	}
	if typ == "string" || typ == "" {
		t := g.text
		if t == "" {
			t = "simulated"
		}
		if m, ok := s["maxLength"].(float64); ok && len(t) > int(m) {
			t = t[:int(m)]
		}
		return t
	}
	return nil
}

func minimum(s map[string]any, def float64) any {
	v := def
	if m, ok := s["minimum"].(float64); ok && m > v {
		v = m
	}
	if m, ok := s["maximum"].(float64); ok && m < v {
		v = m
	}
	if def == 1 {
		return int64(v)
	}
	return v
}

func (g *schemaGen) resolve(ref string) map[string]any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = g.root
	if ref == "#" {
		return g.root
	}
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	m, _ := cur.(map[string]any)
	return m
}
