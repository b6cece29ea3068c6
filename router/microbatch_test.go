package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
	fakehttp "llmrouter/provider/fake"
	"llmrouter/provider/openai"
)

// batchRig is a Router over one OpenAI-compatible fake (prompt arrays
// accepted) with both micro-batchers in front of it.
type batchRig struct {
	up      *fakehttp.Server
	router  *Router
	embed   *EmbedBatcher
	prompts *PromptBatcher
	reg     *prometheus.Registry
}

func newBatchRig(t *testing.T, o MicroBatchOptions, fo fakehttp.OpenAIOptions) *batchRig {
	t.Helper()
	up := fakehttp.Start(t, fakehttp.OpenAI(fo))
	c, err := openai.New(openai.Options{Name: "o", BaseURL: up.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	r := e2eRouter(t, []Target{{Provider: "o", Model: "m-up", PromptArrays: true}}, map[string]llm.Completer{"o": c})
	rig := &batchRig{up: up, router: r, reg: prometheus.NewRegistry()}
	o.Registerer = rig.reg
	if rig.embed, err = NewEmbedBatcher(r, o); err != nil {
		t.Fatal(err)
	}
	if rig.prompts, err = NewPromptBatcher(r, r, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rig.embed.Wait(); rig.prompts.Wait() })
	return rig
}

func legacyReq(prompt string) *llm.Request {
	return &llm.Request{Model: "m", LegacyPrompt: true, Meta: &llm.Meta{}, Tenant: "t",
		Messages: []llm.Message{{Role: "user", Content: llm.TextContent(prompt)}}}
}

func embedReq(inputs ...string) *llm.EmbeddingRequest {
	return &llm.EmbeddingRequest{Model: "m", Input: inputs, Tenant: "t", Meta: &llm.Meta{}}
}

// TestMicroBatchFanOut: concurrent callers with marker inputs each get
// exactly their own vectors or completion, in far fewer upstream calls.
func TestMicroBatchFanOut(t *testing.T) {
	const n = 64
	cases := []struct {
		name string
		call func(rig *batchRig, i int) error
	}{
		{"embeddings", func(rig *batchRig, i int) error {
			in := []string{fmt.Sprintf("marker-%d-a", i)}
			if i%3 == 0 { // some callers send two inputs
				in = append(in, fmt.Sprintf("marker-%d-b", i))
			}
			req := embedReq(in...)
			resp, err := rig.embed.Embed(context.Background(), req)
			if err != nil {
				return err
			}
			if len(resp.Data) != len(in) || resp.Usage == nil {
				return fmt.Errorf("got %d vectors for %d inputs, usage %v", len(resp.Data), len(in), resp.Usage)
			}
			for j, d := range resp.Data {
				want := fakehttp.Vector(in[j], 8)
				if d.Index != j || fmt.Sprint(d.Embedding) != fmt.Sprint(want) {
					return fmt.Errorf("vector %d is not the one of %q", j, in[j])
				}
			}
			if m := req.Meta.Values(); m.Provider != "o" || m.Attempts != 1 {
				return fmt.Errorf("meta %+v", m)
			}
			return nil
		}},
		{"completions", func(rig *batchRig, i int) error {
			marker := fmt.Sprintf("marker-%d", i)
			resp, err := rig.prompts.Complete(context.Background(), legacyReq(marker))
			if err != nil {
				return err
			}
			if len(resp.Choices) != 1 || text(resp) != "echo: "+marker || resp.Usage == nil {
				return fmt.Errorf("caller %s got %+v", marker, resp.Choices)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newBatchRig(t, MicroBatchOptions{MaxItems: 16, Window: 20 * time.Millisecond}, fakehttp.OpenAIOptions{})
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) { defer wg.Done(); errs[i] = tc.call(rig, i) }(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			if got := rig.up.Requests(); got >= n/2 {
				t.Fatalf("%d upstream calls for %d callers: not batched", got, n)
			}
			saved := counterValue(t, rig.reg, "llmrouter_microbatch_upstream_calls_saved_total")
			if int(saved) != n-rig.up.Requests() {
				t.Fatalf("saved %v, want %d", saved, n-rig.up.Requests())
			}
			if counterValue(t, rig.reg, "llmrouter_microbatch_wait_seconds") != n {
				t.Fatal("every caller's wait must be observed")
			}
		})
	}
}

// TestMicroBatchBadItem: one bad item in a batch gets its own error; the
// others succeed.
func TestMicroBatchBadItem(t *testing.T) {
	fo := fakehttp.OpenAIOptions{RejectInput: func(s string) bool { return strings.Contains(s, "bad") }}
	cases := []struct {
		name string
		call func(rig *batchRig, in string) (string, error)
	}{
		{"embeddings", func(rig *batchRig, in string) (string, error) {
			resp, err := rig.embed.Embed(context.Background(), embedReq(in))
			if err != nil {
				return "", err
			}
			return fmt.Sprint(resp.Data[0].Embedding), nil
		}},
		{"completions", func(rig *batchRig, in string) (string, error) {
			resp, err := rig.prompts.Complete(context.Background(), legacyReq(in))
			if err != nil {
				return "", err
			}
			return text(resp), nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newBatchRig(t, MicroBatchOptions{MaxItems: 8, Window: 50 * time.Millisecond}, fo)
			const n = 8
			var wg sync.WaitGroup
			outs, errs := make([]string, n), make([]error, n)
			for i := 0; i < n; i++ {
				in := fmt.Sprintf("good-%d", i)
				if i == 3 {
					in = "bad-3"
				}
				wg.Add(1)
				go func(i int) { defer wg.Done(); outs[i], errs[i] = tc.call(rig, in) }(i)
			}
			wg.Wait()
			for i := 0; i < n; i++ {
				if i == 3 {
					if e := asLLM(t, errs[i]); e.Kind != llm.KindInvalidRequest {
						t.Fatalf("bad item: %v", e)
					}
					continue
				}
				if errs[i] != nil || outs[i] == "" {
					t.Fatalf("good item %d: %v", i, errs[i])
				}
			}
		})
	}
}

// TestMicroBatchBounds: a lone caller waits at most the window plus the
// upstream time; a caller whose deadline is near goes alone at once; the
// token bound splits batches; 0 turns batching off.
func TestMicroBatchBounds(t *testing.T) {
	t.Run("lone caller waits at most the window", func(t *testing.T) {
		window := 100 * time.Millisecond
		rig := newBatchRig(t, MicroBatchOptions{MaxItems: 100, Window: window}, fakehttp.OpenAIOptions{})
		// The upstream time, measured alone (not batched: no deadline slack).
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := rig.embed.Embed(short, embedReq("warm")); err != nil {
			t.Fatal(err)
		}
		upstream := time.Since(start)
		start = time.Now()
		if _, err := rig.embed.Embed(context.Background(), embedReq("alone")); err != nil {
			t.Fatal(err)
		}
		// Generous: a loaded CI machine may stall, but never by seconds.
		if got, limit := time.Since(start), window+upstream+2*time.Second; got > limit {
			t.Fatalf("waited %v, more than window + upstream (%v)", got, limit)
		}
		if counterValue(t, rig.reg, "llmrouter_microbatch_size") != 1 {
			t.Fatal("the near-deadline caller must not have been batched; the other must")
		}
	})
	t.Run("token bound splits batches", func(t *testing.T) {
		rig := newBatchRig(t, MicroBatchOptions{MaxItems: 100, Window: 30 * time.Millisecond, MaxTokens: 40}, fakehttp.OpenAIOptions{})
		var wg sync.WaitGroup
		long := strings.Repeat("x", 60) // 16 tokens each: two fit, a third does not
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if _, err := rig.embed.Embed(context.Background(), embedReq(fmt.Sprint(long, i))); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if got := rig.up.Requests(); got < 3 {
			t.Fatalf("%d upstream calls: batches must hold at most 40 tokens", got)
		}
	})
	t.Run("zero window is off", func(t *testing.T) {
		rig := newBatchRig(t, MicroBatchOptions{MaxItems: 16}, fakehttp.OpenAIOptions{})
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if _, err := rig.prompts.Complete(context.Background(), legacyReq(fmt.Sprint("p", i))); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if rig.up.Requests() != 5 {
			t.Fatalf("%d upstream calls, want 5", rig.up.Requests())
		}
	})
	t.Run("chat is never batched", func(t *testing.T) {
		rig := newBatchRig(t, MicroBatchOptions{MaxItems: 16, Window: 20 * time.Millisecond}, fakehttp.OpenAIOptions{})
		req := legacyReq("hello")
		req.LegacyPrompt = false
		resp, err := rig.prompts.Complete(context.Background(), req)
		if err != nil || text(resp) != "echo: hello" {
			t.Fatal(resp, err)
		}
		if counterValue(t, rig.reg, "llmrouter_microbatch_size") != 0 {
			t.Fatal("chat went through the batcher")
		}
	})
}
