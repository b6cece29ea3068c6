package embeddings

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
)

// countsCalls embeds with Lexical and records the size of every call.
type countsCalls struct {
	mu    sync.Mutex
	sizes []int
	lex   *Lexical
	err   error         // returned instead of vectors when set
	block chan struct{} // when set, calls wait for it (or ctx)
}

func (c *countsCalls) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(texts))
	c.mu.Unlock()
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return nil, ctxError(ctx.Err())
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return c.lex.Embed(ctx, texts)
}
func (c *countsCalls) Name() string { return "counts" }
func (c *countsCalls) Dim() int     { return c.lex.Dim() }
func (c *countsCalls) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

func TestBatcherMergesConcurrentCalls(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	next := &countsCalls{lex: NewLexical(64)}
	// a window far longer than the test: the batch is sent when it is full
	b := NewBatcher(next, time.Hour, 10)
	defer b.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Go(func() {
			texts := []string{fmt.Sprintf("question %d", i), fmt.Sprintf("other %d", i)}
			vs, err := b.Embed(context.Background(), texts)
			if err != nil {
				errs <- err
				return
			}
			want, _ := NewLexical(64).Embed(context.Background(), texts)
			for j := range texts {
				if !equalVec(vs[j], want[j]) {
					errs <- fmt.Errorf("caller %d got another caller's vector %d", i, j)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := next.calls(); len(got) != 1 || got[0] != 10 {
		t.Errorf("upstream calls = %v, want one call of 10 texts", got)
	}
	if b.Name() != "counts" || b.Dim() != 64 {
		t.Errorf("Name, Dim = %q, %d", b.Name(), b.Dim())
	}
}

func TestBatcherSplitsAtMaxBatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	next := &countsCalls{lex: NewLexical(16)}
	b := NewBatcher(next, 0, 3)
	defer b.Close()
	big := []string{"a", "b", "c", "d", "e"}
	vs, err := b.Embed(context.Background(), big)
	if err != nil || len(vs) != 5 {
		t.Fatalf("Embed = %d vectors, %v", len(vs), err)
	}
	if got := next.calls(); len(got) != 1 || got[0] != 5 {
		t.Errorf("upstream calls = %v, want the oversized call sent alone", got)
	}
}

func TestBatcherErrorReachesEveryCaller(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	boom := &llm.Error{Kind: llm.KindUpstreamRateLimited, Message: "slow down"}
	next := &countsCalls{lex: NewLexical(16), err: boom}
	b := NewBatcher(next, time.Hour, 3)
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			_, err := b.Embed(context.Background(), []string{fmt.Sprint(i)})
			if !errors.Is(err, boom) {
				t.Errorf("caller %d: err = %v, want the upstream error", i, err)
			}
		})
	}
	wg.Wait()
	if got := next.calls(); len(got) != 1 {
		t.Errorf("upstream calls = %v, want 1", got)
	}
}

func TestBatcherCancelReleasesOnlyThatCaller(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	next := &countsCalls{lex: NewLexical(16), block: make(chan struct{})}
	b := NewBatcher(next, time.Hour, 2)
	defer b.Close()

	ctxA, cancelA := context.WithCancel(context.Background())
	resA := make(chan error, 1)
	resB := make(chan error, 1)
	go func() { _, err := b.Embed(ctxA, []string{"a"}); resA <- err }()
	go func() { _, err := b.Embed(context.Background(), []string{"b"}); resB <- err }()
	// both are in one batch, now blocked upstream
	waitFor(t, func() bool { return len(next.calls()) == 1 })
	cancelA()
	select {
	case err := <-resA:
		if llm.AsError(err).Kind != llm.KindCanceled {
			t.Errorf("A: err = %v, want KindCanceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("canceled caller was not released")
	}
	select {
	case err := <-resB:
		t.Fatalf("B returned before the upstream answered: %v", err)
	default:
	}
	close(next.block)
	select {
	case err := <-resB:
		if err != nil {
			t.Errorf("B: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B never answered")
	}
}

func TestBatcherUpstreamCanceledWhenAllCallersLeave(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	next := &countsCalls{lex: NewLexical(16), block: make(chan struct{})}
	defer close(next.block)
	b := NewBatcher(next, 0, 8)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Embed(ctx, []string{"x"})
	if llm.AsError(err).Kind != llm.KindTimeout {
		t.Fatalf("err = %v, want KindTimeout", err)
	}
	// Close returns only when the upstream call has ended: it was canceled
	// with its last caller, not left blocked on next.block.
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}

func TestBatcherClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // fasthttp pools of other tests may linger
	next := &countsCalls{lex: NewLexical(16)}
	b := NewBatcher(next, time.Hour, 100)
	res := make(chan error, 1)
	go func() { _, err := b.Embed(context.Background(), []string{"queued"}); res <- err }()
	time.Sleep(10 * time.Millisecond) // let the call reach the open batch
	b.Close()
	b.Close() // idempotent
	if err := <-res; llm.AsError(err).Kind != llm.KindInternal {
		t.Errorf("queued call: err = %v, want KindInternal (closed)", err)
	}
	if _, err := b.Embed(context.Background(), []string{"late"}); llm.AsError(err).Kind != llm.KindInternal {
		t.Errorf("after Close: err = %v", err)
	}
	if len(next.calls()) != 0 {
		t.Errorf("upstream called %v", next.calls())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkBatcherLexical(b *testing.B) {
	bt := NewBatcher(NewLexical(0), 200*time.Microsecond, 64)
	defer bt.Close()
	texts := []string{"How do I reverse a string in Python without slicing?"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bt.Embed(context.Background(), texts); err != nil {
				b.Error(err)
			}
		}
	})
}
