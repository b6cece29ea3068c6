package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in   string
		want llm.CacheControl
	}{
		{"no-cache", llm.CacheControl{NoCache: true}},
		{"No-Store", llm.CacheControl{NoStore: true}},
		{"no-cache, no-store", llm.CacheControl{NoCache: true, NoStore: true}},
		{" max-age=0 ", llm.CacheControl{NoCache: true}},
		{"max-age=60, private", llm.CacheControl{}},
		{",,", llm.CacheControl{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseCacheControl([]byte(tt.in)); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMetaHeaders(t *testing.T) {
	tests := []struct {
		name string
		mv   llm.MetaValues
		want map[string]string
	}{
		{"semantic hit carries similarity", llm.MetaValues{Tier: llm.TierLarge, Score: 0.8, Cache: llm.CacheSemantic, Similarity: 0.93456},
			map[string]string{"x-llmrouter-tier": "large", "x-llmrouter-score": "0.800", "x-llmrouter-cache": "semantic", "x-llmrouter-similarity": "0.9346"}},
		{"exact hit has no similarity", llm.MetaValues{Cache: llm.CacheExact, Model: "m", Provider: "p"},
			map[string]string{"x-llmrouter-cache": "exact", "x-llmrouter-similarity": "", "x-llmrouter-tier": "", "x-llmrouter-model": "m", "x-llmrouter-provider": "p"}},
		{"pinned alias has no tier", llm.MetaValues{Cache: llm.CacheBypass},
			map[string]string{"x-llmrouter-tier": "", "x-llmrouter-score": "", "x-llmrouter-cache": "bypass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.ResponseHeader
			setMetaHeaders(&h, &tt.mv)
			for k, v := range tt.want {
				if got := string(h.Peek(k)); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
