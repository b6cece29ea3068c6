package cache

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

// backend builds a Store for the shared semantic tests; second returns
// another Store instance on the same data (another replica).
type backend struct {
	name string
	open func(t *testing.T, dim int) (first Store, second func() Store)
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T, dim int) (Store, func() Store) {
			s := NewMemStore(1000)
			return s, func() Store { return s }
		}},
		{"pgvector", func(t *testing.T, dim int) (Store, func() Store) {
			db := pgtest.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := migrations.Apply(ctx, db.Pool, db.Schema); err != nil {
				t.Fatal(err)
			}
			open := func() Store {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				pool, err := pgtest.NewPool(ctx, db.URL, db.Schema)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(pool.Close)
				s, err := NewPGStore(ctx, pool, PGOptions{Dim: dim, PingInterval: 50 * time.Millisecond, Logger: testLogger(t)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Close)
				if !s.Up() {
					t.Fatal("store not up on a live database")
				}
				return s
			}
			return open(), open
		}},
	}
}

// unitAt returns a 4-d unit vector whose cosine with e1 is cos.
func unitAt(cos float64) []float32 {
	return []float32{float32(cos), float32(math.Sqrt(1 - cos*cos)), 0, 0}
}

// unitBelow is unitAt on the other side of e1, far from unitAt's vectors.
func unitBelow(cos float64) []float32 {
	v := unitAt(cos)
	v[1] = -v[1]
	return v
}

const (
	storedPrompt = "please explain how photosynthesis works in green plants"
	askedPrompt  = "could you explain how photosynthesis works in green plants"
)

func semanticOptions(emb *vectorsByText, store Store) Options {
	return Options{Exact: ExactOptions{Disabled: true}, Embedder: emb, Store: store, Logger: slog.New(slog.DiscardHandler),
		// Generous timeouts: -race on shared cores must not turn hits into misses.
		Semantic: SemanticOptions{Threshold: 0.9, FlushInterval: time.Millisecond, PurgeInterval: -1,
			SearchTimeout: 5 * time.Second, EmbedTimeout: 5 * time.Second}}
}

// waitWritten waits until the cache's writer has stored n entries.
func waitWritten(t testing.TB, c *Cache, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if gathered(t, metricsGatherer(c), "llmrouter_cache_semantic_written_total", "") >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("writer did not store %v entries within 5s", n)
}

func ask(t testing.TB, c *Cache, req *llm.Request) llm.MetaValues {
	t.Helper()
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return req.Meta.Values()
}

