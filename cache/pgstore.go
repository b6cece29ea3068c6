package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"llmrouter/llm"
)

// PGOptions configures a PGStore.
type PGOptions struct {
	// Dim is the embedder's dimension (required). The store creates the
	// partial HNSW index for it (semantic_entries_hnsw_d<Dim>) once the
	// database answers, and only stores and searches vectors of this size.
	Dim int
	// Setup, when set, runs once the database first answers, before the
	// store reports up: typically migrations.Apply. It runs again on the
	// next ping until it succeeds, so a database that is down at start-up
	// is migrated when it comes back.
	Setup func(ctx context.Context, pool *pgxpool.Pool) error
	// PingInterval is how often the database is pinged to track health
	// (and to bring the store back up). Default 1s.
	PingInterval time.Duration
	// PingTimeout bounds one ping. Default 1s.
	PingTimeout time.Duration
	// SetupTimeout bounds Setup plus the index creation. Default 2m.
	SetupTimeout time.Duration
	// EfSearch is hnsw.ef_search for searches. Default 40 (pgvector's).
	EfSearch int
	// Logger; nil discards.
	Logger *slog.Logger
}

// PGStore is the pgvector Store, shared by every replica using the database.
//
// Layout (see migrations/001): one semantic_entries table with an
// undimensioned vector column; a partial expression HNSW index per
// dimension (vector_cosine_ops). Searches filter by tenant (equality, served
// by the semantic_entries_tenant_scope btree of migrations/008 on small
// scopes and applied as a filter on the HNSW scan of large ones), scope_hash
// and expiry, so even a scope hash shared by two tenants cannot return the
// other tenant's row; they run with hnsw.iterative_scan = relaxed_order (pgvector 0.8), set with SET
// LOCAL in the search's own transaction (sent as one pipelined batch), so
// the filter cannot silently empty the result: the index scan keeps going
// until k rows pass the filter (or hnsw.max_scan_tuples is reached). Results
// are re-sorted by distance in Go, as relaxed ordering allows slight
// disorder.
//
// Health: a failed query (other than a timeout or cancellation) or ping marks
// the store down; while down, Search and Insert fail at once without touching
// the network and Version returns the last version seen for the tenant. A
// background pinger marks it up again when the database answers. pgxpool
// reconnects by itself. Safe for concurrent use.
type PGStore struct {
	pool *pgxpool.Pool
	o    PGOptions
	log  *slog.Logger

	searchSQL string

	up      atomic.Bool
	ready   atomic.Bool // Setup and index creation done
	checked atomic.Bool // the first health check has run (reported even when down)

	mu       sync.Mutex
	versions map[string]int64 // last version seen per tenant

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ Store = (*PGStore)(nil)

// RegisterTypes registers pgvector's types on a new connection; use it as
// (or call it from) pgxpool.Config.AfterConnect for pools given to
// NewPGStore.
func RegisterTypes(ctx context.Context, conn *pgx.Conn) error { return pgxvec.RegisterTypes(ctx, conn) }

// PoolOptions sizes a pool opened with OpenPool.
type PoolOptions struct {
	MaxConns       int32         // default 20
	ConnectTimeout time.Duration // one connect; default 2s
}

// OpenPool returns a pgx pool for url with vector types registered on every
// connection. It does not connect: a database that is down at start-up makes
// the PGStore start degraded, not the proxy fail.
func OpenPool(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("cache: database url: %w", err)
	}
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 20
	}
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	cfg.AfterConnect = RegisterTypes
	return pgxpool.NewWithConfig(ctx, cfg)
}

// NewPGStore returns a store on pool (whose connections must have the
// vector types registered, see RegisterTypes, and a search_path naming the
// migrated schema followed by the one holding the extension). It tries Setup
// and the index within ctx; if the database does not answer, the store
// starts down and the pinger finishes the work later. Close stops the
// pinger; the pool stays the caller's.
func NewPGStore(ctx context.Context, pool *pgxpool.Pool, o PGOptions) (*PGStore, error) {
	if pool == nil || o.Dim <= 0 {
		return nil, errors.New("cache: NewPGStore needs a pool and a positive Dim")
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = time.Second
	}
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = 2 * time.Minute
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 40
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := strconv.Itoa(o.Dim)
	s := &PGStore{pool: pool, o: o, log: o.Logger, versions: make(map[string]int64),
		stop: make(chan struct{}), done: make(chan struct{}),
		// dim is a literal so the planner can match the partial index.
		searchSQL: `SELECT prompt, response, provider, embedding::vector(` + d + `) <=> $2 AS dist
			FROM semantic_entries
			WHERE dim = ` + d + ` AND tenant = $4 AND scope_hash = $1 AND expires_at > now()
			ORDER BY embedding::vector(` + d + `) <=> $2 LIMIT $3`,
	}
	s.check(ctx)
	go s.pinger()
	return s, nil
}

// SearchSQL returns the search statement (for EXPLAIN in tests and docs).
// Its parameters: $1 scope hash, $2 query vector, $3 k, $4 tenant.
func (s *PGStore) SearchSQL() string { return s.searchSQL }

// IndexName returns the name of the HNSW index for the store's dimension.
func (s *PGStore) IndexName() string { return "semantic_entries_hnsw_d" + strconv.Itoa(s.o.Dim) }

// Up reports whether the database answered the last query or ping.
func (s *PGStore) Up() bool { return s.up.Load() }

// Close stops the pinger. Idempotent.
func (s *PGStore) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

func (s *PGStore) pinger() {
	defer close(s.done)
	t := time.NewTicker(s.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.check(context.Background())
		}
	}
}

