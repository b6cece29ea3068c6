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
	// SetPricing swaps it later (config reload).
	Prices *PriceTable
	// Baseline is the upstream model a routed request (model "auto") is
	// compared with: each routed miss records what Baseline would have
	// charged for the same tokens, so savings from routing show next to
	// savings from caching. "" records no baseline.
	Baseline string
	// Store keeps the records; nil => NewMemoryStore(MaxRows).
	Store Store
	// MaxRows bounds a memory store created here. Default 100000.
	MaxRows int
	// QueueSize bounds records waiting to be written; when the queue is
	// full a record is dropped and counted, never waited for. Default 4096.
	QueueSize int
	// BatchSize is the most records written in one Store.Write. Default 512.
	BatchSize int
	// FlushInterval is the longest a record waits before being written.
	// Default 1s.
	FlushInterval time.Duration
	// WriteTimeout bounds one Store.Write. Default 5s.
	WriteTimeout time.Duration
	// MaxPending bounds records kept for a retry while the store fails
	// (database down); beyond it the oldest are dropped and counted.
	// Default 16 * BatchSize.
	MaxPending int
	// RetentionInterval is how often a store with retention (PGStore)
	// purges old rows. Default 1h.
	RetentionInterval time.Duration
	// OnRecord, when set, sees every record on the recorder's goroutine
	// (budgets count spend with it). It must be fast and must not keep r.
	OnRecord func(r *Record)
	// Redact, when set, rewrites the model name of a failed request before
	// it is recorded (ledger and metric labels): that name is what the
	// client sent, and a client may send a secret in it. Successful
	// records carry the upstream's model name and are not rewritten.
	Redact func(string) string
	// Now is the clock; nil => time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the usage counters; nil => not registered.
	Registerer prometheus.Registerer
}

// pricing is the swappable price snapshot.
type pricing struct {
	table    *PriceTable
	baseline string
}

// Recorder is an llm.Completer decorator that records the usage of every
// request passing through it: Complete's response usage, a stream's usage
// chunk as it passes through Recv (recorded once, when the stream ends or
// is closed), and failed calls as errors. It prices answers synchronously
// (integer arithmetic) and puts the cost in req.Meta, so the proxy can send
// x-llmrouter-cost-usd; records then go through a bounded queue to one
// goroutine that writes them to the Store in batches, so recording never
// blocks or fails a request.
//
// A request whose Meta says a cache answered it (llm.CacheExact or
// llm.CacheSemantic) counts as a cache hit: no upstream tokens or cost, and
// its would-be cost as savings. Place the Recorder above the cache.
//
// Recorder also forwards llm.Embedder and llm.ModelLister to next (recording
// embeddings usage); when next lacks them, Embed fails with
// KindInvalidRequest and Models returns nil. Close drains the queue.
type Recorder struct {
	next    llm.Completer
	pricing atomic.Pointer[pricing]
	store   Store
	o       Options
	log     *slog.Logger
	m       *metrics
	queue   chan Record
	dropped atomic.Uint64
	warned  sync.Map // model -> struct{}: unpriced warning logged

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

var (
	_ llm.Completer   = (*Recorder)(nil)
	_ llm.Embedder    = (*Recorder)(nil)
	_ llm.ModelLister = (*Recorder)(nil)
)

// NewRecorder wraps next and starts the writing goroutine; call Close to
// drain and stop it.
func NewRecorder(next llm.Completer, o Options) *Recorder {
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 16 * o.BatchSize
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Hour
	}
	if o.Store == nil {
		o.Store = NewMemoryStore(o.MaxRows)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		next:  next,
		store: o.Store,
		o:     o,
		log:   o.Logger,
		m:     newMetrics(o.Registerer, o.Logger),
		queue: make(chan Record, o.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	r.pricing.Store(&pricing{table: o.Prices, baseline: o.Baseline})
	go r.run()
	return r
}

// SetPricing swaps the price table and baseline model for records made
// from now on.
func (r *Recorder) SetPricing(p *PriceTable, baseline string) {
	r.pricing.Store(&pricing{table: p, baseline: baseline})
}

// Prices returns the current price table.
func (r *Recorder) Prices() *PriceTable { return r.pricing.Load().table }

// Store returns the store the recorder writes to.
func (r *Recorder) Store() Store { return r.store }

// Dropped returns how many records were lost (queue full, or the store
// failing for longer than MaxPending records).
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Report answers q from the store. Records still queued are not in it.
func (r *Recorder) Report(ctx context.Context, q Query) (*Report, error) {
	return Run(ctx, r.store, q)
}

// Close writes everything queued (within WriteTimeout per batch) and stops
// the goroutine. Records made after Close are dropped and counted.
// Idempotent.
func (r *Recorder) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.o.FlushInterval)
	defer tick.Stop()
	var batch []Record
	lastRetain := r.o.Now()
	for {
		select {
		case rec := <-r.queue:
			batch = r.add(batch, rec)
			if len(batch) >= r.o.BatchSize {
				batch = r.flush(batch)
			}
		case <-tick.C:
			batch = r.flush(batch)
			if now := r.o.Now(); now.Sub(lastRetain) >= r.o.RetentionInterval {
				lastRetain = now
				r.retain(now)
			}
		case <-r.stop:
			for {
				select {
				case rec := <-r.queue:
					batch = r.add(batch, rec)
					if len(batch) >= r.o.BatchSize {
						batch = r.flush(batch)
					}
					continue
				default:
				}
				break
			}
			if batch = r.flush(batch); len(batch) > 0 {
				r.log.Error("usage: records lost at shutdown: the store did not accept them", "records", len(batch))
				r.dropN(len(batch))
			}
			return
		}
	}
}

