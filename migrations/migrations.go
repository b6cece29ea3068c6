// Package migrations holds llmrouter's SQL schema as numbered files embedded
// in the binary, and applies them with jackc/tern under a Postgres advisory
// lock, so several replicas starting at once migrate exactly once.
//
// Files are NNN_name.sql, applied in order; each runs in its own transaction.
// SQL may use {{.schema}} (the quoted target schema) to qualify names.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() embed.FS { return files }

// lockKey is the advisory lock that serialises Apply across replicas (and
// covers tern's version-table creation, which tern itself does not guard
// against a concurrent CREATE TABLE). Distinct from tern's own lock key.
const lockKey int64 = 0x6c6c6d726f757465 // "llmroute"

// VersionTable is the unqualified name of tern's version table.
const VersionTable = "llmrouter_schema_version"

// Apply brings schema up to the latest migration. schema "" means "public".
// The schema must exist. It holds a session advisory lock for the whole run,
// so concurrent callers (replicas starting together) wait and then find
// nothing left to do; applying twice is a no-op. ctx bounds the whole run,
// including the wait for the lock.
func Apply(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if pool == nil {
		return errors.New("migrations: nil pool")
	}
	if schema == "" {
		schema = "public"
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrations: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrations: advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be done, and a lock left held
		// on a pooled connection would block every later Apply.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
			// The session still holds the lock; do not return it to the pool.
			conn.Hijack().Close(uctx)
		}
	}()
	return apply(ctx, conn.Conn(), schema)
}

func apply(ctx context.Context, conn *pgx.Conn, schema string) error {
	qs := pgx.Identifier{schema}.Sanitize()
	m, err := migrate.NewMigrator(ctx, conn, qs+"."+VersionTable)
	if err != nil {
		return fmt.Errorf("migrations: version table in %s: %w", schema, err)
	}
	m.Data["schema"] = qs
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("migrations: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrations: migrate %s: %w", schema, err)
	}
	return nil
}
