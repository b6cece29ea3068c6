package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
)

// fixtureAnswer loads a recorded OpenAI chat answer: a whole response
// (.json) or the chunks of a stream (.sse).
func fixtureAnswer(t *testing.T, path string) (*llm.Response, []*llm.Chunk) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".json") {
		var r llm.Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return &r, nil
	}
	var chunks []*llm.Chunk
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c llm.Chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		chunks = append(chunks, &c)
	}
	return nil, chunks
}

// answersWithEncodings is what the exact cache hands the proxy on a hit:
// every call gets a copy of the same answer with a fresh id and created,
// carrying the same llm.Encodings (one per answer; one per chunk index for
// a stream), as cache.Cache does (its own tests check that it does).
type answersWithEncodings struct {
	resp   *llm.Response
	chunks []*llm.Chunk

	once  sync.Once
	enc   *llm.Encodings
	encs  []*llm.Encodings
	calls atomic.Int64
}

func (a *answersWithEncodings) fresh() (string, int64) {
	n := a.calls.Add(1)
	var b [8]byte
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	return "chatcmpl-cache-" + hex.EncodeToString(b[:]), 1770000000 + n
}

func (a *answersWithEncodings) setup() {
	a.once.Do(func() {
		a.enc = new(llm.Encodings)
		for range a.chunks {
			a.encs = append(a.encs, new(llm.Encodings))
		}
	})
}

func (a *answersWithEncodings) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	a.setup()
	r := *a.resp
	r.ID, r.Created = a.fresh()
	r.Encodings = a.enc
	return &r, nil
}

func (a *answersWithEncodings) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	a.setup()
	id, created := a.fresh()
	out := make([]*llm.Chunk, len(a.chunks))
	for i, c := range a.chunks {
		cp := *c
		cp.ID, cp.Created, cp.Encodings = id, created, a.encs[i]
		out[i] = &cp
	}
	return &scriptedStream{chunks: out, end: io.EOF, closed: make(chan struct{})}, nil
}

// TestExactHitBytesMatchCanonical: for every recorded OpenAI chat answer
// (whole responses as JSON, streams as SSE), a hit written from the
// memoised bytes is byte for byte what the canonical encoders write for
// the same answer with the same id and created, and each client gets its
// own id. The first hit builds the Template; the later ones must be
// written from it.
func TestExactHitBytesMatchCanonical(t *testing.T) {
	dir := filepath.Join(llmtest.SharedDir(t), "fixtures", "openai")
	files, _ := filepath.Glob(filepath.Join(dir, "chat-*"))
	var n int
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, ".sse") || strings.HasSuffix(f, ".headers.json") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			resp, chunks := fixtureAnswer(t, f)
			up := &answersWithEncodings{resp: resp, chunks: chunks}
			h := start(t, Options{Completer: up})
			body := `{"model":"auto","messages":[{"role":"user","content":"hi"}]}`
			if chunks != nil {
				body = `{"model":"auto","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`
			}
			seen := map[string]bool{}
			for i := range 3 {
				r, got := h.do("POST", "/v1/chat/completions", body)
				if r.StatusCode != 200 {
					t.Fatalf("status %d: %s", r.StatusCode, got)
				}
				id, created := firstIDCreated(t, got)
				if seen[id] {
					t.Fatalf("id %q handed out twice", id)
				}
				seen[id] = true
				if i > 0 {
					mustBeMemoised(t, up, chunks != nil)
				}
				want := canonicalAnswer(t, resp, chunks, id, created)
				if got != want {
					t.Fatalf("memoised bytes differ from the canonical encoding\n got: %s\nwant: %s", got, want)
				}
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d chat fixtures in %s", n, dir)
	}
}

// firstIDCreated reads the id and created of a JSON answer or of the first
// event of an SSE one.
func firstIDCreated(t *testing.T, body string) (string, int64) {
	t.Helper()
	first := body
	if s, ok := strings.CutPrefix(body, "data: "); ok {
		first, _, _ = strings.Cut(s, "\n")
	}
	var v struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
	}
	if err := json.Unmarshal([]byte(first), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v.ID, v.Created
}

// canonicalAnswer is what the proxy writes for the answer without
// memoised bytes: writeJSON's encoder or, for a stream, the chat chunk
// encoder event by event and [DONE], with the given id and created.
func canonicalAnswer(t *testing.T, resp *llm.Response, chunks []*llm.Chunk, id string, created int64) string {
	t.Helper()
	var out bytes.Buffer
	if chunks == nil {
		r := *resp
		r.ID, r.Created = id, created
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	w := bufio.NewWriter(&out)
	jenc := json.NewEncoder(w)
	jenc.SetEscapeHTML(false)
	for _, c := range chunks {
		cp := *c
		cp.ID, cp.Created = id, created
		if _, err := (chatEncoder{}).writeChunk(w, jenc, &cp, true); err != nil {
			t.Fatal(err)
		}
	}
	w.Write(sseDone)
	w.Flush()
	return out.String()
}

// mustBeMemoised fails unless the answer's Encodings already hold their
// Template (so the proxy wrote the hit from it, not from the fallback).
func mustBeMemoised(t *testing.T, up *answersWithEncodings, stream bool) {
	t.Helper()
	check := func(e *llm.Encodings, shape string) {
		if _, ok := e.Template(shape, func(string, int64) ([]byte, error) {
			t.Fatalf("%s was not memoised by the proxy", shape)
			return nil, nil
		}); !ok {
			t.Fatalf("%s did not template", shape)
		}
	}
	if !stream {
		check(up.enc, llm.ShapeChatJSON)
		return
	}
	written := 0
	for i, c := range up.chunks {
		if len(c.Choices) == 0 && c.Usage == nil {
			continue // never written, so never memoised
		}
		check(up.encs[i], llm.ShapeChatSSE)
		written++
	}
	if written == 0 {
		t.Fatal("no chunk was written")
	}
}