// add observes one record and appends it to batch; a panic in the
// metrics or the OnRecord hook is logged with its stack and keeps the
// writer running (the record is still written).
func (r *Recorder) add(batch []Record, rec Record) (out []Record) {
	out = append(batch, rec)
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic in the usage recorder", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	r.m.observe(&rec)
	if r.o.OnRecord != nil {
		r.o.OnRecord(&rec)
	}
	return out
}

// flush writes batch in chunks of BatchSize and returns what is left for a
// retry (nil on success), trimmed to MaxPending.
func (r *Recorder) flush(batch []Record) []Record {
	for len(batch) > 0 {
		n := min(len(batch), r.o.BatchSize)
		ctx, cancel := context.WithTimeout(context.Background(), r.o.WriteTimeout)
		err := r.store.Write(ctx, batch[:n])
		cancel()
		if err != nil {
			r.m.writeErrors.Inc()
			r.log.Warn("usage: writing the ledger failed; will retry", "records", len(batch), "err", err)
			if over := len(batch) - r.o.MaxPending; over > 0 {
				r.dropN(over)
				batch = batch[over:]
			}
			return batch
		}
		r.m.written.Add(float64(n))
		batch = batch[n:]
	}
	return nil
}

func (r *Recorder) retain(now time.Time) {
	type retainer interface {
		Retain(ctx context.Context, now time.Time) error
	}
	if rs, ok := r.store.(retainer); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*r.o.WriteTimeout)
		defer cancel()
		if err := rs.Retain(ctx, now); err != nil {
			r.log.Warn("usage: retention purge failed", "err", err)
		}
	}
}

func (r *Recorder) dropN(n int) {
	r.dropped.Add(uint64(n))
	r.m.dropped.Add(float64(n))
}

