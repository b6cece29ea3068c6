package router

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// Default micro-batching settings: small enough for interactive callers
// (at most 5 ms added), large enough to merge bursts of small requests.
const (
	DefaultBatchMaxItems  = 16
	DefaultBatchWindow    = 5 * time.Millisecond
	DefaultBatchMaxTokens = 8192
	// DefaultBatchMinRemaining is the deadline slack a caller needs, beyond
	// the window, to be batched: callers with less go alone.
	DefaultBatchMinRemaining = 2 * time.Second
	// batchNoDeadline bounds a merged call whose callers have no deadline.
	batchNoDeadline = 2 * time.Minute
)

// MicroBatchOptions configures synchronous micro-batching: requests that
// arrive within Window of one another and share a key (tenant, model, tier
// and every answer-changing parameter, hence one chain and one target) are
// sent upstream as one call with several inputs and answered by index.
type MicroBatchOptions struct {
	// MaxItems flushes a batch when it holds that many requests. 0 or 1
	// turns micro-batching off.
	MaxItems int
	// Window is the longest a request waits for others before its batch is
	// sent, from the moment the batch's first request arrived. 0 turns
	// micro-batching off.
	Window time.Duration
	// MaxTokens bounds a batch's estimated input tokens (4 bytes a token):
	// a request that would cross it flushes the batch first. A request
	// larger than MaxTokens on its own goes alone. Default 8192.
	MaxTokens int
	// MinRemaining is the deadline slack beyond Window that a request must
	// have to be batched; a request whose deadline is nearer goes alone.
	// Default 2 s.
	MinRemaining time.Duration
	// Registerer, when set, receives llmrouter_microbatch_size,
	// llmrouter_microbatch_wait_seconds and
	// llmrouter_microbatch_upstream_calls_saved_total, each labelled by
	// kind (embeddings, completions).
	Registerer prometheus.Registerer
}

// Enabled reports whether o batches at all.
func (o MicroBatchOptions) Enabled() bool { return o.MaxItems > 1 && o.Window > 0 }

func (o *MicroBatchOptions) applyDefaults() {
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultBatchMaxTokens
	}
	if o.MinRemaining <= 0 {
		o.MinRemaining = DefaultBatchMinRemaining
	}
}

// batchMetrics are shared by the embeddings and prompt batchers.
type batchMetrics struct {
	size  prometheus.Histogram
	wait  prometheus.Histogram
	saved prometheus.Counter
}

// newBatchMetrics builds (and registers, when reg is set) kind's metrics.
// The three collectors are vectors registered once per registry: a second
// kind reuses them.
func newBatchMetrics(reg prometheus.Registerer, kind string) (*batchMetrics, error) {
	size := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmrouter_microbatch_size",
		Help:    "Requests merged into one upstream call by the micro-batcher.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64}}, []string{"kind"})
	wait := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llmrouter_microbatch_wait_seconds",
		Help:    "Time a request waited in the micro-batcher before its batch was sent.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1}}, []string{"kind"})
	saved := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_microbatch_upstream_calls_saved_total",
		Help: "Upstream calls not made because requests were merged into one call."}, []string{"kind"})
	if reg != nil {
		var err error
		if size, err = registerOrReuse(reg, size); err != nil {
			return nil, err
		}
		if wait, err = registerOrReuse(reg, wait); err != nil {
			return nil, err
		}
		if saved, err = registerOrReuse(reg, saved); err != nil {
			return nil, err
		}
	}
	return &batchMetrics{size: size.WithLabelValues(kind).(prometheus.Histogram),
		wait: wait.WithLabelValues(kind).(prometheus.Histogram), saved: saved.WithLabelValues(kind)}, nil
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, fmt.Errorf("micro-batcher: register metrics: %w", err)
	}
	return c, nil
}

// batchItem is one caller's request waiting in a batch.
type batchItem[I, O any] struct {
	in       I
	tokens   int
	deadline time.Time // zero: none
	enqueued time.Time
	done     chan batchResult[O] // buffered 1: the flush never blocks on a caller who left
}

type batchResult[O any] struct {
	out O
	err error
	// alone asks the caller to send its request by itself: the merged call
	// was refused as invalid, which may be one item's fault.
	alone bool
}

// pendingBatch is the batch of one key being filled. Guarded by batcher.mu.
type pendingBatch[I, O any] struct {
	items  []*batchItem[I, O]
	tokens int
	timer  *time.Timer
}

