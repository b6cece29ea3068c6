package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"llmrouter/cache"
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

// TestExactHitBytesMatchCanonical: for every recorded OpenAI chat answer
// (whole responses and streams), an exact hit written from the memoised
// bytes (JSON and SSE) is byte for byte what the canonical encoders write
// for the same cached answer with the same id and created, and each client
// gets its own id. A fixture the cache does not store (a content-filtered
// stream) must stay a miss.
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
			up := &cannedCompleter{resp: resp, chunks: chunks}
			c, err := cache.New(up, cache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			h := start(t, Options{Completer: c})
			unary := `{"model":"auto","messages":[{"role":"user","content":"fixture ` + filepath.Base(f) + `"}],"temperature":0}`
			stream := strings.Replace(unary, `"temperature":0`, `"temperature":0,"stream":true,"stream_options":{"include_usage":true}`, 1)
			prime := unary
			if chunks != nil {
				prime = stream
			}
			if r, body := h.do("POST", "/v1/chat/completions", prime); r.StatusCode != 200 || r.Header.Get("x-llmrouter-cache") != "miss" {
				t.Fatalf("prime: %d %q %s", r.StatusCode, r.Header.Get("x-llmrouter-cache"), body)
			}
			c.Wait()
			storable := resp == nil || resp.Choices[0].FinishReason != llm.FinishContentFilter
			for _, ch := range chunks {
				for _, cc := range ch.Choices {
					storable = storable && (cc.FinishReason == nil || *cc.FinishReason != llm.FinishContentFilter)
				}
			}
			for _, body := range []string{unary, stream} {
				seen := map[string]bool{}
				for range 2 {
					r, got := h.do("POST", "/v1/chat/completions", body)
					if r.StatusCode != 200 {
						t.Fatalf("status %d: %s", r.StatusCode, got)
					}
					if !storable {
						if r.Header.Get("x-llmrouter-cache") != "miss" {
							t.Fatalf("a content-filtered answer was served from the cache: %q", r.Header.Get("x-llmrouter-cache"))
						}
						continue
					}
					if r.Header.Get("x-llmrouter-cache") != "exact" {
						t.Fatalf("cache header %q, want exact", r.Header.Get("x-llmrouter-cache"))
					}
					id, created := firstIDCreated(t, got)
					if seen[id] || !strings.HasPrefix(id, "chatcmpl-cache-") {
						t.Fatalf("id %q repeated or not a fresh cache id (seen %v)", id, seen)
					}
					seen[id] = true
					want := canonicalHit(t, c, body, id, created)
					if got != want {
						t.Fatalf("memoised bytes differ from the canonical encoding\n got: %s\nwant: %s", got, want)
					}
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

// canonicalHit is what the proxy wrote for an exact hit before hits were
// memoised: the cached answer (from the cache itself, Encodings removed)
// encoded by writeJSON's encoder or, for a stream, by the chat chunk
// encoder event by event and [DONE], with the given id and created.
func canonicalHit(t *testing.T, c *cache.Cache, body, id string, created int64) string {
	t.Helper()
	var req llm.Request
	if err := llm.DecodeRequest([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	req.Tenant, req.Meta = "acme", &llm.Meta{}
	var out bytes.Buffer
	if !req.Stream {
		resp, err := c.Complete(context.Background(), &req)
		if err != nil || req.Meta.Values().Cache != llm.CacheExact {
			t.Fatalf("not an exact hit: %v %q", err, req.Meta.Values().Cache)
		}
		mustBeMemoised(t, resp.Encodings, shapeChatJSON)
		resp.Encodings, resp.ID, resp.Created = nil, id, created
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(resp); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	st, err := c.Stream(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := bufio.NewWriter(&out)
	jenc := json.NewEncoder(w)
	jenc.SetEscapeHTML(false)
	for {
		ch, err := st.Recv()
		if err != nil {
			break
		}
		mustBeMemoised(t, ch.Encodings, shapeChatSSE)
		cp := *ch
		cp.Encodings, cp.ID, cp.Created = nil, id, created
		if _, err := (chatEncoder{}).writeChunk(w, jenc, &cp, req.WantsUsage()); err != nil {
			t.Fatal(err)
		}
	}
	w.Write(sseDone)
	w.Flush()
	return out.String()
}

// mustBeMemoised fails unless e already holds a Template of shape (so the
// proxy wrote the hit from it, not from the fallback encoder).
func mustBeMemoised(t *testing.T, e *llm.Encodings, shape string) {
	t.Helper()
	if e == nil {
		t.Fatal("an exact hit carries no Encodings")
	}
	if _, ok := e.Template(shape, func(string, int64) ([]byte, error) {
		t.Fatalf("%s was not memoised by the proxy's hit", shape)
		return nil, nil
	}); !ok {
		t.Fatalf("%s did not template", shape)
	}
}