func TestSemantic(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("store and look up, threshold boundary", func(t *testing.T) {
				store, _ := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{
					storedPrompt:                    unitAt(1),
					askedPrompt:                     unitAt(0.9002),
					askedPrompt + " now":            unitBelow(0.8998),
					"explain photosynthesis again!": unitAt(0.95),
				}}
				up := &answersFromScript{resp: textResponse("Light, water and CO2 become sugar.")}
				c := newTestCache(t, up, semanticOptions(emb, store))
				if mv := ask(t, c, userRequest("acme", storedPrompt)); mv.Cache != llm.CacheMiss {
					t.Fatalf("first ask: %+v", mv)
				}
				waitWritten(t, c, 1)
				mv := ask(t, c, userRequest("acme", askedPrompt))
				if mv.Cache != llm.CacheSemantic || math.Abs(mv.Similarity-0.9002) > 1e-4 || mv.Provider != "prov-a" || mv.Model != "gpt-x-2025" {
					t.Fatalf("just above the threshold: %+v", mv)
				}
				if mv := ask(t, c, userRequest("acme", askedPrompt+" now")); mv.Cache != llm.CacheMiss {
					t.Fatalf("just below the threshold: %+v", mv)
				}
				// Per-alias and per-tier overrides.
				c2 := newTestCache(t, up, semanticOptions(emb, store))
				c2.o.Semantic.TierThresholds = map[llm.Tier]float64{llm.TierSmall: 0.97}
				if mv := ask(t, c2, userRequest("acme", "explain photosynthesis again!")); mv.Cache != llm.CacheMiss {
					t.Fatalf("tier threshold 0.97 ignored: %+v", mv)
				}
				c2.o.Semantic.AliasThresholds = map[string]float64{"auto": 0.94}
				if mv := ask(t, c2, userRequest("acme", "explain photosynthesis again!")); mv.Cache != llm.CacheSemantic {
					t.Fatalf("alias threshold 0.94 ignored: %+v", mv)
				}
			})

			t.Run("scope isolation", func(t *testing.T) {
				store, _ := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1), askedPrompt: unitAt(0.999)}}
				up := &answersFromScript{resp: textResponse("answer")}
				c := newTestCache(t, up, semanticOptions(emb, store))
				ask(t, c, userRequest("acme", storedPrompt))
				waitWritten(t, c, 1)
				if mv := ask(t, c, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheSemantic {
					t.Fatalf("control: same scope must hit: %+v", mv)
				}
				tests := []struct {
					name   string
					change func(r *llm.Request)
				}{
					{"another tenant", func(r *llm.Request) { r.Tenant = "globex" }},
					{"another tier", func(r *llm.Request) { r.Tier = llm.TierLarge }},
					{"another model alias", func(r *llm.Request) { r.Model = "sonnet" }},
					{"another system prompt", func(r *llm.Request) { r.Messages[0].Content = llm.TextContent("be verbose") }},
					{"a temperature", func(r *llm.Request) { r.Temperature = llm.Ptr(0.5) }},
					{"max tokens", func(r *llm.Request) { r.MaxTokens = llm.Ptr(10) }},
					{"earlier turns", func(r *llm.Request) {
						r.Messages = append([]llm.Message{{Role: "user", Content: llm.TextContent("hi")}, {Role: "assistant", Content: llm.TextContent("hello")}}, r.Messages...)
					}},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						req := userRequest("acme", askedPrompt)
						tt.change(req)
						if mv := ask(t, c, req); mv.Cache != llm.CacheMiss {
							t.Fatalf("crossed scope: %+v", mv)
						}
					})
				}
			})

			t.Run("not cacheable requests skip the semantic layer", func(t *testing.T) {
				store, _ := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{"short one": unitAt(1), "short two": unitAt(1)}}
				up := &answersFromScript{resp: textResponse("answer")}
				c := newTestCache(t, up, semanticOptions(emb, store))
				ask(t, c, userRequest("acme", "short one"))
				if mv := ask(t, c, userRequest("acme", "short two")); mv.Cache != llm.CacheBypass {
					t.Fatalf("short prompt: %+v", mv)
				}
				if emb.calls.Load() != 0 {
					t.Fatalf("embedder called %d times for uncacheable prompts", emb.calls.Load())
				}
				for name, change := range map[string]func(*llm.Request){
					"tools": func(r *llm.Request) { r.Tools = []llm.Tool{{Type: "function", Function: llm.ToolFunction{Name: "f"}}} },
					"n=2":   func(r *llm.Request) { r.N = llm.Ptr(2) },
					"hot":   func(r *llm.Request) { r.Temperature = llm.Ptr(1.5) },
					"image": func(r *llm.Request) {
						r.Messages[1].Content.Parts = []llm.ContentPart{{Type: "text", Text: storedPrompt}, {Type: "image_url", ImageURL: &llm.ImageURL{URL: "x"}}}
					},
					"tool result": func(r *llm.Request) {
						r.Messages = append(r.Messages[:1], llm.Message{Role: "tool", ToolCallID: "c", Content: llm.TextContent("42")}, r.Messages[1])
					},
				} {
					req := userRequest("acme", storedPrompt)
					change(req)
					if c.semanticEligible(req) {
						t.Errorf("%s: semantic layer would run", name)
					}
				}
			})

			t.Run("guard rejects a close pair that differs in a number", func(t *testing.T) {
				store, _ := b.open(t, 4)
				a, q := "what was the population of Berlin in 1990 exactly", "what was the population of Berlin in 2020 exactly"
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{a: unitAt(1), q: unitAt(0.999)}}
				up := &answersFromScript{resp: textResponse("3.4 million")}
				c := newTestCache(t, up, semanticOptions(emb, store))
				ask(t, c, userRequest("acme", a))
				waitWritten(t, c, 1)
				if mv := ask(t, c, userRequest("acme", q)); mv.Cache != llm.CacheMiss {
					t.Fatalf("guard let a different year hit: %+v", mv)
				}
			})

			t.Run("TTL and purge", func(t *testing.T) {
				store, _ := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1), askedPrompt: unitAt(0.999)}}
				up := &answersFromScript{resp: textResponse("answer")}
				o := semanticOptions(emb, store)
				o.Semantic.TTL = time.Hour
				o.Now = func() time.Time { return time.Now().Add(-61 * time.Minute) } // entries expire a minute ago
				c := newTestCache(t, up, o)
				ask(t, c, userRequest("acme", storedPrompt))
				waitWritten(t, c, 1)
				if mv := ask(t, c, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheMiss {
					t.Fatalf("expired entry served: %+v", mv)
				}
				// The miss's own answer is stored too (already expired, by the
				// same clock): wait for it so the purge count is deterministic.
				waitWritten(t, c, 2)
				n, err := store.Purge(context.Background(), 100)
				if err != nil || n != 2 {
					t.Fatalf("purge removed %d (%v), want the 2 expired entries", n, err)
				}
				if n, err := store.Purge(context.Background(), 100); err != nil || n != 0 {
					t.Fatalf("second purge removed %d (%v), want 0", n, err)
				}
			})

			t.Run("invalidation is seen by a second instance", func(t *testing.T) {
				store, second := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1), askedPrompt: unitAt(0.999)}}
				up := &answersFromScript{resp: textResponse("answer")}
				c1 := newTestCache(t, up, semanticOptions(emb, store))
				o2 := semanticOptions(emb, second())
				o2.Exact.Disabled = false
				c2 := newTestCache(t, up, o2)
				ask(t, c1, userRequest("acme", storedPrompt))
				ask(t, c1, userRequest("globex", storedPrompt))
				waitWritten(t, c1, 2)
				if mv := ask(t, c2, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheSemantic {
					t.Fatalf("second instance before invalidation: %+v", mv)
				}
				const other = "why do the tides follow the moon so closely?"
				ask(t, c2, userRequest("acme", other))
				c2.Wait()
				if mv := ask(t, c2, userRequest("acme", other)); mv.Cache != llm.CacheExact {
					t.Fatalf("second instance exact layer: %+v", mv)
				}
				if err := c1.Invalidate(context.Background(), "acme"); err != nil {
					t.Fatal(err)
				}
				if mv := ask(t, c2, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheMiss {
					t.Fatalf("second instance after invalidation (semantic): %+v", mv)
				}
				if mv := ask(t, c2, userRequest("acme", other)); mv.Cache != llm.CacheMiss {
					t.Fatalf("second instance after invalidation (exact): %+v", mv)
				}
				if mv := ask(t, c2, userRequest("globex", askedPrompt)); mv.Cache != llm.CacheSemantic {
					t.Fatalf("invalidating acme touched globex: %+v", mv)
				}
			})

			t.Run("NoCache request still feeds the semantic layer", func(t *testing.T) {
				store, _ := b.open(t, 4)
				emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1), askedPrompt: unitAt(0.999)}}
				up := &answersFromScript{resp: textResponse("answer")}
				c := newTestCache(t, up, semanticOptions(emb, store))
				req := userRequest("acme", storedPrompt)
				req.CacheControl.NoCache = true
				ask(t, c, req)
				waitWritten(t, c, 1)
				if mv := ask(t, c, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheSemantic {
					t.Fatalf("%+v", mv)
				}
			})
		})
	}
}