// batcher collects items per key and flushes each batch on count, tokens
// or time. flush runs on its own goroutine per batch (owned by the
// batcher, bounded by the batch's deadline) and must return one output or
// error per item, or an error for all.
type batcher[I, O any] struct {
	o     MicroBatchOptions
	m     *batchMetrics
	flush func(ctx context.Context, items []I) ([]O, []error, error)

	mu      sync.Mutex
	pending map[string]*pendingBatch[I, O]
	wg      sync.WaitGroup
}

func newBatcher[I, O any](o MicroBatchOptions, m *batchMetrics,
	flush func(ctx context.Context, items []I) ([]O, []error, error)) *batcher[I, O] {
	return &batcher[I, O]{o: o, m: m, flush: flush, pending: map[string]*pendingBatch[I, O]{}}
}

// eligible reports whether a request with tokens and ctx's deadline may be
// batched: batching is on, the request fits in a batch, and its deadline
// leaves the window plus MinRemaining.
func (b *batcher[I, O]) eligible(ctx context.Context, tokens int) bool {
	if !b.o.Enabled() || tokens > b.o.MaxTokens {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) >= b.o.Window+b.o.MinRemaining
}

// submit adds in to key's batch and waits for its result or ctx's end.
// A caller never waits for the batch to be sent longer than the window.
func (b *batcher[I, O]) submit(ctx context.Context, key string, in I, tokens int) batchResult[O] {
	it := &batchItem[I, O]{in: in, tokens: tokens, enqueued: time.Now(), done: make(chan batchResult[O], 1)}
	it.deadline, _ = ctx.Deadline()

	b.mu.Lock()
	p := b.pending[key]
	if p != nil && p.tokens+tokens > b.o.MaxTokens {
		b.takeLocked(key, p) // full by tokens: send it, start another
		p = nil
	}
	if p == nil {
		p = &pendingBatch[I, O]{}
		b.pending[key] = p
		p.timer = time.AfterFunc(b.o.Window, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.pending[key] == p {
				b.takeLocked(key, p)
			}
		})
	}
	p.items = append(p.items, it)
	p.tokens += tokens
	if len(p.items) >= b.o.MaxItems || p.tokens >= b.o.MaxTokens {
		b.takeLocked(key, p)
	}
	b.mu.Unlock()

	select {
	case r := <-it.done:
		return r
	case <-ctx.Done():
		return batchResult[O]{err: llm.AsError(ctx.Err())}
	}
}

// takeLocked removes p from the map and sends it. Caller holds b.mu.
func (b *batcher[I, O]) takeLocked(key string, p *pendingBatch[I, O]) {
	delete(b.pending, key)
	p.timer.Stop()
	b.wg.Add(1)
	go b.send(p.items)
}

// send makes the merged call for items and hands each its result. The
// call's deadline is the latest of the items' deadlines (batchNoDeadline
// when one has none), so that no caller's answer is cut short by another's.
func (b *batcher[I, O]) send(items []*batchItem[I, O]) {
	defer b.wg.Done()
	now := time.Now()
	latest := time.Time{}
	noLimit := false
	for _, it := range items {
		b.m.wait.Observe(now.Sub(it.enqueued).Seconds())
		noLimit = noLimit || it.deadline.IsZero()
		if it.deadline.After(latest) {
			latest = it.deadline
		}
	}
	if noLimit {
		latest = now.Add(batchNoDeadline)
	}
	b.m.size.Observe(float64(len(items)))
	if len(items) > 1 {
		b.m.saved.Add(float64(len(items) - 1))
	}
	ctx, cancel := context.WithDeadline(context.Background(), latest)
	defer cancel()
	ins := make([]I, len(items))
	for i, it := range items {
		ins[i] = it.in
	}
	outs, errs, err := b.flush(ctx, ins)
	for i, it := range items {
		var r batchResult[O]
		switch {
		case err != nil:
			r.err = err
			r.alone = len(items) > 1 && llm.AsError(err).Kind == llm.KindInvalidRequest
		case errs != nil && errs[i] != nil:
			r.err = errs[i]
		default:
			r.out = outs[i]
		}
		it.done <- r
	}
}

// wait blocks until every in-flight batch has been answered. For tests and
// shutdown; new submissions may still arrive.
func (b *batcher[I, O]) wait() { b.wg.Wait() }
