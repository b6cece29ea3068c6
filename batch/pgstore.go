package batch

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore is a Store in Postgres (tables of migration 004, found through
// the pool's search_path). Several replicas may share it: a lease makes one
// replica at a time run a job, and one that dies lets another take over
// when its lease expires.
type PGStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PGStore)(nil)

// NewPGStore returns a PGStore over pool. The migrations must have run.
func NewPGStore(pool *pgxpool.Pool) *PGStore { return &PGStore{pool: pool} }

// PutFile implements Store.
func (p *PGStore) PutFile(ctx context.Context, f *File, content []byte) error {
	obj, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO batch_files (id, tenant, object, content) VALUES ($1, $2, $3, $4)`,
		f.ID, f.Tenant, obj, content)
	return err
}

// File implements Store.
func (p *PGStore) File(ctx context.Context, tenant, id string) (*File, []byte, error) {
	var obj, content []byte
	err := p.pool.QueryRow(ctx, `SELECT object, content FROM batch_files WHERE id = $1 AND tenant = $2`, id, tenant).Scan(&obj, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	var f File
	if err := json.Unmarshal(obj, &f); err != nil {
		return nil, nil, err
	}
	f.Tenant = tenant
	return &f, content, nil
}

// PutJob implements Store.
func (p *PGStore) PutJob(ctx context.Context, j *Job) error {
	obj, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO batch_jobs (id, tenant, active, created, object) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, object = EXCLUDED.object, updated_at = now()`,
		j.ID, j.Tenant, j.active(), j.CreatedAt, obj)
	return err
}

// Job implements Store.
func (p *PGStore) Job(ctx context.Context, tenant, id string) (*Job, error) {
	var obj []byte
	err := p.pool.QueryRow(ctx, `SELECT object FROM batch_jobs WHERE id = $1 AND tenant = $2`, id, tenant).Scan(&obj)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var j Job
	if err := json.Unmarshal(obj, &j); err != nil {
		return nil, err
	}
	j.Tenant = tenant
	return &j, nil
}

// ActiveJobs implements Store.
func (p *PGStore) ActiveJobs(ctx context.Context) ([]*Job, error) {
	rows, err := p.pool.Query(ctx, `SELECT tenant, object FROM batch_jobs WHERE active ORDER BY created, id LIMIT 1000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		var tenant string
		var obj []byte
		if err := rows.Scan(&tenant, &obj); err != nil {
			return nil, err
		}
		var j Job
		if err := json.Unmarshal(obj, &j); err != nil {
			return nil, err
		}
		j.Tenant = tenant
		out = append(out, &j)
	}
	return out, rows.Err()
}

// PutLine implements Store.
func (p *PGStore) PutLine(ctx context.Context, jobID string, idx int, result []byte) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO batch_lines (job_id, idx, result) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		jobID, idx, result)
	return err
}

// Lines implements Store.
func (p *PGStore) Lines(ctx context.Context, jobID string) (map[int][]byte, error) {
	rows, err := p.pool.Query(ctx, `SELECT idx, result FROM batch_lines WHERE job_id = $1`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int][]byte{}
	for rows.Next() {
		var idx int
		var res []byte
		if err := rows.Scan(&idx, &res); err != nil {
			return nil, err
		}
		out[idx] = res
	}
	return out, rows.Err()
}

// Lease implements Store.
func (p *PGStore) Lease(ctx context.Context, jobID, owner string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		_, err := p.pool.Exec(ctx, `UPDATE batch_jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, jobID, owner)
		return err == nil, err
	}
	tag, err := p.pool.Exec(ctx, `UPDATE batch_jobs SET lease_owner = $2, lease_until = now() + $3 * interval '1 millisecond'
		WHERE id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now())`, jobID, owner, ttl.Milliseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}
