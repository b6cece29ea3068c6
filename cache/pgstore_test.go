package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

func newPG(t testing.TB, dim int) (*pgtest.DB, *PGStore) {
	t.Helper()
	db := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := NewPGStore(ctx, db.Pool, PGOptions{Dim: dim, PingInterval: 50 * time.Millisecond,
		Setup: func(ctx context.Context, p *pgxpool.Pool) error { return migrations.Apply(ctx, p, db.Schema) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !s.Up() {
		t.Fatal("store not up")
	}
	return db, s
}

func scopeOf(name string) Key { return Key(sha256.Sum256([]byte(name))) }

// TestPGFilteredSearchUsesHNSWAndIsNotEmpty puts thousands of rows of other
// scopes right around the query and a few rows of the target scope a bit
// further away. A plain HNSW scan (ef_search 40) would see only other scopes
// and, after the filter, return nothing; the iterative scan must find the
// target rows, and the plan must use the HNSW index.
func TestPGFilteredSearchUsesHNSWAndIsNotEmpty(t *testing.T) {
	const dim = 8
	db, s := newPG(t, dim)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	q := make([]float32, dim)
	q[0] = 1
	noisy := func(scale float64) []float32 {
		v := make([]float32, dim)
		copy(v, q)
		for i := range v {
			v[i] += float32(rng.NormFloat64() * scale)
		}
		return v
	}
	resp := textResponse("x")
	var batch []Entry
	for i := range 4000 {
		batch = append(batch, Entry{Scope: scopeOf(fmt.Sprint("other", i%2)), Tenant: "t", Embedder: "e",
			Prompt: "p", Vec: noisy(0.01), Response: resp, Expires: time.Now().Add(time.Hour)})
	}
	target := scopeOf("target")
	for range 3 {
		batch = append(batch, Entry{Scope: target, Tenant: "t", Embedder: "e", Prompt: "target",
			Vec: noisy(0.2), Response: resp, Expires: time.Now().Add(time.Hour)})
	}
	for len(batch) > 0 {
		n := min(500, len(batch))
		if err := s.Insert(ctx, batch[:n]); err != nil {
			t.Fatal(err)
		}
		batch = batch[n:]
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE semantic_entries"); err != nil {
		t.Fatal(err)
	}

	// A small scope: the scope index and an exact sort.
	plan := explain(t, db.Pool, s, target, q)
	if !strings.Contains(plan, "using semantic_entries_tenant_scope") || strings.Contains(plan, "Seq Scan") {
		t.Fatalf("small-scope search does not use semantic_entries_tenant_scope:\n%s", plan)
	}
	// A large scope: the HNSW index (with iterative scan).
	plan = explain(t, db.Pool, s, scopeOf("other1"), q)
	if !strings.Contains(plan, "Index Scan using "+s.IndexName()) {
		t.Fatalf("large-scope search does not use %s:\n%s", s.IndexName(), plan)
	}

	got, err := s.Search(ctx, "t", target, q, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("filtered search found %d of the scope's 3 rows", len(got))
	}
	for i, m := range got {
		if m.Prompt != "target" || m.Response.Choices[0].Message.Content.Text() != "x" {
			t.Fatalf("row from another scope or bad response: %+v", m)
		}
		if i > 0 && m.Similarity > got[i-1].Similarity {
			t.Fatal("results not ordered by similarity")
		}
	}

	// Force the HNSW path for the small scope (no scope index, no seq scan):
	// without iterative scans the filter empties the result; with them (as
	// the store searches) all three rows are found.
	if _, err := db.Pool.Exec(ctx, "DROP INDEX semantic_entries_tenant_scope, semantic_entries_expires_at, semantic_entries_tenant"); err != nil {
		t.Fatal(err)
	}
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = db.Schema + ", public"
	pcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	pcfg.AfterConnect = RegisterTypes
	forced, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer forced.Close()
	if plan := explain(t, forced, s, target, q); !strings.Contains(plan, "Index Scan using "+s.IndexName()) {
		t.Fatalf("forced plan does not use HNSW:\n%s", plan)
	}
	var plain int
	if err := forced.QueryRow(ctx, "SELECT count(*) FROM ("+s.SearchSQL()+") r", target[:], pgvector.NewVector(q), 4, "t").Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain >= 3 {
		t.Fatalf("without iterative scan the filtered HNSW search found %d rows; the test no longer shows the problem", plain)
	}
	fs, err := NewPGStore(ctx, forced, PGOptions{Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if got, err := fs.Search(ctx, "t", target, q, 4); err != nil || len(got) != 3 {
		t.Fatalf("iterative HNSW search found %d of 3 rows (%v)", len(got), err)
	}

	// Vectors of another dimension are refused, never compared.
	if _, err := s.Search(ctx, "t", target, make([]float32, dim+1), 4); err == nil {
		t.Fatal("search with a vector of another dimension succeeded")
	}
}

// explain returns the plan of the store's search with bound parameters.
func explain(t *testing.T, pool *pgxpool.Pool, s *PGStore, scope Key, q []float32) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL hnsw.iterative_scan = relaxed_order"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+s.SearchSQL(), scope[:], pgvector.NewVector(q), 4, "t")
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	t.Logf("plan:\n%s", strings.Join(plan, "\n"))
	return strings.Join(plan, "\n")
}

// cuttableProxy is a loopback TCP forwarder to the database that a test can
// cut (close the listener and every connection) and restore on the same
// port: the database "stops" for this test only.
type cuttableProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *cuttableProxy {
	p := &cuttableProxy{target: target, conns: make(map[net.Conn]struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *cuttableProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *cuttableProxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPGDatabaseDownMidRun stops the database (for this test: cuts a TCP
// proxy in front of it): requests keep succeeding, the exact layer keeps
// hitting, db_up goes to 0 and Health says degraded; after the "restart"
// the semantic layer comes back by itself.
func TestPGDatabaseDownMidRun(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if err := migrations.Apply(ctx, db.Pool, db.Schema); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	pool, err := pgtest.NewPool(ctx, u.String(), db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := NewPGStore(ctx, pool, PGOptions{Dim: 4, PingInterval: 20 * time.Millisecond, PingTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	emb := &vectorsByText{dim: 4, vecs: map[string][]float32{storedPrompt: unitAt(1), askedPrompt: unitAt(0.999),
		"a third phrasing of the photosynthesis question": unitAt(0.998), "please explain how photosynthesis works in the green plants": unitAt(0.997)}}
	up := &answersFromScript{resp: textResponse("answer")}
	reg := prometheus.NewRegistry()
	o := semanticOptions(emb, store)
	o.Exact.Disabled = false
	o.Registerer = reg
	c := newTestCache(t, up, o)

	ask(t, c, userRequest("acme", storedPrompt))
	waitWritten(t, c, 1)
	if mv := ask(t, c, userRequest("acme", askedPrompt)); mv.Cache != llm.CacheSemantic {
		t.Fatalf("before the outage: %+v", mv)
	}
	if gathered(t, reg, "llmrouter_cache_db_up", "") != 1 || c.Health().Status != "ok" {
		t.Fatal("db_up/health wrong while up")
	}

	proxy.cut()
	waitUntil(t, "db_up 0", func() bool { return gathered(t, reg, "llmrouter_cache_db_up", "") == 0 })
	if h := c.Health(); h.Status != "degraded" || h.StoreUp {
		t.Fatalf("health during outage: %+v", h)
	}
	// Requests still succeed: exact hits from memory, misses from upstream.
	if mv := ask(t, c, userRequest("acme", storedPrompt)); mv.Cache != llm.CacheExact {
		t.Fatalf("exact layer during outage: %+v", mv)
	}
	calls, embeds := up.calls.Load(), emb.calls.Load()
	if mv := ask(t, c, userRequest("acme", "a third phrasing of the photosynthesis question")); mv.Cache != llm.CacheMiss || up.calls.Load() != calls+1 {
		t.Fatalf("semantic layer during outage: %+v", mv)
	}
	if emb.calls.Load() != embeds {
		t.Fatal("the semantic layer ran while its database was down")
	}

	proxy.restore(t)
	waitUntil(t, "db_up 1", func() bool { return gathered(t, reg, "llmrouter_cache_db_up", "") == 1 })
	if h := c.Health(); h.Status != "ok" {
		t.Fatalf("health after restart: %+v", h)
	}
	if mv := ask(t, c, userRequest("acme", "please explain how photosynthesis works in the green plants")); mv.Cache != llm.CacheSemantic {
		t.Fatalf("semantic layer after restart: %+v", mv)
	}
}

// BenchmarkPGSearch100k measures one semantic lookup (embedding excluded)
// against 100,000 stored entries of dimension 256 spread over 1,000 scopes.
// Setup loads the rows with COPY and builds the index once; it only runs
// with -bench.
func BenchmarkPGSearch100k(b *testing.B) {
	const dim, rows, scopes = 256, 100_000, 1000
	db := pgtest.New(b)
	ctx := context.Background()
	if err := migrations.Apply(ctx, db.Pool, db.Schema); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	respJSON := []byte(`{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"answer"},"finish_reason":"stop"}]}`)
	exp := time.Now().Add(time.Hour)
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == rows {
			return nil, nil
		}
		i++
		sc := scopeOf(fmt.Sprint("scope", i%scopes))
		return []any{sc[:], "t", int64(0), "e", dim, "prompt", pgvector.NewVector(vec()), "", respJSON, exp}, nil
	})
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"semantic_entries"},
		[]string{"scope_hash", "tenant", "namespace_version", "embedder", "dim", "prompt", "embedding", "provider", "response", "expires_at"}, src); err != nil {
		b.Fatal(err)
	}
	store, err := NewPGStore(ctx, db.Pool, PGOptions{Dim: dim, SetupTimeout: 10 * time.Minute})
	if err != nil || !store.Up() {
		b.Fatalf("store: %v", err)
	}
	b.Cleanup(store.Close)
	if _, err := db.Pool.Exec(ctx, "ANALYZE semantic_entries"); err != nil {
		b.Fatal(err)
	}
	q := vec()
	target := scopeOf("scope7")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m, err := store.Search(ctx, "t", target, q, 4)
		if err != nil || len(m) == 0 {
			b.Fatalf("search: %d results, %v", len(m), err)
		}
	}
}

// TestPGTenantFilterOnEveryPlan stores the same prompt with the same
// embedding under the same scope hash for two tenants (as if the scope
// hash had failed to separate them) and checks that the tenant equality is
// part of every plan the search can get: the btree path, the HNSW path, a
// bitmap scan and a sequential scan each apply tenant = $4 as an index
// condition or a filter on every node reading semantic_entries; and that
// each tenant's search, on every path, returns only its own rows.
func TestPGTenantFilterOnEveryPlan(t *testing.T) {
	const dim = 8
	db, s := newPG(t, dim)
	ctx := context.Background()
	shared := scopeOf("shared")
	rng := rand.New(rand.NewPCG(5, 6))
	q := make([]float32, dim)
	q[0] = 1
	var batch []Entry
	exp := time.Now().Add(time.Hour)
	// A large scope of one tenant makes the planner choose HNSW for it.
	for range 3000 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = q[i] + float32(rng.NormFloat64()*0.01)
		}
		batch = append(batch, Entry{Scope: shared, Tenant: "globex", Embedder: "e", Prompt: "bulk",
			Vec: v, Response: textResponse("globex bulk"), Expires: exp})
	}
	for _, tenant := range []string{"acme", "globex"} {
		for range 2 {
			batch = append(batch, Entry{Scope: shared, Tenant: tenant, Embedder: "e", Prompt: "what is our refund policy",
				Vec: q, Response: textResponse(tenant + " answer"), Expires: exp})
		}
	}
	for len(batch) > 0 {
		n := min(500, len(batch))
		if err := s.Insert(ctx, batch[:n]); err != nil {
			t.Fatal(err)
		}
		batch = batch[n:]
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE semantic_entries"); err != nil {
		t.Fatal(err)
	}

	// Store.Search as the cache calls it.
	for _, tenant := range []string{"acme", "globex"} {
		got, err := s.Search(ctx, tenant, shared, q, 8)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: %d results, %v", tenant, len(got), err)
		}
		for _, m := range got {
			if txt := m.Response.Choices[0].Message.Content.Text(); !strings.HasPrefix(txt, tenant+" ") {
				t.Fatalf("tenant %s got another tenant's row %q", tenant, txt)
			}
		}
	}
	if got, err := s.Search(ctx, "initech", shared, q, 8); err != nil || len(got) != 0 {
		t.Fatalf("a tenant with no rows got %d rows (%v)", len(got), err)
	}

	paths := []struct {
		name string
		sets []string // run in the EXPLAIN's transaction, then rolled back
		want string   // a node the plan must contain, so the case tests what it names
	}{
		{"planner's choice", nil, "Index Scan"},
		{"btree", []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off",
			"DROP INDEX " + s.IndexName() + ", semantic_entries_expires_at, semantic_entries_tenant"}, "semantic_entries_tenant_scope"},
		{"hnsw", []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off",
			"DROP INDEX semantic_entries_tenant_scope, semantic_entries_expires_at, semantic_entries_tenant"}, s.IndexName()},
		{"bitmap", []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_indexscan = off"}, "Bitmap Heap Scan"},
		{"seq scan", []string{"SET LOCAL enable_indexscan = off", "SET LOCAL enable_bitmapscan = off"}, "Seq Scan"},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			for _, tenant := range []string{"acme", "globex"} {
				plan, texts := planAndRun(t, db.Pool, s, path.sets, tenant, shared, q)
				if !strings.Contains(plan, path.want) {
					t.Fatalf("plan lacks %q:\n%s", path.want, plan)
				}
				for _, node := range tableNodes(t, plan) {
					cond := node["Index Cond"] + " " + node["Filter"] + " " + node["Recheck Cond"]
					if !strings.Contains(cond, "tenant = '"+tenant+"'::text") {
						t.Fatalf("%s node without the tenant condition %v:\n%s", node["Node Type"], node, plan)
					}
				}
				if len(texts) == 0 {
					t.Fatalf("%s found nothing on this path", tenant)
				}
				for _, txt := range texts {
					if !strings.HasPrefix(txt, tenant+" ") {
						t.Fatalf("tenant %s got another tenant's row %q", tenant, txt)
					}
				}
			}
		})
	}
}

