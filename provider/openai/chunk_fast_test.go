package openai

import (
	"encoding/json"
	"reflect"
	"testing"

	"llmrouter/llm"
)

var fastChunkCases = []string{
	`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1770933883,"model":"bench-model-2025-01-01","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":" token7"},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"aZ3"}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"default","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
	`{"id":"c","choices":[{"index":1,"delta":{"reasoning_content":"héllo 世界","content":null}},{"index":0,"delta":{"content":"b"}}]}`,
	` { "id" : "c" , "created" : -5 , "choices" : [ ] , "system_fingerprint" : null , "x" : true , "y" : 12 } `,
	`{"id":"c","choices":null,"model":null}`,
	`{"id":"a","id":"b","choices":[{"delta":{"content":"x","content":"y"},"finish_reason":"stop","finish_reason":null}]}`,
	`{"choices":[{"delta":null}]}`,
	`{}`,
	// Shapes left to encoding/json (fast path must refuse, or agree):
	`{"id":"c\n","choices":[]}`,
	`{"id":"c","choices":[{"delta":{"content":"a\"b"}}]}`,
	`{"id":"c","choices":[{"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
	`{"ID":"c","choices":[]}`,
	`{"id":"c","Choices":[{"delta":{"content":"x"}}]}`,
	`{"id":"c","choices":[{"logprobs":{"content":[]}}]}`,
	`{"id":"c","created":1.5,"choices":[]}`,
	`{"id":"c","created":01,"choices":[]}`,
	`{"id":"c","choices":[],}`,
	`{"id":"c","choices":[]} x`,
	`{"id":"\xff","choices":[]}`,
	`{"id":"c","x":{"nested":1},"choices":[]}`,
	`{"error":{"message":"boom"}}`,
	`{"id":"c","created":99999999999999999999,"choices":[]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"x"}]}`,
	`nul`,
	``,
}

// checkFastAgrees: when the fast path accepts data, encoding/json accepts
// it too and decodes the same chunk.
func checkFastAgrees(t *testing.T, data []byte) (fast bool) {
	c, ok := parseChunkFast(data, &chunkStrings{})
	if !ok {
		return false
	}
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v): %s", err, data)
	}
	if w.Error != nil {
		t.Fatalf("fast path accepted an error object: %s", data)
	}
	if !reflect.DeepEqual(*c, w.Chunk) {
		t.Fatalf("fast path decoded %s\n got %+v\nwant %+v", data, *c, w.Chunk)
	}
	return true
}

func TestParseChunkFastAgreesWithEncodingJSON(t *testing.T) {
	fast := 0
	for _, d := range fastChunkCases {
		if checkFastAgrees(t, []byte(d)) {
			fast++
		}
	}
	if fast < 9 {
		t.Fatalf("the fast path took %d of the 9 common shapes", fast)
	}
}

func FuzzParseChunkFast(f *testing.F) {
	for _, d := range fastChunkCases {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastAgrees(t, data) })
}

// TestParseChunkAllocationBudget: a content chunk of a stream costs two
// allocations (the chunk with its choice, and its text).
func TestParseChunkAllocationBudget(t *testing.T) {
	data := []byte(fastChunkCases[0])
	var cs chunkStrings
	var sink *llm.Chunk
	allocs := testing.AllocsPerRun(100, func() {
		c, err := parseChunkWith("p", "", data, &cs)
		if err != nil || c == nil {
			t.Fatal(err)
		}
		sink = c
	})
	_ = sink
	if allocs > 2 {
		t.Fatalf("parsing one content chunk allocates %.1f times, budget 2", allocs)
	}
}

func BenchmarkParseChunk(b *testing.B) {
	data := []byte(fastChunkCases[0])
	b.Run("fast", func(b *testing.B) {
		var cs chunkStrings
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseChunkWith("p", "", data, &cs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w wireChunk
			if err := json.Unmarshal(data, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
