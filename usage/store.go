package usage

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Store is where the ledger keeps records: MemoryStore or PGStore.
type Store interface {
	// Write stores a batch of records. A failed Write stored nothing (the
	// caller may retry the same batch). It must honour ctx.
	Write(ctx context.Context, recs []Record) error
	// Rows returns the hourly rollup rows whose hour lies in [f.From, f.To)
	// and that f lets its caller see.
	Rows(ctx context.Context, f Filter) ([]Row, error)
}

// Filter selects rollup rows. A caller with All sees every tenant; else
// only Tenant's rows (a tenant must never see another's usage).
type Filter struct {
	From, To time.Time
	Tenant   string
	All      bool
}

func (f *Filter) match(k *RowKey) bool {
	return !k.Hour.Before(f.From) && k.Hour.Before(f.To) && (f.All || k.Tenant == f.Tenant)
}

// MemoryStore keeps hourly rollups in process memory: the ledger without a
// database (lost on restart, per replica). It is safe for concurrent use
// and holds at most maxRows rows: a new row in a full store evicts the
// rows of the oldest hour held.
type MemoryStore struct {
	mu      sync.Mutex
	rows    map[RowKey]*Row
	maxRows int
	evicted uint64
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store of at most maxRows rows (100000
// when maxRows <= 0).
func NewMemoryStore(maxRows int) *MemoryStore {
	if maxRows <= 0 {
		maxRows = 100000
	}
	return &MemoryStore{rows: make(map[RowKey]*Row), maxRows: maxRows}
}

// Write implements Store; it never fails.
func (m *MemoryStore) Write(_ context.Context, recs []Record) error {
	rows := rollup(recs)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range rows {
		r := &rows[i]
		if cur := m.rows[r.RowKey]; cur != nil {
			cur.Add(&r.Sums)
			continue
		}
		if len(m.rows) >= m.maxRows {
			m.evictLocked()
		}
		c := *r
		m.rows[r.RowKey] = &c
	}
	return nil
}

func (m *MemoryStore) evictLocked() {
	var oldest time.Time
	for k := range m.rows {
		if oldest.IsZero() || k.Hour.Before(oldest) {
			oldest = k.Hour
		}
	}
	for k := range m.rows {
		if k.Hour.Equal(oldest) {
			delete(m.rows, k)
			m.evicted++
		}
	}
}

// Evicted returns how many rows were dropped to keep the bound.
func (m *MemoryStore) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

// Rows implements Store.
func (m *MemoryStore) Rows(_ context.Context, f Filter) ([]Row, error) {
	m.mu.Lock()
	out := make([]Row, 0, len(m.rows))
	for k, r := range m.rows {
		if f.match(&k) {
			out = append(out, *r)
		}
	}
	m.mu.Unlock()
	sortRows(out)
	return out, nil
}

func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].RowKey.less(&rows[j].RowKey) })
}

func (a *RowKey) less(b *RowKey) bool {
	if !a.Hour.Equal(b.Hour) {
		return a.Hour.Before(b.Hour)
	}
	if a.Tenant != b.Tenant {
		return a.Tenant < b.Tenant
	}
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	if a.Tier != b.Tier {
		return a.Tier < b.Tier
	}
	return a.Provider < b.Provider
}
