package cache

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
)

// answersFromScript is an upstream double: Complete returns a copy of resp
// (or err); Stream replays chunks, then ends with endErr (io.EOF for a clean
// end). It counts calls and sets Meta provider/model like the router.
type answersFromScript struct {
	resp   *llm.Response
	err    error
	chunks []*llm.Chunk
	endErr error
	calls  atomic.Int64
}

func (u *answersFromScript) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	u.calls.Add(1)
	if u.err != nil {
		return nil, u.err
	}
	resp := u.resp
	if resp == nil { // a stream script answers Complete with the whole answer
		var a assembler
		for _, c := range u.chunks {
			a.add(c)
		}
		if resp = a.response(1); resp == nil {
			return nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "incomplete script"}
		}
	}
	req.Meta.Update(func(v *llm.MetaValues) { v.Provider, v.Model = "prov-a", resp.Model })
	return cloneResponse(resp), nil
}

func (u *answersFromScript) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	u.calls.Add(1)
	if u.err != nil {
		return nil, u.err
	}
	req.Meta.Update(func(v *llm.MetaValues) { v.Provider = "prov-a" })
	end := u.endErr
	if end == nil {
		end = io.EOF
	}
	return &scriptedStream{chunks: u.chunks, end: end}, nil
}

type scriptedStream struct {
	mu     sync.Mutex
	chunks []*llm.Chunk
	end    error
}

func (s *scriptedStream) Recv() (*llm.Chunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.chunks) == 0 {
		return nil, s.end
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}
func (s *scriptedStream) Close() error { return nil }

// drain reads s to the end.
func drain(t testing.TB, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []*llm.Chunk
	for {
		c, err := s.Recv()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, c)
	}
}

// fixtureChunks parses a recorded OpenAI .sse body into chunks.
func fixtureChunks(t testing.TB, name string) []*llm.Chunk {
	t.Helper()
	b, err := os.ReadFile(llmtest.Fixture(t, "openai/"+name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	var out []*llm.Chunk
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c llm.Chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("fixture %s: %v", name, err)
		}
		out = append(out, &c)
	}
	return out
}

// vectorsByText is a test Embedder with hand-made vectors.
type vectorsByText struct {
	dim   int
	vecs  map[string][]float32
	fails atomic.Bool
	calls atomic.Int64
}

func (e *vectorsByText) Name() string { return "test-vectors" }
func (e *vectorsByText) Dim() int     { return e.dim }
func (e *vectorsByText) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	if e.fails.Load() {
		return nil, errors.New("embedder down")
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, ok := e.vecs[t]
		if !ok {
			v = make([]float32, e.dim)
			v[e.dim-1] = 1 // unknown texts point elsewhere
		}
		out[i] = v
	}
	return out, nil
}

func textResponse(text string) *llm.Response {
	return &llm.Response{ID: "chatcmpl-up", Object: llm.ObjectChatCompletion, Created: 1, Model: "gpt-x-2025",
		Choices: []llm.Choice{{Message: llm.Message{Role: "assistant", Content: llm.TextContent(text)}, FinishReason: llm.FinishStop}},
		Usage:   &llm.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}}
}

func userRequest(tenant, text string) *llm.Request {
	return &llm.Request{Model: "auto", Tenant: tenant, Tier: llm.TierSmall, Meta: &llm.Meta{},
		Messages: []llm.Message{{Role: "system", Content: llm.TextContent("be brief")}, {Role: "user", Content: llm.TextContent(text)}}}
}
