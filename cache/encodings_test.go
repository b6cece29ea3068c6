package cache

import (
	"context"
	"testing"

	"llmrouter/llm"
)

// TestExactHitsShareTheEntrysEncodings: every exact hit of an entry is a
// copy with its own id that carries the entry's llm.Encodings (so the edge
// encodes the answer once per shape), every replayed chunk carries the
// Encodings of its index in the replay, the same on each hit, and Lookup's
// copies (which callers may change) carry none.
func TestExactHitsShareTheEntrysEncodings(t *testing.T) {
	up := &answersFromScript{resp: textResponse("Paris is the capital of France.")}
	c := newTestCache(t, up, Options{})
	ctx := context.Background()
	req := func() *llm.Request { return userRequest("acme", "what is the capital of France?") }
	first, err := c.Complete(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	if first.Encodings != nil {
		t.Fatal("a miss's answer carries Encodings")
	}
	c.Wait()
	a, _ := c.Complete(ctx, req())
	b, _ := c.Complete(ctx, req())
	if a.Encodings == nil || a.Encodings != b.Encodings || a.ID == b.ID {
		t.Fatalf("hits: Encodings %p and %p, ids %q and %q", a.Encodings, b.Encodings, a.ID, b.ID)
	}
	replay := func() []*llm.Chunk {
		r := req()
		r.Stream = true
		st, err := c.Stream(ctx, r)
		if err != nil || r.Meta.Values().Cache != llm.CacheExact {
			t.Fatalf("stream: %v, cache %q", err, r.Meta.Values().Cache)
		}
		chunks, err := drain(t, st)
		if err != nil {
			t.Fatal(err)
		}
		return chunks
	}
	s1, s2 := replay(), replay()
	if len(s1) != len(s2) || len(s1) < 3 {
		t.Fatalf("replays of %d and %d chunks", len(s1), len(s2))
	}
	seen := map[*llm.Encodings]bool{}
	for i := range s1 {
		e := s1[i].Encodings
		if e == nil || e != s2[i].Encodings || seen[e] || e == a.Encodings {
			t.Fatalf("chunk %d: Encodings %p and %p (one per index, shared by hits)", i, e, s2[i].Encodings)
		}
		seen[e] = true
		if s1[i].ID == s2[i].ID {
			t.Fatalf("chunk %d: both replays have id %q", i, s1[i].ID)
		}
	}
	if l, ok := c.Lookup(ctx, req()); !ok || l.Encodings != nil {
		t.Fatalf("Lookup: hit %v, Encodings %p", ok, l.Encodings)
	}
	if up.calls.Load() != 1 {
		t.Fatalf("upstream calls %d", up.calls.Load())
	}
}
