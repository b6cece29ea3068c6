package batch

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Store keeps files, jobs and line results. Implementations must be safe
// for concurrent use; a Job or File passed in or returned is a copy the
// caller owns.
type Store interface {
	// PutFile stores a new file and its content.
	PutFile(ctx context.Context, f *File, content []byte) error
	// File returns tenant's file id and its content, or ErrNotFound.
	File(ctx context.Context, tenant, id string) (*File, []byte, error)
	// PutJob inserts or replaces a job.
	PutJob(ctx context.Context, j *Job) error
	// Job returns tenant's job id, or ErrNotFound.
	Job(ctx context.Context, tenant, id string) (*Job, error)
	// ActiveJobs returns every job the worker still has to run, oldest
	// first, across tenants.
	ActiveJobs(ctx context.Context) ([]*Job, error)
	// PutLine stores the result (one output JSON line) of line idx of job;
	// storing a line twice keeps the first.
	PutLine(ctx context.Context, jobID string, idx int, result []byte) error
	// Lines returns the stored results of job by line index.
	Lines(ctx context.Context, jobID string) (map[int][]byte, error)
	// Lease makes owner the only runner of job for ttl, renewing owner's
	// own lease; it reports false when another owner holds an unexpired
	// one. ttl 0 releases owner's lease.
	Lease(ctx context.Context, jobID, owner string, ttl time.Duration) (bool, error)
}

// MemStore is a Store in process memory: jobs do not survive a restart.
type MemStore struct {
	mu    sync.Mutex
	files map[string]memFile
	jobs  map[string]Job
	lines map[string]map[int][]byte
	lease map[string]memLease
}

type memLease struct {
	owner string
	until time.Time
}

type memFile struct {
	f       File
	content []byte
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{files: map[string]memFile{}, jobs: map[string]Job{}, lines: map[string]map[int][]byte{}, lease: map[string]memLease{}}
}

// PutFile implements Store.
func (m *MemStore) PutFile(_ context.Context, f *File, content []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[f.ID] = memFile{f: *f, content: append([]byte(nil), content...)}
	return nil
}

// File implements Store.
func (m *MemStore) File(_ context.Context, tenant, id string) (*File, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mf, ok := m.files[id]
	if !ok || mf.f.Tenant != tenant {
		return nil, nil, ErrNotFound
	}
	f := mf.f
	return &f, mf.content, nil
}

// PutJob implements Store.
func (m *MemStore) PutJob(_ context.Context, j *Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs[j.ID] = cloneJob(j)
	return nil
}

// Job implements Store.
func (m *MemStore) Job(_ context.Context, tenant, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || j.Tenant != tenant {
		return nil, ErrNotFound
	}
	out := cloneJob(&j)
	return &out, nil
}

// ActiveJobs implements Store.
func (m *MemStore) ActiveJobs(context.Context) ([]*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Job
	for _, j := range m.jobs {
		if j.active() {
			c := cloneJob(&j)
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		return out[a].CreatedAt < out[b].CreatedAt || out[a].CreatedAt == out[b].CreatedAt && out[a].ID < out[b].ID
	})
	return out, nil
}

// PutLine implements Store.
func (m *MemStore) PutLine(_ context.Context, jobID string, idx int, result []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := m.lines[jobID]
	if ls == nil {
		ls = map[int][]byte{}
		m.lines[jobID] = ls
	}
	if _, ok := ls[idx]; !ok {
		ls[idx] = append([]byte(nil), result...)
	}
	return nil
}

// Lines implements Store.
func (m *MemStore) Lines(_ context.Context, jobID string) (map[int][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int][]byte, len(m.lines[jobID]))
	for k, v := range m.lines[jobID] {
		out[k] = v
	}
	return out, nil
}

func cloneJob(j *Job) Job {
	c := *j
	if j.Metadata != nil {
		c.Metadata = make(map[string]string, len(j.Metadata))
		for k, v := range j.Metadata {
			c.Metadata[k] = v
		}
	}
	if j.Errors != nil {
		e := *j.Errors
		e.Data = append([]JobError(nil), j.Errors.Data...)
		c.Errors = &e
	}
	return c
}

// Lease implements Store.
func (m *MemStore) Lease(_ context.Context, jobID, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	cur, held := m.lease[jobID]
	if held && cur.owner != owner && now.Before(cur.until) {
		return false, nil
	}
	if ttl <= 0 {
		if held && cur.owner == owner {
			delete(m.lease, jobID)
		}
		return true, nil
	}
	m.lease[jobID] = memLease{owner: owner, until: now.Add(ttl)}
	return true, nil
}
