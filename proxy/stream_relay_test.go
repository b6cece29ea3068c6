package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
)

// stdChunkJSON is what the relay wrote before appendChatChunk: encoding/json
// without HTML escaping, minus Encode's newline.
func stdChunkJSON(t testing.TB, c *llm.Chunk) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func chunkCases() map[string]*llm.Chunk {
	text := func(s string) *llm.Chunk {
		return &llm.Chunk{ID: "chatcmpl-1", Object: llm.ObjectChatCompletionChunk, Created: 1770933883, Model: "m-1",
			SystemFingerprint: "fp_1", Choices: []llm.ChunkChoice{{Index: 0, Delta: llm.Delta{Content: llm.Ptr(s)},
				Logprobs: json.RawMessage("null")}}}
	}
	return map[string]*llm.Chunk{
		"plain":       text(" token 42"),
		"escapes":     text("q\"b\\s/\b\f\n\r\t\x00\x01\x1f\x7f end"),
		"html":        text("<a href='x'>&amp;</a>"),
		"unicode":     text("héllo 世界 🌊 \u2028\u2029 \ufeff"),
		"invalid":     text("bad \xff\xfe utf8 \xe2\x82"),
		"empty":       text(""),
		"role":        {ID: "c", Object: llm.ObjectChatCompletionChunk, Choices: []llm.ChunkChoice{{Delta: llm.Delta{Role: "assistant", Content: llm.Ptr("")}}}},
		"finish":      {ID: "c", Object: llm.ObjectChatCompletionChunk, ServiceTier: "default", Choices: []llm.ChunkChoice{{Index: 2, FinishReason: llm.Ptr("stop")}}},
		"reasoning":   {ID: "c", Choices: []llm.ChunkChoice{{Delta: llm.Delta{ReasoningContent: llm.Ptr("think\n"), Refusal: llm.Ptr("no")}}}},
		"two choices": {ID: "c", Choices: []llm.ChunkChoice{{Index: 0, Delta: llm.Delta{Content: llm.Ptr("a")}}, {Index: 1, Delta: llm.Delta{Content: llm.Ptr("b")}}}},
		"nil choices": {ID: "c", Created: -5, Usage: &llm.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		"usage details": {ID: "c", Choices: []llm.ChunkChoice{}, Usage: &llm.Usage{PromptTokens: 260, CompletionTokens: 200, TotalTokens: 460,
			PromptTokensDetails:     &llm.PromptTokensDetails{CachedTokens: 7, CacheCreationTokens: 3, AudioTokens: 1},
			CompletionTokensDetails: &llm.CompletionTokensDetails{ReasoningTokens: 9, AudioTokens: 2}}},
		"zero details": {ID: "c", Choices: []llm.ChunkChoice{}, Usage: &llm.Usage{PromptTokensDetails: &llm.PromptTokensDetails{},
			CompletionTokensDetails: &llm.CompletionTokensDetails{}}},
	}
}

// TestAppendChatChunkMatchesEncodingJSON holds the hand-written encoder to
// the bytes encoding/json produced for the same chunk.
func TestAppendChatChunkMatchesEncodingJSON(t *testing.T) {
	for name, c := range chunkCases() {
		t.Run(name, func(t *testing.T) {
			got, ok := appendChatChunk(nil, c)
			if !ok {
				t.Fatal("fast path refused a plain chunk")
			}
			if want := stdChunkJSON(t, c); string(got) != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
	for name, c := range map[string]*llm.Chunk{
		"tool calls": {Choices: []llm.ChunkChoice{{Delta: llm.Delta{ToolCalls: []llm.ToolCall{{ID: "x"}}}}}},
		"thinking":   {Choices: []llm.ChunkChoice{{Delta: llm.Delta{ThinkingBlocks: []llm.ThinkingBlock{{Type: "thinking"}}}}}},
		"logprobs":   {Choices: []llm.ChunkChoice{{Logprobs: json.RawMessage(`{"content": []}`)}}},
	} {
		if _, ok := appendChatChunk(nil, c); ok {
			t.Errorf("%s: fast path took a chunk it cannot encode", name)
		}
	}
}

func FuzzAppendChatChunk(f *testing.F) {
	f.Add("chatcmpl-1", "assistant", " token", "stop", int64(3))
	f.Add("\x00\"", "", "\u2028<>&\xff", "", int64(-1))
	f.Fuzz(func(t *testing.T, id, role, content, finish string, created int64) {
		c := &llm.Chunk{ID: id, Object: llm.ObjectChatCompletionChunk, Created: created, Model: content,
			Choices: []llm.ChunkChoice{{Delta: llm.Delta{Role: role, Content: &content}}}}
		if finish != "" {
			c.Choices[0].FinishReason = &finish
		}
		got, ok := appendChatChunk(nil, c)
		if !ok {
			t.Fatal("fast path refused a plain chunk")
		}
		if want := stdChunkJSON(t, c); string(got) != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// relayOnce pumps one scripted stream of chunks to w as the stream writer
// would, with no HTTP around it.
func relayOnce(s *Server, w *bufio.Writer, chunks []*llm.Chunk) {
	st := &scriptedStream{chunks: chunks, end: io.EOF, closed: make(chan struct{})}
	x := &exchange{start: time.Now(), route: "chat", meta: &llm.Meta{}}
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s.inFlight.Add(1)
	s.streams.Add(1)
	s.pump(w, sctx, cancel, st, x, chatEncoder{}, false)
}

func benchChunks(n int) []*llm.Chunk {
	cs := make([]*llm.Chunk, n)
	for i := range cs {
		cs[i] = &llm.Chunk{ID: "chatcmpl-bench", Object: llm.ObjectChatCompletionChunk, Created: 1770933883,
			Model: "bench-model", SystemFingerprint: "fp_bench", Choices: []llm.ChunkChoice{{Index: 0,
				Delta: llm.Delta{Content: llm.Ptr(fmt.Sprintf(" token%d", i))}, Logprobs: json.RawMessage("null")}}}
	}
	return cs
}

// maxRelayAllocsPerEvent is the allocation budget of relaying one chunk
// (receive, encode, write, flush), measured at 0.
const maxRelayAllocsPerEvent = 0.1

// TestRelayAllocationBudget: relaying a chunk allocates nothing. The
// per-event figure is the difference between a stream of 201 chunks and
// one of 1, so the per-stream setup (timers, goroutine, log line) cancels.
func TestRelayAllocationBudget(t *testing.T) {
	for _, coalesce := range []time.Duration{0, 200 * time.Microsecond} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			s, err := New(Options{Completer: failingCompleter{}, Auth: testAuth(), StreamCoalesce: coalesce})
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriterSize(io.Discard, 4096)
			one, many := benchChunks(1), benchChunks(201)
			relayOnce(s, w, many) // warm the pools
			a1 := testing.AllocsPerRun(20, func() { relayOnce(s, w, one) })
			a201 := testing.AllocsPerRun(20, func() { relayOnce(s, w, many) })
			per := (a201 - a1) / 200
			t.Logf("allocations: %.1f per stream of 1 chunk, %.1f of 201; %.3f per event", a1, a201, per)
			if per > maxRelayAllocsPerEvent {
				t.Fatalf("relaying one chunk allocates %.3f times, budget %.2f", per, maxRelayAllocsPerEvent)
			}
		})
	}
}

// maxBytesPerOpenStream bounds the heap and stack one open, idle stream
// holds in the proxy package, measured at about 53 KiB: the connection's
// 16 KiB read buffer (server.max_header_bytes, kept while the response is
// written), its 4 KiB writer, the stream writer's pipe and 4 KiB buffer, the
// request context, and three goroutine stacks (connection, stream writer,
// Recv). Set STREAM_HEAP_PROFILE=file to write a heap profile of them.
const maxBytesPerOpenStream = 64 << 10

// TestPerStreamMemoryIsBounded opens streams that each sent a first event
// and then wait, and bounds heap plus stack growth per open stream. A
// count, not a timing.
func TestPerStreamMemoryIsBounded(t *testing.T) {
	const streams = 200
	first := []*llm.Chunk{{ID: "chatcmpl-1", Object: llm.ObjectChatCompletionChunk, Model: "m-1",
		Choices: []llm.ChunkChoice{{Delta: llm.Delta{Role: "assistant", Content: llm.Ptr("")}}}}}
	release := make(chan struct{})
	c := &hangingStreamCompleter{chunks: first, release: release, end: io.EOF, made: make(chan *scriptedStream, streams)}
	h := start(t, Options{Completer: c, StreamTimeout: time.Minute})
	// Warm up: one stream through every layer, so lazily built pools and
	// caches are not counted.
	warm := h.open("POST", "/v1/chat/completions", `{"model":"auto","stream":true,"messages":[{"role":"user","content":"w"}]}`)
	br := bufio.NewReader(warm.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	<-c.made
	if os.Getenv("STREAM_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	before := heapAndStacks()
	conns := make([]net.Conn, 0, streams)
	for i := 0; i < streams; i++ {
		conns = append(conns, openRawStream(t, h))
		<-c.made
	}
	after := heapAndStacks()
	per := (int64(after) - int64(before)) / streams
	t.Logf("per open stream: %d bytes (heap in use + goroutine stacks)", per)
	if f := os.Getenv("STREAM_HEAP_PROFILE"); f != "" {
		writeHeapProfile(t, f)
	}
	for _, conn := range conns {
		conn.Close() // the streams end as their clients are gone
	}
	close(release)
	_, _ = io.Copy(io.Discard, br)
	warm.Body.Close()
	if per > maxBytesPerOpenStream {
		t.Fatalf("one open stream holds %d bytes, bound %d", per, maxBytesPerOpenStream)
	}
}

// openRawStream starts a stream on a bare connection (so that the client
// side holds next to nothing) and returns once its first event arrived.
func openRawStream(t *testing.T, h *harness) net.Conn {
	t.Helper()
	conn, err := h.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"auto","stream":true,"messages":[{"role":"user","content":"x"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	var buf [512]byte
	var got []byte
	for !bytes.Contains(got, []byte("data: ")) || !bytes.HasSuffix(got, []byte("\n\n\r\n")) {
		n, err := conn.Read(buf[:])
		if err != nil {
			t.Fatalf("reading the first event: %v (after %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return conn
}

func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// BenchmarkStreamRelay measures the relay loop alone: one stream of 200
// chunks per op, pumped into a discarding writer.
func BenchmarkStreamRelay(b *testing.B) {
	for _, coalesce := range []time.Duration{0, 200 * time.Microsecond} {
		b.Run(fmt.Sprint("coalesce=", coalesce), func(b *testing.B) {
			s, err := New(Options{Completer: failingCompleter{}, Auth: testAuth(), StreamCoalesce: coalesce})
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(io.Discard, 4096)
			cs := benchChunks(200)
			b.ReportAllocs()
			for b.Loop() {
				relayOnce(s, w, cs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*200), "ns/event")
		})
	}
}

// TestCoalescedRelayWritesTheSameBytes: holding events for a flush changes
// when bytes leave, never which.
func TestCoalescedRelayWritesTheSameBytes(t *testing.T) {
	out := map[time.Duration]string{}
	for _, coalesce := range []time.Duration{0, 5 * time.Millisecond} {
		s, err := New(Options{Completer: failingCompleter{}, Auth: testAuth(), StreamCoalesce: coalesce})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w := bufio.NewWriterSize(&b, 4096)
		relayOnce(s, w, benchChunks(300))
		out[coalesce] = b.String()
	}
	if out[0] != out[5*time.Millisecond] {
		t.Fatalf("coalesced relay wrote other bytes:\n%q\nwant\n%q", out[5*time.Millisecond], out[0])
	}
	if n := strings.Count(out[0], "data: "); n != 301 || !strings.HasSuffix(out[0], "data: [DONE]\n\n") {
		t.Fatalf("%d events, want 300 and [DONE]", n)
	}
}
