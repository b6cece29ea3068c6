package embeddings

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"llmrouter/llm"
)

// maxInFlightBatches bounds the upstream calls a Batcher runs at once; while
// all are busy, new calls queue and the next batch grows (up to maxBatch).
const maxInFlightBatches = 4

// Batcher is an Embedder decorator that merges concurrent Embed calls into
// one upstream call.
//
// The first call to arrive opens a batch; calls arriving within window join
// it until it holds maxBatch texts (a call that would overflow it opens the
// next batch; a single call larger than maxBatch is sent alone). The batch's
// texts go to next in one Embed call and each caller receives its own
// vectors. An error from next is returned to every caller of the batch.
//
// A caller whose ctx ends is released at once with KindCanceled or
// KindTimeout; the others are not affected. The upstream call's ctx has the
// latest deadline among the batch's callers (none if any caller has none)
// and is canceled when every caller of the batch has gone, or by Close.
//
// A Batcher owns one collecting goroutine and at most four upstream calls in
// flight; Close stops them. It is safe for concurrent use.
type Batcher struct {
	next     Embedder
	window   time.Duration
	maxBatch int

	in        chan *batchCall
	quit      chan struct{}
	collector chan struct{} // closed when the collector has exited
	sem       chan struct{}
	running   sync.WaitGroup
	base      context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
}

var _ Embedder = (*Batcher)(nil)

type batchCall struct {
	ctx   context.Context
	texts []string
	res   chan embedReply // buffered: delivery never blocks
}

// NewBatcher returns a Batcher over next. window <= 0 sends whatever has
// queued at once; maxBatch <= 0 means 256. Call Close when done.
func NewBatcher(next Embedder, window time.Duration, maxBatch int) *Batcher {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	base, cancel := context.WithCancel(context.Background())
	b := &Batcher{
		next: next, window: window, maxBatch: maxBatch,
		in:        make(chan *batchCall),
		quit:      make(chan struct{}),
		collector: make(chan struct{}),
		sem:       make(chan struct{}, maxInFlightBatches),
		base:      base,
		cancel:    cancel,
	}
	go b.collect()
	return b
}

// Name returns next's name: batching does not change the vectors.
func (b *Batcher) Name() string { return b.next.Name() }

// Dim returns next's dimension.
func (b *Batcher) Dim() int { return b.next.Dim() }

// Embed queues texts into the current batch and waits for its vectors.
func (b *Batcher) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	c := &batchCall{ctx: ctx, texts: slices.Clone(texts), res: make(chan embedReply, 1)}
	select {
	case b.in <- c:
	case <-ctx.Done():
		return nil, ctxError(ctx.Err())
	case <-b.quit:
		return nil, errClosed()
	}
	select {
	case r := <-c.res:
		return r.vecs, r.err
	case <-ctx.Done():
		return nil, ctxError(ctx.Err())
	}
}

// Close stops the collector, cancels upstream calls in flight and waits for
// them. Calls still queued fail with KindInternal. Close is idempotent.
func (b *Batcher) Close() {
	b.closeOnce.Do(func() {
		close(b.quit)
		b.cancel()
		<-b.collector
		b.running.Wait()
	})
}

func errClosed() *llm.Error { return llm.NewError(llm.KindInternal, "embeddings batcher is closed") }

func (b *Batcher) collect() {
	defer close(b.collector)
	var carry *batchCall
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-b.in:
			case <-b.quit:
				return
			}
		}
		batch, n := []*batchCall{first}, len(first.texts)
		var timer *time.Timer
		var timeout <-chan time.Time
		if b.window > 0 {
			timer = time.NewTimer(b.window)
			timeout = timer.C
		}
	gather:
		for n < b.maxBatch {
			var c *batchCall
			if timeout == nil { // no window: take only what is already queued
				select {
				case c = <-b.in:
				case <-b.quit:
					fail(batch, nil)
					return
				default:
					break gather
				}
			} else {
				select {
				case c = <-b.in:
				case <-timeout:
					break gather
				case <-b.quit:
					timer.Stop()
					fail(batch, nil)
					return
				}
			}
			if n+len(c.texts) > b.maxBatch {
				carry = c
				break
			}
			batch, n = append(batch, c), n+len(c.texts)
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case b.sem <- struct{}{}:
		case <-b.quit:
			fail(batch, carry)
			return
		}
		b.running.Add(1)
		go b.run(batch)
	}
}

func fail(batch []*batchCall, carry *batchCall) {
	for _, c := range batch {
		c.res <- embedReply{err: errClosed()}
	}
	if carry != nil {
		carry.res <- embedReply{err: errClosed()}
	}
}

// run sends one batch upstream and hands each live caller its vectors.
func (b *Batcher) run(batch []*batchCall) {
	defer b.running.Done()
	defer func() { <-b.sem }()

	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.res <- embedReply{err: ctxError(err)}
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := b.batchContext(live)
	defer cancel()

	var texts []string
	for _, c := range live {
		texts = append(texts, c.texts...)
	}
	vecs, err := b.next.Embed(ctx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = &llm.Error{Kind: llm.KindUpstreamError, Message: fmt.Sprintf("embedder %s returned %d vectors for %d texts", b.next.Name(), len(vecs), len(texts))}
	}
	if err != nil {
		e := llm.AsError(err)
		for _, c := range live {
			c.res <- embedReply{err: e}
		}
		return
	}
	for _, c := range live {
		c.res <- embedReply{vecs: vecs[:len(c.texts):len(c.texts)]}
		vecs = vecs[len(c.texts):]
	}
}

// batchContext derives the upstream call's context from the Batcher's: the
// latest caller deadline (none if a caller has none), canceled once every
// caller's ctx is done.
func (b *Batcher) batchContext(live []*batchCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	bounded := true
	for _, c := range live {
		d, ok := c.ctx.Deadline()
		if !ok {
			bounded = false
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithCancel(b.base)
	if bounded {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, latest)
		prev := cancel
		cancel = func() { cancelDeadline(); prev() }
	}
	remaining := int64(len(live))
	stops := make([]func() bool, 0, len(live))
	for _, c := range live {
		stops = append(stops, context.AfterFunc(c.ctx, func() {
			if atomic.AddInt64(&remaining, -1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
