// Package reqlog is the request log: one row per request (what was asked,
// how it was routed, which cache layer answered, every upstream attempt,
// tokens, cost, status and latency), written off the hot path in batches to
// Postgres, or kept in memory (bounded) without a database, and queried by
// GET /admin/requests and the dashboard's Requests view.
package reqlog

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// Store keeps request-log rows. Implementations must be safe for
// concurrent use.
type Store interface {
	// Insert adds rows. It must honour ctx.
	Insert(ctx context.Context, rows []llm.RequestRecord) error
	// Query returns at most q.limit()+1 rows matching q, newest first.
	Query(ctx context.Context, q Query) ([]llm.RequestRecord, error)
	// Purge deletes rows older than before and returns how many.
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// Options configure a Log. Zero values take the defaults.
type Options struct {
	// Store receives the rows; nil => NewMemStore(MaxRows).
	Store Store
	// MaxRows bounds a memory store created here. Default 10000.
	MaxRows int
	// QueueSize bounds rows waiting to be written; when it is full a row is
	// dropped and counted, never waited for. Default 4096.
	QueueSize int
	// BatchSize is the most rows written at once. Default 256.
	BatchSize int
	// FlushInterval is the longest a row waits for its batch. Default 1 s.
	FlushInterval time.Duration
	// WriteTimeout bounds one batch write. Default 5 s.
	WriteTimeout time.Duration
	// Retention deletes rows older than this, checked every
	// PurgeInterval. 0 keeps rows (a memory store stays bounded by MaxRows).
	Retention     time.Duration
	PurgeInterval time.Duration // default 10 minutes
	// Now is the clock; nil => time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Log is the request log's writer and reader. Record queues a row without
// blocking; one goroutine writes batches. Close flushes and stops it.
type Log struct {
	o       Options
	store   Store
	queue   chan llm.RequestRecord
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64

	mDropped prometheus.Counter
	mErrors  prometheus.Counter
	mWritten prometheus.Counter
}

// New starts a Log; call Close to stop it.
func New(o Options) (*Log, error) {
	if o.MaxRows <= 0 {
		o.MaxRows = 10000
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.PurgeInterval <= 0 {
		o.PurgeInterval = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil {
		o.Store = NewMemStore(o.MaxRows)
	}
	l := &Log{
		o: o, store: o.Store,
		queue: make(chan llm.RequestRecord, o.QueueSize),
		stop:  make(chan struct{}), done: make(chan struct{}),
		mDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_request_log_dropped_total",
			Help: "Request-log rows dropped because the write queue was full or the store failed."}),
		mErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_request_log_write_errors_total",
			Help: "Request-log batch writes that failed."}),
		mWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_request_log_rows_total",
			Help: "Request-log rows written."}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{l.mDropped, l.mErrors, l.mWritten} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	go l.run()
	return l, nil
}

// Record queues r. It never blocks: with the queue full (or after Close)
// the row is dropped and counted. r must not be modified afterwards.
func (l *Log) Record(r llm.RequestRecord) {
	r.Time = r.Time.Truncate(time.Microsecond) // Postgres precision, so cursors agree
	select {
	case <-l.stop:
		l.drop(1)
		return
	default:
	}
	select {
	case l.queue <- r:
	default:
		l.drop(1)
	}
}

// Dropped returns the number of rows dropped so far.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

func (l *Log) drop(n int) {
	l.dropped.Add(uint64(n))
	l.mDropped.Add(float64(n))
}

// Query returns one page of rows matching q.
func (l *Log) Query(ctx context.Context, q Query) (Page, error) {
	rows, err := l.store.Query(ctx, q)
	if err != nil {
		return Page{}, err
	}
	p := Page{Data: rows}
	if n := q.limit(); len(rows) > n {
		p.Data = rows[:n]
		p.NextCursor = EncodeCursor(&p.Data[n-1])
	}
	if p.Data == nil {
		p.Data = []llm.RequestRecord{}
	}
	return p, nil
}

// Close writes what is queued and stops the writer. Idempotent.
func (l *Log) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(l.o.FlushInterval)
	defer tick.Stop()
	purge := time.NewTicker(l.o.PurgeInterval)
	defer purge.Stop()
	batch := make([]llm.RequestRecord, 0, l.o.BatchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.o.WriteTimeout)
		err := l.store.Insert(ctx, batch)
		cancel()
		if err != nil {
			l.mErrors.Inc()
			l.drop(len(batch))
			l.o.Logger.Warn("request log: batch write failed; rows dropped", "rows", len(batch), "err", err)
		} else {
			l.mWritten.Add(float64(len(batch)))
		}
		clear(batch)
		batch = batch[:0]
	}
	// drain takes what is waiting, up to a full batch, without blocking.
	drain := func() {
		for len(batch) < l.o.BatchSize {
			select {
			case r := <-l.queue:
				batch = append(batch, r)
			default:
				return
			}
		}
	}
	for {
		select {
		case r := <-l.queue:
			batch = append(batch, r)
			drain()
			if len(batch) >= l.o.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		case <-purge.C:
			l.purge()
		case <-l.stop:
			for {
				drain()
				if len(batch) == 0 {
					return
				}
				flush()
			}
		}
	}
}

func (l *Log) purge() {
	if l.o.Retention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.o.WriteTimeout)
	defer cancel()
	n, err := l.store.Purge(ctx, l.o.Now().Add(-l.o.Retention))
	if err != nil {
		l.o.Logger.Warn("request log: purge failed", "err", err)
		return
	}
	if n > 0 {
		l.o.Logger.Info("request log: purged rows past retention", "rows", n)
	}
}

// MemStore is the in-process Store: a ring of the newest MaxRows rows.
type MemStore struct {
	mu   sync.Mutex
	rows []llm.RequestRecord // ring
	next int
	full bool
}

// NewMemStore keeps at most max rows (the oldest are overwritten).
func NewMemStore(max int) *MemStore {
	if max <= 0 {
		max = 10000
	}
	return &MemStore{rows: make([]llm.RequestRecord, max)}
}

// Insert implements Store.
func (m *MemStore) Insert(_ context.Context, rows []llm.RequestRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		m.rows[m.next] = r
		m.next = (m.next + 1) % len(m.rows)
		if m.next == 0 {
			m.full = true
		}
	}
	return nil
}

// Query implements Store. Rows are kept in arrival order, which is time
// order up to the clock skew of concurrent requests; the result is sorted.
func (m *MemStore) Query(_ context.Context, q Query) ([]llm.RequestRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []llm.RequestRecord
	n := m.next
	if m.full {
		n = len(m.rows)
	}
	for i := 0; i < n; i++ {
		r := &m.rows[(m.next-1-i+len(m.rows))%len(m.rows)]
		if r.RequestID != "" && q.match(r) {
			out = append(out, *r)
		}
	}
	sortNewest(out)
	if len(out) > q.limit()+1 {
		out = out[:q.limit()+1]
	}
	return out, nil
}

// Purge implements Store.
func (m *MemStore) Purge(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for i := range m.rows {
		if r := &m.rows[i]; r.RequestID != "" && r.Time.Before(before) {
			*r = llm.RequestRecord{}
			n++
		}
	}
	return n, nil
}

// sortNewest orders rows newest first, request id descending on ties (the
// cursor order).
func sortNewest(rows []llm.RequestRecord) {
	slices.SortStableFunc(rows, func(a, b llm.RequestRecord) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.RequestID, a.RequestID)
	})
}