// price fills the cost fields of rec from its tokens and model.
func (r *Recorder) price(rec *Record) {
	p := r.pricing.Load()
	rec.CostMicro, rec.Priced = p.table.Cost(rec.Model, rec.Tokens)
	if rec.Batch && !rec.CacheHit {
		rec.CostMicro, rec.Priced = p.table.BatchCost(rec.Model, rec.Tokens)
	}
	if !rec.Priced && rec.Model != "" {
		if _, seen := r.warned.LoadOrStore(rec.Model, struct{}{}); !seen {
			r.log.Warn("usage: model has no price; its usage is shown as unpriced, not as free", "model", rec.Model)
		}
	}
	if rec.CacheHit {
		rec.SavedCacheMicro, rec.CostMicro = rec.CostMicro, 0
		return
	}
	if rec.Routed && p.baseline != "" {
		rec.BaselineMicro, _ = p.table.Cost(p.baseline, rec.Tokens)
	}
}

// Record records the usage of an answer to req that did not pass through
// Complete: a batch job line answered from the cache, or through a
// provider's batch API when batch is true (priced with the model's
// BatchDiscount). Like Complete's recording it never blocks.
func (r *Recorder) Record(req *llm.Request, resp *llm.Response, batch bool) {
	if resp == nil {
		return
	}
	rec := r.newRecord(req, r.o.Now())
	rec.Batch = batch
	u := resp.Usage
	if u == nil {
		u = estimate(req, responseText(resp))
		rec.Estimated = true
	}
	r.finishRecord(req, rec, resp.Model, u, nil)
}

// newRecord starts the record of one request from what it carries.
func (r *Recorder) newRecord(req *llm.Request, start time.Time) Record {
	mv := req.Meta.Values()
	rec := Record{Time: start, Tenant: req.Tenant, Key: req.KeyID, Model: req.Model, Provider: mv.Provider, Tier: mv.Tier.String()}
	rec.Routed = mv.Tier != llm.TierUnset
	rec.CacheHit = mv.Cache == llm.CacheExact || mv.Cache == llm.CacheSemantic
	if rec.CacheHit {
		rec.Provider = ""
	}
	return rec
}

// finishRecord prices rec for model and usage u, stores the cost in meta
// and queues rec without blocking.
func (r *Recorder) finishRecord(req *llm.Request, rec Record, model string, u *llm.Usage, err error) {
	if err != nil {
		rec.Error = true
		if mv := req.Meta.Values(); mv.Model != "" {
			rec.Model = mv.Model
		} else if r.o.Redact != nil {
			rec.Model = r.o.Redact(rec.Model)
		}
		r.enqueue(rec)
		return
	}
	if model != "" {
		rec.Model = model
	}
	if u != nil {
		rec.Tokens = TokensOf(u)
	}
	r.price(&rec)
	cost, priced := rec.CostMicro, rec.Priced
	// The request log and the trace read the cost from Meta too.
	usd := func(m int64) float64 { return float64(m) / 1e6 }
	saved, base := rec.SavedCacheMicro, rec.BaselineMicro
	req.Meta.Update(func(v *llm.MetaValues) {
		v.CostMicroUSD, v.Priced, v.Costed = cost, priced, true
		v.CostUSD, v.SavedUSD, v.BaselineUSD = usd(cost), usd(saved), usd(base)
	})
	r.enqueue(rec)
}

func (r *Recorder) enqueue(rec Record) {
	select {
	case <-r.stop:
		r.dropN(1)
		return
	default:
	}
	select {
	case r.queue <- rec:
	default:
		r.dropN(1)
	}
}

// Complete forwards to next and records the answer's usage (or the error).
func (r *Recorder) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	start := r.o.Now()
	resp, err := r.next.Complete(ctx, req)
	rec := r.newRecord(req, start)
	rec.Latency = r.o.Now().Sub(start)
	rec.TTFT = rec.Latency
	if err != nil || resp == nil {
		r.finishRecord(req, rec, "", nil, errOr(err))
		return resp, err
	}
	u := resp.Usage
	if u == nil {
		u = estimate(req, responseText(resp))
		rec.Estimated = true
	}
	_, sp := llm.StartSpan(ctx, llm.SpanLedgerWrite)
	r.finishRecord(req, rec, resp.Model, u, nil)
	sp.End()
	return resp, nil
}

