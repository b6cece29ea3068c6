package cache

import (
	"container/list"
	"context"
	"math"
	"sort"
	"sync"
	"time"
)

// MemStore is the in-process semantic backend, used when no database is
// configured: entries are partitioned by scope, so a search is a brute-force
// cosine scan over one scope's few entries. It is bounded in entries overall
// (least recently inserted evicted first) and honours each entry's expiry.
// Namespace versions live in memory: an invalidation is seen by this process
// only. Safe for concurrent use.
type MemStore struct {
	max int
	now func() time.Time

	mu     sync.Mutex
	order  *list.List // of *memEntry, oldest at Front
	scopes map[Key][]*list.Element
	ns     map[string]int64
}

type memEntry struct {
	e    Entry
	norm float64
}

// NewMemStore returns an in-process store holding at most maxEntries
// entries (default 10,000 when <= 0).
func NewMemStore(maxEntries int) *MemStore {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &MemStore{max: maxEntries, now: time.Now, order: list.New(),
		scopes: make(map[Key][]*list.Element), ns: make(map[string]int64)}
}

// Search implements Store.
func (s *MemStore) Search(ctx context.Context, tenant string, scope Key, vec []float32, k int) ([]Match, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qn := norm(vec)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Match
	for _, el := range s.scopes[scope] {
		me := el.Value.(*memEntry)
		if me.e.Tenant != tenant || !me.e.Expires.After(now) || len(me.e.Vec) != len(vec) {
			continue
		}
		out = append(out, Match{Prompt: me.e.Prompt, Similarity: cosine(vec, me.e.Vec, qn, me.norm),
			Response: me.e.Response, Provider: me.e.Provider})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Similarity > out[j].Similarity })
	if len(out) > k {
		out = out[:k]
	}
	return out, nil
}

// Insert implements Store.
func (s *MemStore) Insert(ctx context.Context, entries []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		el := s.order.PushBack(&memEntry{e: e, norm: norm(e.Vec)})
		s.scopes[e.Scope] = append(s.scopes[e.Scope], el)
		for s.order.Len() > s.max {
			s.removeLocked(s.order.Front())
		}
	}
	return nil
}

func (s *MemStore) removeLocked(el *list.Element) {
	me := s.order.Remove(el).(*memEntry)
	els := s.scopes[me.e.Scope]
	for i, x := range els {
		if x == el {
			els = append(els[:i], els[i+1:]...)
			break
		}
	}
	if len(els) == 0 {
		delete(s.scopes, me.e.Scope)
	} else {
		s.scopes[me.e.Scope] = els
	}
}

// Purge implements Store.
func (s *MemStore) Purge(ctx context.Context, limit int) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for el := s.order.Front(); el != nil && n < limit; {
		next := el.Next()
		if !el.Value.(*memEntry).e.Expires.After(now) {
			s.removeLocked(el)
			n++
		}
		el = next
	}
	return n, nil
}

// Len returns the number of entries held (expired ones included until purged).
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// Version implements Namespaces.
func (s *MemStore) Version(ctx context.Context, tenant string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns[tenant], nil
}

// Bump implements Namespaces.
func (s *MemStore) Bump(ctx context.Context, tenant string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns[tenant]++
	return s.ns[tenant], nil
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32, na, nb float64) float64 {
	if na == 0 || nb == 0 {
		return 0
	}
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot / (na * nb)
}
