package main

import (
	"testing"

	"llmrouter/cache"
	"llmrouter/cache/guard"
	"llmrouter/llm"
	"llmrouter/router/classifier"
)

// FuzzRequestThroughClassifierKeyAndGuard feeds arbitrary bodies through
// what a request meets before any upstream: decoding, the limits, the
// classifier, the exact and semantic cache keys, and the guard against the
// body's own prompt and a second fuzzed prompt. Nothing may panic; a
// decoded request over the limits must be refused; the guard must be
// symmetric and accept a prompt against itself.
func FuzzRequestThroughClassifierKeyAndGuard(f *testing.F) {
	for _, s := range []string{
		`{"model":"auto","messages":[{"role":"user","content":"What is 15% of 80 km?"}]}`,
		`{"model":"auto","n":1125899906842624,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"from Paris to Rome, not by train"}]}],"stop":["a","b"]}`,
		`{"model":"m","model":"n","messages":[]}`,
		"{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}",
	} {
		f.Add([]byte(s), "What is 15 of 80 miles?")
	}
	c, err := classifier.New(classifier.Options{WindowBytes: 256})
	if err != nil {
		f.Fatal(err)
	}
	limits := llm.Limits{}.WithDefaults()
	f.Fuzz(func(t *testing.T, body []byte, other string) {
		var r llm.Request
		if err := llm.DecodeRequest(body, &r); err != nil {
			return
		}
		if e := limits.Check(&r); e != nil {
			if e.Kind != llm.KindInvalidRequest {
				t.Fatalf("limit error of kind %v", e.Kind)
			}
			return
		}
		d := c.Classify(&r)
		if d.Tier < llm.TierSmall || d.Tier > llm.TierLarge {
			t.Fatalf("tier %v", d.Tier)
		}
		r.Tier = d.Tier
		if cache.ExactKey("t", 1, &r) != cache.ExactKey("t", 1, &r) {
			t.Fatal("exact key not deterministic")
		}
		_ = cache.ScopeKey("t", 1, &r, "lexical", 8)
		p := r.LastUserText()
		if ok, reason := guard.Check(p, p); !ok {
			t.Fatalf("guard refuses a prompt against itself (%s): %q", reason, p)
		}
		ab, _ := guard.Check(p, other)
		ba, _ := guard.Check(other, p)
		if ab != ba {
			t.Fatalf("guard not symmetric on %q / %q", p, other)
		}
	})
}