// planAndRun runs sets, then EXPLAIN (FORMAT JSON) of the search and the
// search itself, in one transaction that it rolls back. It returns the
// plan and the answers' texts.
func planAndRun(t *testing.T, pool *pgxpool.Pool, s *PGStore, sets []string, tenant string, scope Key, q []float32) (string, []string) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, st := range append([]string{"SET LOCAL hnsw.iterative_scan = relaxed_order"}, sets...) {
		if _, err := tx.Exec(ctx, st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	var plan string
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+s.SearchSQL(), scope[:], pgvector.NewVector(q), 8, tenant).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT response->'choices'->0->'message'->>'content' FROM ("+s.SearchSQL()+") r",
		scope[:], pgvector.NewVector(q), 8, tenant)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return plan, texts
}

// tableNodes returns the nodes of a JSON plan that read semantic_entries
// (scans of the table or of one of its indexes), as their string fields.
func tableNodes(t *testing.T, plan string) []map[string]string {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan JSON: %v", err)
	}
	var out []map[string]string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		_, rel := n["Relation Name"]
		idx, _ := n["Index Name"].(string)
		if rel || strings.HasPrefix(idx, "semantic_entries") {
			m := map[string]string{}
			for k, v := range n {
				if s, ok := v.(string); ok {
					m[k] = s
				}
			}
			// A bitmap heap scan is checked through its Recheck Cond and
			// its bitmap index scan child through its Index Cond.
			out = append(out, m)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				if km, ok := k.(map[string]any); ok {
					walk(km)
				}
			}
		}
	}
	walk(doc[0].Plan)
	if len(out) == 0 {
		t.Fatalf("no node reads semantic_entries:\n%s", plan)
	}
	return out
}