func TestSemanticEmbedderFailureIsAMiss(t *testing.T) {
	emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1)}}
	emb.fails.Store(true)
	up := &answersFromScript{resp: textResponse("answer")}
	c := newTestCache(t, up, semanticOptions(emb, nil))
	if mv := ask(t, c, userRequest("acme", storedPrompt)); mv.Cache != llm.CacheMiss {
		t.Fatalf("%+v", mv)
	}
}

func TestWriteQueueFullDropsAndCounts(t *testing.T) {
	emb := &vectorsByText{dim: 4, vecs: map[string][]float32{}}
	store := &blocksInsert{MemStore: NewMemStore(10), release: make(chan struct{})}
	up := &answersFromScript{resp: textResponse("answer")}
	o := semanticOptions(emb, store)
	o.Semantic.WriteQueue = 1
	o.Semantic.BatchSize = 1
	o.Semantic.CloseTimeout = 100 * time.Millisecond
	c := newTestCache(t, up, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			ask(t, c, userRequest("acme", storedPrompt+string(rune('a'+i))))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("requests blocked on a stuck writer")
	}
	if n := gathered(t, metricsGatherer(c), "llmrouter_cache_write_dropped_total", ""); n < 1 {
		t.Fatalf("dropped = %v", n)
	}
	close(store.release)
}

// blocksInsert is a store whose Insert hangs until released (or ctx ends).
type blocksInsert struct {
	*MemStore
	release chan struct{}
}

func (s *blocksInsert) Insert(ctx context.Context, e []Entry) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.MemStore.Insert(ctx, e)
}

func BenchmarkSemanticHitInProcess(b *testing.B) {
	emb := &vectorsByText{dim: 256, vecs: map[string][]float32{}}
	base := make([]float32, 256)
	base[0] = 1
	emb.vecs[storedPrompt] = base
	near := make([]float32, 256)
	near[0], near[1] = 0.99, 0.141
	emb.vecs[askedPrompt] = near
	up := &answersFromScript{resp: textResponse("answer")}
	o := semanticOptions(emb, nil)
	c := newTestCache(b, up, o)
	ask(b, c, userRequest("acme", storedPrompt))
	waitWritten(b, c, 1)
	req := userRequest("acme", askedPrompt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Complete(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	if up.calls.Load() != 1 {
		b.Fatalf("upstream calls %d", up.calls.Load())
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
