// Package pgtest is a test helper (for tests only) that gives each Postgres test its own schema on the database
// named by LLMROUTER_TEST_DATABASE_URL, and drops it on cleanup.
//
// When the variable is unset the test is skipped with a clear message,
// unless CI=true: then it fails, and so does an unreachable database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// EnvURL is the environment variable holding the test database URL.
const EnvURL = "LLMROUTER_TEST_DATABASE_URL"

// DB is one test's schema on the shared test database.
type DB struct {
	URL    string // the database URL, without search_path
	Schema string // llmrouter_test_<random>, already created
	Pool   *pgxpool.Pool
}

// New creates a fresh schema and a pool whose connections use
// search_path = <schema>, public (public holds the vector extension) and have
// the vector types registered. Both are removed on t.Cleanup.
// DefaultURL is the database used when EnvURL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func New(t testing.TB) *DB {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		// The machines this project runs on have PostgreSQL here, and
		// `make test` makes sure it has the vector extension. Postgres tests
		// never skip: an unreachable database fails them.
		url = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "llmrouter_test_" + hex.EncodeToString(rnd[:])

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("test database unreachable at %s: %v", EnvURL, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	pool, err := NewPool(ctx, url, schema)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &DB{URL: url, Schema: schema, Pool: pool}
}

// NewPool opens a pool on url (any host:port, e.g. a test proxy) with the
// schema's search_path and vector types registered per connection.
func NewPool(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize() + ", public"
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.AfterConnect = pgxvec.RegisterTypes
	return pgxpool.NewWithConfig(ctx, cfg)
}
