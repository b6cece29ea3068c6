package llm

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// checkWellFormed refuses what encoding/json quietly accepts but a careful
// server must not: invalid UTF-8 (encoding/json would turn it into U+FFFD,
// so the cache key and the upstream would see different text) and an object
// with the same key twice (parsers disagree on which one wins, so the proxy
// and the upstream could act on different values). b must already be
// syntactically valid JSON. It returns nil or a KindInvalidRequest *Error.
// It runs in one pass and allocates only for objects with many keys.
func checkWellFormed(b []byte) *Error {
	if !utf8.Valid(b) {
		return &Error{Kind: KindInvalidRequest, Code: "invalid_utf8", Message: "request body is not valid UTF-8"}
	}
	d := dupScanner{b: b}
	d.value()
	if d.found {
		return &Error{Kind: KindInvalidRequest, Code: "duplicate_key",
			Message: "request body has the key " + strconv.Quote(d.dup) + " twice in one object"}
	}
	return nil
}

// dupScanner walks valid JSON and records the first duplicate object key.
type dupScanner struct {
	b     []byte
	i     int
	found bool
	dup   string
}

func (d *dupScanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// str skips a string starting at d.b[d.i] == '"' and returns its raw
// contents and whether it had escapes.
func (d *dupScanner) str() ([]byte, bool) {
	start := d.i + 1
	esc := false
	j := start
	for j < len(d.b) && d.b[j] != '"' {
		if d.b[j] == '\\' {
			esc = true
			j++
		}
		j++
	}
	d.i = j + 1
	if j > len(d.b) {
		j = len(d.b)
	}
	return d.b[start:j], esc
}

func (d *dupScanner) value() {
	d.ws()
	if d.i >= len(d.b) || d.found {
		return
	}
	switch d.b[d.i] {
	case '{':
		d.object()
	case '[':
		d.i++
		for !d.found {
			d.ws()
			if d.i >= len(d.b) {
				return
			}
			if d.b[d.i] == ']' {
				d.i++
				return
			}
			if d.b[d.i] == ',' {
				d.i++
				continue
			}
			at := d.i
			d.value()
			if d.i == at { // not valid JSON after all: never loop in place
				return
			}
		}
	case '"':
		d.str()
	default:
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			d.i++
		}
	}
}

// object scans one object. Keys are compared raw (unescaped only when they
// hold escapes): linearly while there are few, in a map past 16.
func (d *dupScanner) object() {
	d.i++
	var small [16][]byte // raw keys, slices of d.b: no copies
	n := 0
	var many map[string]struct{}
	for !d.found {
		d.ws()
		if d.i >= len(d.b) {
			return
		}
		switch d.b[d.i] {
		case '}':
			d.i++
			return
		case ',':
			d.i++
			continue
		case '"':
		default:
			return // not valid JSON; the decoder already said so
		}
		k, esc := d.str()
		if esc {
			var s string
			if json.Unmarshal(d.b[d.i-len(k)-2:d.i], &s) == nil {
				k = []byte(s)
			}
		}
		if many != nil {
			if _, ok := many[string(k)]; ok {
				d.found, d.dup = true, string(k)
				return
			}
			many[string(k)] = struct{}{}
		} else {
			for _, prev := range small[:n] {
				if bytes.Equal(prev, k) {
					d.found, d.dup = true, string(k)
					return
				}
			}
			if n < len(small) {
				small[n] = k
				n++
			} else {
				many = make(map[string]struct{}, 64)
				for _, prev := range small {
					many[string(prev)] = struct{}{}
				}
				many[string(k)] = struct{}{}
			}
		}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ':' {
			d.i++
		}
		at := d.i
		d.value()
		if d.i == at {
			return
		}
	}
}
