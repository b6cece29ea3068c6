package usage

import (
	"sort"
	"sync"
	"time"
)

// Record is one answered request as the ledger counts it.
type Record struct {
	Time             time.Time
	Tenant           string // "" when auth is off
	Model            string // upstream model that answered (or whose answer was replayed)
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int     // prompt tokens read from the provider's prompt cache
	CostUSD          float64 // what the upstream charged; 0 for a cache hit
	CacheHit         bool    // answered by llmrouter's own cache
	SavedUSD         float64 // for a cache hit: what the answer would have cost
	Unpriced         bool    // the model has no price
}

// Row is the ledger's aggregate for one (tenant, model, UTC day).
type Row struct {
	Day              string  `json:"day"` // YYYY-MM-DD, UTC
	Tenant           string  `json:"tenant"`
	Model            string  `json:"model"`
	Requests         int64   `json:"requests"`
	CacheHits        int64   `json:"cache_hits"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	SavedUSD         float64 `json:"saved_usd"`
	Unpriced         int64   `json:"unpriced_requests"`
}

// Totals sums rows.
type Totals struct {
	Requests         int64   `json:"requests"`
	CacheHits        int64   `json:"cache_hits"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	SavedUSD         float64 `json:"saved_usd"`
	Unpriced         int64   `json:"unpriced_requests"`
}

// Snapshot is the ledger as the cost dashboard shows it (JSON-ready).
type Snapshot struct {
	GeneratedAt time.Time `json:"generated_at"`
	Totals      Totals    `json:"totals"`
	// Rows are ordered newest day first, then tenant, then model.
	Rows []Row `json:"rows"`
	// Evicted counts rows dropped to keep the ledger within its bound.
	Evicted uint64 `json:"evicted_rows"`
	// Dropped counts records lost because the recorder's queue was full.
	Dropped uint64 `json:"dropped_records"`
}

type rowKey struct{ day, tenant, model string }

// Ledger aggregates records per (tenant, model, UTC day) in memory. It is
// safe for concurrent use and holds at most maxRows rows: adding a new row
// to a full ledger evicts the rows of the oldest day (or, when only one day
// is held, that day's smallest row).
type Ledger struct {
	mu      sync.Mutex
	rows    map[rowKey]*Row
	maxRows int
	evicted uint64
}

// NewLedger returns an empty ledger bounded to maxRows rows (100000 when
// maxRows <= 0).
func NewLedger(maxRows int) *Ledger {
	if maxRows <= 0 {
		maxRows = 100000
	}
	return &Ledger{rows: make(map[rowKey]*Row), maxRows: maxRows}
}

// Add counts one record.
func (l *Ledger) Add(r Record) {
	k := rowKey{day: r.Time.UTC().Format(time.DateOnly), tenant: r.Tenant, model: r.Model}
	l.mu.Lock()
	defer l.mu.Unlock()
	row := l.rows[k]
	if row == nil {
		if len(l.rows) >= l.maxRows {
			l.evictLocked()
		}
		row = &Row{Day: k.day, Tenant: k.tenant, Model: k.model}
		l.rows[k] = row
	}
	row.Requests++
	if r.CacheHit {
		row.CacheHits++
	}
	if r.Unpriced {
		row.Unpriced++
	}
	row.PromptTokens += int64(r.PromptTokens)
	row.CompletionTokens += int64(r.CompletionTokens)
	row.CachedTokens += int64(r.CachedTokens)
	row.CostUSD += r.CostUSD
	row.SavedUSD += r.SavedUSD
}

func (l *Ledger) evictLocked() {
	oldest := ""
	days := map[string]bool{}
	for k := range l.rows {
		days[k.day] = true
		if oldest == "" || k.day < oldest {
			oldest = k.day
		}
	}
	if len(days) > 1 {
		for k := range l.rows {
			if k.day == oldest {
				delete(l.rows, k)
				l.evicted++
			}
		}
		return
	}
	var victim rowKey
	var least int64 = -1
	for k, r := range l.rows {
		if least < 0 || r.Requests < least || (r.Requests == least && k.tenant+k.model < victim.tenant+victim.model) {
			victim, least = k, r.Requests
		}
	}
	delete(l.rows, victim)
	l.evicted++
}

// Snapshot copies the ledger. dropped is reported as Snapshot.Dropped.
func (l *Ledger) snapshot(now time.Time, dropped uint64) Snapshot {
	l.mu.Lock()
	s := Snapshot{GeneratedAt: now.UTC(), Rows: make([]Row, 0, len(l.rows)), Evicted: l.evicted, Dropped: dropped}
	for _, r := range l.rows {
		s.Rows = append(s.Rows, *r)
	}
	l.mu.Unlock()
	sort.Slice(s.Rows, func(i, j int) bool {
		a, b := &s.Rows[i], &s.Rows[j]
		if a.Day != b.Day {
			return a.Day > b.Day
		}
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		return a.Model < b.Model
	})
	s.Totals = sumRows(s.Rows)
	return s
}

// ForTenant returns the snapshot restricted to one tenant's rows, with the
// totals of those rows (a tenant must never see another's usage).
func (s Snapshot) ForTenant(tenant string) Snapshot {
	rows := make([]Row, 0, len(s.Rows))
	for _, r := range s.Rows {
		if r.Tenant == tenant {
			rows = append(rows, r)
		}
	}
	s.Rows, s.Totals = rows, sumRows(rows)
	return s
}

func sumRows(rows []Row) Totals {
	var t Totals
	for _, r := range rows {
		t.Requests += r.Requests
		t.CacheHits += r.CacheHits
		t.PromptTokens += r.PromptTokens
		t.CompletionTokens += r.CompletionTokens
		t.CachedTokens += r.CachedTokens
		t.CostUSD += r.CostUSD
		t.SavedUSD += r.SavedUSD
		t.Unpriced += r.Unpriced
	}
	return t
}

// Snapshot returns the ledger's rows and totals.
func (l *Ledger) Snapshot() Snapshot { return l.snapshot(time.Now(), 0) }
