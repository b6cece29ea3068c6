package usage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// Options configures a Recorder.
type Options struct {
	// Prices prices the records; nil prices nothing (every model unpriced).
	// SetPrices swaps it later (config reload).
	Prices *PriceTable
	// Ledger receives the records; nil => NewLedger(MaxRows).
	Ledger *Ledger
	// MaxRows bounds a ledger created here. Default 100000.
	MaxRows int
	// QueueSize bounds records waiting to be aggregated; when the queue is
	// full a record is dropped and counted, never waited for. Default 4096.
	QueueSize int
	// Now is the clock; nil => time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the usage counters; nil => not registered.
	Registerer prometheus.Registerer
}

// Recorder is an llm.Completer decorator that records the usage of every
// answer passing through it: Complete's response usage, and a stream's usage
// chunk as it passes through Recv (recorded once, when the stream ends or is
// closed). Records go through a bounded queue to one aggregating goroutine,
// so recording never blocks or fails a request.
//
// A request whose Meta says a cache answered it (llm.CacheExact or
// llm.CacheSemantic) counts as a cache hit: no upstream tokens or cost, and
// its would-be cost as savings. Place the Recorder above the cache.
//
// Recorder also forwards llm.Embedder and llm.ModelLister to next (recording
// embeddings usage); when next lacks them, Embed fails with
// KindInvalidRequest and Models returns nil. Close stops the goroutine.
type Recorder struct {
	next    llm.Completer
	prices  atomic.Pointer[PriceTable]
	ledger  *Ledger
	now     func() time.Time
	log     *slog.Logger
	m       *metrics
	queue   chan Record
	dropped atomic.Uint64

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var (
	_ llm.Completer   = (*Recorder)(nil)
	_ llm.Embedder    = (*Recorder)(nil)
	_ llm.ModelLister = (*Recorder)(nil)
)

// NewRecorder wraps next and starts the aggregating goroutine; call Close
// to stop it.
func NewRecorder(next llm.Completer, o Options) *Recorder {
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Ledger == nil {
		o.Ledger = NewLedger(o.MaxRows)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		next:   next,
		ledger: o.Ledger,
		now:    o.Now,
		log:    o.Logger,
		m:      newMetrics(o.Registerer, o.Logger),
		queue:  make(chan Record, o.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.prices.Store(o.Prices)
	go r.run()
	return r
}

// SetPrices swaps the price table for records made from now on.
func (r *Recorder) SetPrices(p *PriceTable) { r.prices.Store(p) }

// Ledger returns the ledger the recorder writes to.
func (r *Recorder) Ledger() *Ledger { return r.ledger }

// Snapshot returns the ledger for the cost dashboard, with the count of
// dropped records.
func (r *Recorder) Snapshot() Snapshot { return r.ledger.snapshot(r.now(), r.dropped.Load()) }

// Close records what is queued and stops the goroutine. Records made after
// Close are dropped and counted. Idempotent.
func (r *Recorder) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

func (r *Recorder) run() {
	defer close(r.done)
	for {
		select {
		case rec := <-r.queue:
			r.apply(rec)
		case <-r.stop:
			for {
				select {
				case rec := <-r.queue:
					r.apply(rec)
				default:
					return
				}
			}
		}
	}
}

// apply adds one record; a panic in the ledger or the metrics drops that
// record (logged with its stack) and keeps the aggregator running.
func (r *Recorder) apply(rec Record) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic in the usage recorder; record dropped", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	r.ledger.Add(rec)
	r.m.observe(&rec)
}

// record prices one answer and queues it without blocking.
func (r *Recorder) record(req meta, model string, u *llm.Usage) {
	rec := Record{Time: r.now(), Tenant: req.tenant, Model: model}
	prices := r.prices.Load()
	_, priced := prices.Lookup(model)
	rec.Unpriced = !priced
	cost := prices.Cost(model, u)
	switch c := req.meta.Values().Cache; c {
	case llm.CacheExact, llm.CacheSemantic:
		rec.CacheHit = true
		rec.SavedUSD = cost
	default:
		rec.CostUSD = cost
		if u != nil {
			rec.PromptTokens = u.PromptTokens
			rec.CompletionTokens = u.CompletionTokens
			rec.CachedTokens = u.CachedPromptTokens()
		}
	}
	select {
	case <-r.stop:
		r.drop()
		return
	default:
	}
	select {
	case r.queue <- rec:
	default:
		r.drop()
	}
}

func (r *Recorder) drop() {
	r.dropped.Add(1)
	r.m.dropped.Inc()
}

// meta is what a record needs from the request, copied so that nothing
// keeps the request after the call.
type meta struct {
	tenant string
	meta   *llm.Meta
}

// Complete forwards to next and records a successful answer's usage.
func (r *Recorder) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := r.next.Complete(ctx, req)
	if err == nil && resp != nil {
		r.record(meta{req.Tenant, req.Meta}, resp.Model, resp.Usage)
	}
	return resp, err
}

// Stream forwards to next; the returned stream records its usage once when
// it ends (io.EOF, an error, or Close).
func (r *Recorder) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s, err := r.next.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	return &stream{Stream: s, r: r, m: meta{req.Tenant, req.Meta}, model: req.Model}, nil
}

// Embed forwards to next's llm.Embedder and records the prompt tokens.
func (r *Recorder) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	e, ok := r.next.(llm.Embedder)
	if !ok {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "embeddings are not supported"}
	}
	resp, err := e.Embed(ctx, req)
	if err == nil && resp != nil {
		r.record(meta{req.Tenant, req.Meta}, resp.Model, resp.Usage)
	}
	return resp, err
}

// Models forwards to next's llm.ModelLister, or returns nil.
func (r *Recorder) Models() []string {
	if l, ok := r.next.(llm.ModelLister); ok {
		return l.Models()
	}
	return nil
}

// stream observes chunks on their way through Recv.
type stream struct {
	llm.Stream
	r     *Recorder
	m     meta
	model string // last chunk's model (the upstream that answered)
	usage *llm.Usage
	mu    sync.Mutex // guards model and usage: Close may race with Recv
	once  sync.Once
}

func (s *stream) Recv() (*llm.Chunk, error) {
	ch, err := s.Stream.Recv()
	if err != nil {
		s.mu.Lock()
		seen := s.usage != nil
		s.mu.Unlock()
		if err == io.EOF || seen {
			s.finish()
		}
		return ch, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch.Model != "" {
		s.model = ch.Model
	}
	if ch.Usage != nil {
		u := *ch.Usage
		if ch.Usage.PromptTokensDetails != nil {
			d := *ch.Usage.PromptTokensDetails
			u.PromptTokensDetails = &d
		}
		s.usage = &u
	}
	return ch, nil
}

// Close records (once) and closes the underlying stream.
func (s *stream) Close() error {
	s.finish()
	return s.Stream.Close()
}

// finish records the stream once. A stream that ended early without a usage
// chunk is recorded as a request with no known tokens.
func (s *stream) finish() {
	s.once.Do(func() {
		s.mu.Lock()
		model, u := s.model, s.usage
		s.mu.Unlock()
		s.r.record(s.m, model, u)
	})
}
