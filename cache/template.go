package cache

import (
	"context"
	"strings"
	"unicode/utf8"

	"llmrouter/embeddings"
)

// A fixed prompt template ("You are a support assistant. ... Ticket:
// <payload> ... Answer in one paragraph.") makes every request of a scope
// look alike: the shared text dominates the embedding, so two different
// payloads score far above any threshold. The template check compares a
// candidate pair on what differs between them instead.
//
// Whenever a stored prompt and the incoming one share a common prefix plus
// suffix (cut at word boundaries) of at least MinTemplateBytes, the pair is
// judged on its variable parts alone: they must be identical (an exact
// repeat), or both at least MinPromptChars long, pass the guard, and
// embed (only the variable parts) to a similarity at or above the
// threshold. A different payload in the same template therefore never
// hits on the strength of the template, while a repeat, or the same payload
// reworded as the embedder allows, still does.
//
// The check is pairwise and stateless: it needs no history of the scope,
// so it behaves the same with the in-process store and with pgvector
// shared by replicas, holds no memory between requests, and costs O(prompt)
// time (prompts are at most MaxPromptBytes) plus one embedding call of two
// short texts, only for candidates that passed the threshold and share a
// template. Prompts that share less than MinTemplateBytes (most paraphrases
// share a few words at each end) are compared as before.

// templateSplit returns the variable parts of a and b once their longest
// common prefix and suffix are removed, both cut back to word boundaries
// so no word is split, and the length in bytes of what they share.
func templateSplit(a, b string) (va, vb string, shared int) {
	n := min(len(a), len(b))
	p := 0
	for p < n && a[p] == b[p] {
		p++
	}
	if p == len(a) && p == len(b) {
		return "", "", len(a)
	}
	// Back to just after the last separator, so the variable part starts
	// at a word's start (ASCII separators: never inside a UTF-8 sequence).
	for p > 0 && !isSep(a[p-1]) {
		p--
	}
	s := 0
	for s < n-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	// Forward to the first separator, so the variable part ends at a
	// word's end.
	for s > 0 && !isSep(a[len(a)-s]) {
		s--
	}
	return strings.TrimSpace(a[p : len(a)-s]), strings.TrimSpace(b[p : len(b)-s]), p + s
}

func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '.', ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '"', '\'', '/', '-':
		return true
	}
	return false
}

// templateOK reports whether stored may answer incoming as far as a shared
// template is concerned (see above), with the reason when it may not.
func (c *Cache) templateOK(ctx context.Context, stored, incoming string, thr float64) (bool, string) {
	s := &c.o.Semantic
	if s.MinTemplateBytes < 0 {
		return true, ""
	}
	va, vb, shared := templateSplit(stored, incoming)
	if shared < s.MinTemplateBytes || va == vb {
		return true, ""
	}
	if utf8.RuneCountInString(va) < s.MinPromptChars || utf8.RuneCountInString(vb) < s.MinPromptChars {
		return false, "template: the short variable parts differ"
	}
	if ok, reason := s.Guard(va, vb); !ok {
		return false, "template: " + reason
	}
	ectx, cancel := context.WithTimeout(ctx, s.EmbedTimeout)
	defer cancel()
	vecs, err := c.emb.Embed(ectx, []string{va, vb})
	if err != nil || len(vecs) != 2 {
		c.m.errors.WithLabelValues("embed").Inc()
		return false, "template: embedding the variable parts failed"
	}
	if embeddings.Cosine(vecs[0], vecs[1]) < thr {
		return false, "template: the variable parts are not similar enough"
	}
	return true, ""
}
