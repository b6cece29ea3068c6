package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// yamlProblems walks a parsed YAML document against the Go type t (the
// schema) and returns every problem it finds, each as "path: message (line
// N)" with the YAML path a user reads in the file (server.listen,
// providers[2].timeouts.connect), never a Go type name. It reports unknown
// and duplicate keys, a mapping where a list belongs (and the reverse), and
// scalars that do not decode into their field (an integer duration, a word
// where a number belongs). A document it accepts decodes strictly into t.
func yamlProblems(doc *yaml.Node, t reflect.Type) []string {
	w := &yamlWalker{}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	w.walk(doc, t, "")
	return w.problems
}

type yamlWalker struct {
	problems []string
}

var durationType = reflect.TypeFor[time.Duration]()

func (w *yamlWalker) add(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	w.problems = append(w.problems, fmt.Sprintf("%s: %s (line %d)", path, fmt.Sprintf(format, args...), n.Line))
}

func (w *yamlWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the field at its zero value: the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		var d time.Duration
		if n.Kind != yaml.ScalarNode || n.Decode(&d) != nil {
			w.add(n, path, "want a duration written as a string such as \"10s\" or \"250ms\", got %s", describe(n))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if !w.want(n, yaml.MappingNode, path) {
			return
		}
		fields := yamlFields(t)
		w.pairs(n, path, func(key string, k, v *yaml.Node) {
			ft, ok := fields[key]
			if !ok {
				w.add(k, join(path, key), "unknown field%s", unknownHint(key))
				return
			}
			w.walk(v, ft, join(path, key))
		})
	case reflect.Map:
		if !w.want(n, yaml.MappingNode, path) {
			return
		}
		w.pairs(n, path, func(key string, k, v *yaml.Node) {
			if kt := t.Key(); kt.Kind() != reflect.String {
				w.walk(k, kt, join(path, key))
			}
			w.walk(v, t.Elem(), join(path, key))
		})
	case reflect.Slice, reflect.Array:
		if !w.want(n, yaml.SequenceNode, path) {
			return
		}
		for i, e := range n.Content {
			w.walk(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Interface:
		// any YAML value fits
	default:
		if !w.want(n, yaml.ScalarNode, path) {
			return
		}
		if n.Decode(reflect.New(t).Interface()) != nil {
			w.add(n, path, "want %s, got %s", kindName(t), describe(n))
		}
	}
}

// want reports n when it is not of kind k.
func (w *yamlWalker) want(n *yaml.Node, k yaml.Kind, path string) bool {
	if n.Kind == k {
		return true
	}
	w.add(n, path, "want %s, got %s", nodeKindName(k), describe(n))
	return false
}

// pairs calls f for each key of the mapping n, expanding merge keys (<<)
// and reporting keys that repeat.
func (w *yamlWalker) pairs(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if v.Kind == yaml.MappingNode {
				w.pairs(v, path, f)
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.add(k, join(path, k.Value), "repeated key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		f(k.Value, k, v)
	}
}

// yamlFields maps the YAML names of t's fields to their types, as yaml.v3
// names them: the tag's name, or the lower-cased field name.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// unknownHint explains the unknown fields people write most: literal secrets.
func unknownHint(key string) string {
	switch key {
	case "api_key":
		return " (secrets are never written in the file: use api_key_env: NAME_OF_ENV_VAR)"
	case "key":
		return " (client keys are never written in the file: use key_env or key_sha256)"
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node holds for an error message; scalars are quoted
// and cut short (string fields never fail to decode, so a secret written
// where a string belongs is never echoed).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

func nodeKindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a string"
}