// check pings, finishes setup if needed, and records health.
func (s *PGStore) check(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, s.o.PingTimeout)
	err := s.pool.Ping(ctx)
	cancel()
	if err == nil && !s.ready.Load() {
		err = s.setup(parent)
	}
	was := s.up.Swap(err == nil)
	first := !s.checked.Swap(true)
	switch {
	case err != nil && (was || first):
		// Also on the first check: a database down at start-up must be
		// reported, not only one that goes down later.
		s.log.Warn("semantic cache database down; semantic layer off until it answers", "err", err)
	case err == nil && !was:
		// Idle connections from before the outage are likely dead; drop
		// them rather than fail the next few searches on them.
		s.pool.Reset()
		s.log.Info("semantic cache database up")
	}
}

func (s *PGStore) setup(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, s.o.SetupTimeout)
	defer cancel()
	if s.o.Setup != nil {
		if err := s.o.Setup(ctx, s.pool); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	d := strconv.Itoa(s.o.Dim)
	// Serialised with migrations (same advisory lock) so replicas do not
	// race on CREATE INDEX IF NOT EXISTS.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", setupLockKey); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+s.IndexName()+` ON semantic_entries
		USING hnsw ((embedding::vector(`+d+`)) vector_cosine_ops) WHERE dim = `+d)
	if _, uerr := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", setupLockKey); uerr != nil {
		conn.Hijack().Close(context.Background())
	}
	if err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	s.ready.Store(true)
	return nil
}

// setupLockKey is migrations' advisory lock key ("llmroute").
const setupLockKey int64 = 0x6c6c6d726f757465

var errDown = errorString("semantic cache database is down")

// failed records err. A failure that is not a deadline or cancellation
// (connection refused or reset, server gone) marks the store down until the
// pinger sees the database again. A slow query is only a miss: if the
// database hangs, the pinger's own timeout marks it down.
func (s *PGStore) failed(ctx context.Context, err error) error {
	if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		if s.up.Swap(false) {
			s.log.Warn("semantic cache database query failed; semantic layer off until it answers", "err", err)
		}
	}
	return err
}

// Search implements Store.
func (s *PGStore) Search(ctx context.Context, tenant string, scope Key, vec []float32, k int) ([]Match, error) {
	if !s.up.Load() {
		return nil, errDown
	}
	if len(vec) != s.o.Dim {
		return nil, fmt.Errorf("cache: vector has %d dimensions, store has %d", len(vec), s.o.Dim)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL hnsw.iterative_scan = relaxed_order")
	b.Queue("SET LOCAL hnsw.ef_search = " + strconv.Itoa(s.o.EfSearch))
	var out []Match
	b.Queue(s.searchSQL, scope[:], pgvector.NewVector(vec), k, tenant).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var m Match
			var raw []byte
			var dist float64
			if err := rows.Scan(&m.Prompt, &raw, &m.Provider, &dist); err != nil {
				return err
			}
			m.Response = new(llm.Response)
			if err := json.Unmarshal(raw, m.Response); err != nil {
				return err
			}
			m.Similarity = 1 - dist
			out = append(out, m)
		}
		return rows.Err()
	})
	b.Queue("COMMIT")
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.failed(ctx, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Similarity > out[j].Similarity })
	return out, nil
}

// Insert implements Store: one COPY per batch.
func (s *PGStore) Insert(ctx context.Context, entries []Entry) error {
	if !s.up.Load() {
		return errDown
	}
	rows := make([][]any, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if len(e.Vec) != s.o.Dim {
			continue
		}
		resp, err := json.Marshal(e.Response)
		if err != nil {
			return err
		}
		rows = append(rows, []any{e.Scope[:], e.Tenant, e.Namespace, e.Embedder, s.o.Dim, e.Prompt,
			pgvector.NewVector(e.Vec), e.Provider, resp, e.Expires})
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"semantic_entries"},
		[]string{"scope_hash", "tenant", "namespace_version", "embedder", "dim", "prompt", "embedding", "provider", "response", "expires_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return s.failed(ctx, err)
	}
	return nil
}

// Purge implements Store: deletes up to limit expired rows, oldest first.
func (s *PGStore) Purge(ctx context.Context, limit int) (int, error) {
	if !s.up.Load() {
		return 0, errDown
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM semantic_entries WHERE id IN (
		SELECT id FROM semantic_entries WHERE expires_at <= now() ORDER BY expires_at LIMIT $1)`, limit)
	if err != nil {
		return 0, s.failed(ctx, err)
	}
	return int(tag.RowsAffected()), nil
}

// Version implements Namespaces: one primary-key read per call, so a bump by
// any replica is seen at once. While the database is down (or the read
// fails) it returns the last version this process saw, with the error.
func (s *PGStore) Version(ctx context.Context, tenant string) (int64, error) {
	if !s.up.Load() {
		return s.lastVersion(tenant), errDown
	}
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT version FROM namespaces WHERE tenant = $1", tenant).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return s.lastVersion(tenant), s.failed(ctx, err)
	}
	s.mu.Lock()
	s.versions[tenant] = v
	s.mu.Unlock()
	return v, nil
}

func (s *PGStore) lastVersion(tenant string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions[tenant]
}

// Bump implements Namespaces.
func (s *PGStore) Bump(ctx context.Context, tenant string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `INSERT INTO namespaces (tenant, version) VALUES ($1, 1)
		ON CONFLICT (tenant) DO UPDATE SET version = namespaces.version + 1, updated_at = now()
		RETURNING version`, tenant).Scan(&v)
	if err != nil {
		return 0, s.failed(ctx, err)
	}
	s.mu.Lock()
	s.versions[tenant] = v
	s.mu.Unlock()
	return v, nil
}