func errOr(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Stream forwards to next; the returned stream records its usage once when
// it ends (io.EOF, an error, or Close).
func (r *Recorder) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	start := r.o.Now()
	s, err := r.next.Stream(ctx, req)
	if err != nil {
		rec := r.newRecord(req, start)
		rec.Latency = r.o.Now().Sub(start)
		r.finishRecord(req, rec, "", nil, err)
		return nil, err
	}
	return &stream{Stream: s, r: r, req: req, start: start}, nil
}

// Embed forwards to next's llm.Embedder and records the prompt tokens.
func (r *Recorder) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	e, ok := r.next.(llm.Embedder)
	if !ok {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "embeddings are not supported"}
	}
	start := r.o.Now()
	resp, err := e.Embed(ctx, req)
	creq := &llm.Request{Model: req.Model, Tenant: req.Tenant, KeyID: req.KeyID, Meta: req.Meta}
	rec := r.newRecord(creq, start)
	rec.Latency = r.o.Now().Sub(start)
	rec.TTFT = rec.Latency
	if err != nil || resp == nil {
		r.finishRecord(creq, rec, "", nil, errOr(err))
		return resp, err
	}
	r.finishRecord(creq, rec, resp.Model, resp.Usage, nil)
	return resp, nil
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
	req   *llm.Request
	start time.Time

	mu    sync.Mutex // guards the fields below: Close may race with Recv
	model string     // last chunk's model (the upstream that answered)
	usage *llm.Usage
	ttft  time.Duration
	chars int // streamed text, for an estimate when no usage arrives
	err   error
	once  sync.Once
}

func (s *stream) Recv() (*llm.Chunk, error) {
	ch, err := s.Stream.Recv()
	if err != nil {
		s.mu.Lock()
		if err != io.EOF && s.usage == nil {
			s.err = err
		}
		s.mu.Unlock()
		s.finish()
		return ch, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ttft == 0 && len(ch.Choices) > 0 {
		s.ttft = max(s.r.o.Now().Sub(s.start), time.Nanosecond)
	}
	if ch.Model != "" {
		s.model = ch.Model
	}
	for i := range ch.Choices {
		if c := ch.Choices[i].Delta.Content; c != nil {
			s.chars += len(*c)
		}
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

// finish records the stream once. A stream that ended without a usage
// chunk gets estimated tokens, marked as estimated.
func (s *stream) finish() {
	s.once.Do(func() {
		s.mu.Lock()
		model, u, ttft, chars, err := s.model, s.usage, s.ttft, s.chars, s.err
		s.mu.Unlock()
		rec := s.r.newRecord(s.req, s.start)
		rec.Latency = s.r.o.Now().Sub(s.start)
		rec.TTFT = ttft
		if ttft == 0 {
			rec.TTFT = rec.Latency
		}
		if err != nil && u == nil && chars == 0 {
			s.r.finishRecord(s.req, rec, model, nil, err)
			return
		}
		if u == nil {
			u = estimateChars(s.req, chars)
			rec.Estimated = true
		}
		s.r.finishRecord(s.req, rec, model, u, nil)
	})
}

// estimate guesses usage at four characters a token when the upstream
// reported none.
func estimate(req *llm.Request, completion string) *llm.Usage {
	return estimateChars(req, len(completion))
}

func estimateChars(req *llm.Request, completionChars int) *llm.Usage {
	prompt := 0
	for i := range req.Messages {
		prompt += len(req.Messages[i].Content.Text())
	}
	p, c := (prompt+3)/4, (completionChars+3)/4
	return &llm.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}
}

func responseText(resp *llm.Response) string {
	if len(resp.Choices) == 0 {
		return ""
	}
	return resp.Choices[0].Message.Content.Text()
}
