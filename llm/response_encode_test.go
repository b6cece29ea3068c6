package llm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func encoderResponseJSON(r *Response) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(r)
	return b.Bytes(), err
}

func checkResponseEncoding(t *testing.T, r *Response) {
	t.Helper()
	got, err1 := AppendResponseJSON(nil, r)
	want, err2 := encoderResponseJSON(r)
	if (err1 == nil) != (err2 == nil) || !bytes.Equal(got, want) {
		t.Fatalf("AppendResponseJSON:\n%s (%v)\nencoding/json:\n%s (%v)", got, err1, want, err2)
	}
}

var responseEncodingSeeds = []string{
	`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris <b> & \u2028 \"q\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
	`{"id":"a<b>","object":"","created":-5,"model":"m&","choices":[{"index":2,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":\"<x>\"}"}}],"refusal":"no","annotations":[ {"u":"<a>"} ]},"finish_reason":"tool_calls","logprobs":{ "content" : [ ] }}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0,"cache_creation_tokens":4,"audio_tokens":5},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":1}},"system_fingerprint":"fp<","service_tier":"default"}`,
	`{"id":"x","choices":[]}`,
	`{"id":"x"}`,
	`{"id":"x","choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"<t>","x":1}],"reasoning_content":"r\u0001","thinking_blocks":[{"type":"thinking","thinking":"<","signature":"s"}],"cache_control":{ "type":"x<" }}}],"usage":{"prompt_tokens_details":{"cached_tokens":1}}}`,
	`{"id":"bad \ud800 x","model":"\u00e9","choices":[{"message":{"content":"\ud800"}}]}`,
}

// FuzzResponseEncodingMatchesEncoder: the hand-written answer encoder
// writes exactly what encoding/json's Encoder (HTML unescaped) writes.
func FuzzResponseEncodingMatchesEncoder(f *testing.F) {
	for _, s := range responseEncodingSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Response
		if json.Unmarshal(body, &r) != nil {
			return
		}
		checkResponseEncoding(t, &r)
	})
}

// TestResponseEncodingMatchesEncoderOnFixtures runs every recorded OpenAI
// chat completion through both encoders.
func TestResponseEncodingMatchesEncoderOnFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedDir(t), "fixtures", "openai", "chat-completion*.json"))
	if len(files) == 0 {
		t.Fatal("no chat completion fixtures")
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".headers.json") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkResponseEncoding(t, &r) })
	}
}

func TestAppendResponseJSONDoesNotAllocate(t *testing.T) {
	r := &Response{ID: "chatcmpl-1", Object: ObjectChatCompletion, Created: 1, Model: "m",
		Choices: []Choice{{Message: Message{Role: "assistant", Content: TextContent("Paris.")}, FinishReason: FinishStop}},
		Usage:   &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendResponseJSON(buf[:0], r) }); n != 0 {
		t.Fatalf("AppendResponseJSON allocates %.0f times", n)
	}
}

// BenchmarkResponseEncode: the bench upstream's answer, encoding/json's
// Encoder against AppendResponseJSON.
func BenchmarkResponseEncode(b *testing.B) {
	// cmd/benchupstream's answer.
	answer := `{"id":"chatcmpl-bench","object":"chat.completion","created":1770933883,` +
		`"model":"bench-model-2025-01-01","choices":[{"index":0,"message":{"role":"assistant",` +
		`"content":"Galaxy Day celebrates the universe's vastness, beauty, and our collective curiosity about the cosmos. Communities host stargazing festivals, wear cosmic costumes and light lanterns.",` +
		`"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":260,"completion_tokens":34,"total_tokens":294,` +
		`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
		`"service_tier":"default","system_fingerprint":"fp_bench"}`
	var r Response
	if err := json.Unmarshal([]byte(answer), &r); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	for name, enc := range map[string]func() ([]byte, error){
		"encoder": func() ([]byte, error) { return encoderResponseJSON(&r) },
		"hand":    func() ([]byte, error) { return AppendResponseJSON(buf[:0], &r) },
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// sharedDir is llmtest.SharedDir, which llm's own tests may not import
// (llm imports only the standard library): $LLMROUTER_SHARED, or the first
// shared/ with fixtures/ walking up from the working directory.
func sharedDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LLMROUTER_SHARED"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for {
		if st, err := os.Stat(filepath.Join(dir, "shared", "fixtures")); err == nil && st.IsDir() {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/ (fixtures) not found walking up from the working directory; set LLMROUTER_SHARED")
		}
		dir = parent
	}
}
