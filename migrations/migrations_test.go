package migrations_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

func TestApplyFromEmptySchema(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := migrations.Apply(ctx, db.Pool, db.Schema); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"semantic_entries", "namespaces", migrations.VersionTable} {
		var n int
		err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2", db.Schema, table).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("table %s in %s: n=%d err=%v", table, db.Schema, n, err)
		}
	}
	var v int
	if err := db.Pool.QueryRow(ctx, "SELECT version FROM "+migrations.VersionTable).Scan(&v); err != nil {
		t.Fatal(err)
	}
	files, _ := migrations.FS().ReadDir(".")
	sqlFiles := 0
	for _, f := range files {
		if len(f.Name()) > 4 && f.Name()[len(f.Name())-4:] == ".sql" {
			sqlFiles++
		}
	}
	if v != sqlFiles {
		t.Fatalf("schema version %d, want %d (one per file)", v, sqlFiles)
	}
	// The tables work: a vector of any dimension goes in, with its dim.
	_, err := db.Pool.Exec(ctx, `INSERT INTO semantic_entries (scope_hash, tenant, namespace_version, embedder, dim, prompt, embedding, response, expires_at)
		VALUES ('\x01', 't', 0, 'e', 3, 'p', '[1,2,3]', '{}', now() + interval '1 minute')`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Pool.Exec(ctx, `INSERT INTO semantic_entries (scope_hash, tenant, namespace_version, embedder, dim, prompt, embedding, response, expires_at)
		VALUES ('\x01', 't', 0, 'e', 4, 'p', '[1,2,3]', '{}', now() + interval '1 minute')`)
	if err == nil {
		t.Fatal("a row whose dim disagrees with its vector was accepted")
	}
}

func TestApplyTwiceAndConcurrentlyIsIdempotent(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var g errgroup.Group
	for range 4 {
		g.Go(func() error { return migrations.Apply(ctx, db.Pool, db.Schema) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent apply: %v", err)
	}
	if err := migrations.Apply(ctx, db.Pool, db.Schema); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	var rows int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+migrations.VersionTable).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("version table rows = %d (%v), want 1", rows, err)
	}
	// The advisory lock was released: another session can take it. Other
	// test processes (other packages' Postgres tests) may hold it briefly
	// while they migrate their own schemas, so try for a while; a lock
	// leaked by Apply stays held by its pooled session and never frees.
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	got := false
	for deadline := time.Now().Add(20 * time.Second); !got && time.Now().Before(deadline); {
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(0x6c6c6d726f757465)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !got {
		t.Fatal("advisory lock still held 20 s after Apply")
	}
	_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
}
