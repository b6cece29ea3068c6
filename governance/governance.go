// Package governance answers "may this key make this request now?" for the
// edge: virtual keys (stored hashed in PostgreSQL), daily and monthly USD
// budgets per key and per tenant, and requests- and tokens-per-minute
// limits per key. It answers from local state; a background loop
// synchronises that state with the database every SyncInterval, so the hot
// path never waits on a database round trip.
//
// Consistency across replicas. Each replica keeps, per counter (a scope and
// a period: a key's spend today, a tenant's spend this month, a key's
// requests this minute, ...), the total it last read from the shared table
// plus its own changes since. Every SyncInterval it adds its changes to
// the shared totals (one upsert per counter) and reads the totals back. A
// replica therefore sees another replica's spend at most 2 x SyncInterval
// late. The overrun bound, per replica and per budget, is:
//
//	overrun <= (requests in flight when the budget is reached) x (largest request cost)
//	         + (what the replica admits within 2 x SyncInterval) x (largest request cost)
//
// Rate limits have the same bound in requests (or tokens) per minute. A
// refused request is never counted.
package governance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// Budget is a USD allowance in micro-dollars; 0 means unlimited.
type Budget struct {
	DailyMicro   int64
	MonthlyMicro int64
}

// Options configure a Governor.
type Options struct {
	// Pool is the shared database. nil: virtual keys are unavailable and
	// budgets and limits hold for this replica only.
	Pool *pgxpool.Pool
	// Setup prepares the schema (migrations) before the first sync; it is
	// retried on each sync until it succeeds. nil means ready.
	Setup func(ctx context.Context) error
	// SyncInterval is how often local state is exchanged with the
	// database. Default 1s. It sets the overrun bound (see the package
	// documentation) and how soon a revoked key stops working everywhere.
	SyncInterval time.Duration
	// Tenants are per-tenant budgets (tenant name => budget).
	Tenants map[string]Budget
	// Now is the clock; nil => time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the rejection counters; nil => unregistered.
	Registerer prometheus.Registerer
}

// Governor is the governance state of one replica. Create it with New,
// stop it with Close. Safe for concurrent use.
type Governor struct {
	o       Options
	log     *slog.Logger
	keys    atomic.Pointer[keySet]
	tenants atomic.Pointer[map[string]Budget]

	mu       sync.Mutex
	counters map[counterKey]*counter

	rejected *prometheus.CounterVec // reason
	syncErrs prometheus.Counter
	synced   atomic.Bool
	dbOK     atomic.Bool // the last sync succeeded
	setupMu  sync.Mutex
	ready    bool // Setup done; guarded by setupMu

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type keySet struct {
	byDigest map[[sha256.Size]byte]*Key
	byID     map[string]*Key
}

type counterKey struct {
	scope  string
	period time.Time
}

// counter is one shared counter as this replica sees it: synced is the
// database total at the last sync, flushing what this replica is adding
// right now, pending what it added since.
type counter struct {
	synced, flushing, pending int64
}

func (c *counter) value() int64 { return c.synced + c.flushing + c.pending }

// New builds a Governor and starts its sync loop; it does no I/O before
// returning.
func New(o Options) *Governor {
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Governor{o: o, log: o.Logger, counters: map[counterKey]*counter{}, stop: make(chan struct{}), done: make(chan struct{})}
	g.keys.Store(&keySet{byDigest: map[[sha256.Size]byte]*Key{}, byID: map[string]*Key{}})
	g.SetTenants(o.Tenants)
	g.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_governance_rejections_total",
		Help: "Requests refused by governance, by reason (budget_key_daily, budget_key_monthly, budget_tenant_daily, budget_tenant_monthly, rpm, tpm)."}, []string{"reason"})
	g.syncErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_governance_sync_errors_total",
		Help: "Failed synchronisations of keys, budgets and rate limits with the database."})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{g.rejected, g.syncErrs, newCollector(g)} {
			if err := o.Registerer.Register(c); err != nil {
				g.log.Error("governance: cannot register metric", "err", err)
			}
		}
	}
	go g.loop()
	return g
}

// SetTenants swaps the per-tenant budgets (config reload).
func (g *Governor) SetTenants(t map[string]Budget) {
	m := make(map[string]Budget, len(t))
	for k, v := range t {
		m[k] = v
	}
	g.tenants.Store(&m)
}

// Close stops the sync loop after one last flush of local counts (bounded
// by SyncInterval + 5s). Idempotent.
func (g *Governor) Close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

// Synced reports whether at least one sync with the database succeeded.
func (g *Governor) Synced() bool { return g.synced.Load() }

// Lookup returns the live virtual key with this SHA-256 digest.
func (g *Governor) Lookup(digest [sha256.Size]byte) (Key, bool) {
	k, ok := g.keys.Load().byDigest[digest]
	if !ok {
		return Key{}, false
	}
	return *k, true
}

// Scopes of counters.
const (
	scopeKeyDay      = "kd:"
	scopeKeyMonth    = "km:"
	scopeTenantDay   = "td:"
	scopeTenantMonth = "tm:"
	scopeKeyRPM      = "kr:"
	scopeKeyTPM      = "kt:"
)

func periods(now time.Time) (day, month, minute time.Time) {
	now = now.UTC()
	day = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return day, month, now.Truncate(time.Minute)
}

// valueLocked returns a counter's value; g.mu must be held.
func (g *Governor) valueLocked(scope string, period time.Time) int64 {
	if c := g.counters[counterKey{scope, period}]; c != nil {
		return c.value()
	}
	return 0
}

func (g *Governor) addLocked(scope string, period time.Time, v int64) {
	k := counterKey{scope, period}
	c := g.counters[k]
	if c == nil {
		c = &counter{}
		g.counters[k] = c
	}
	c.pending += v
}

func (g *Governor) reject(reason string, e *llm.Error) *llm.Error {
	g.rejected.WithLabelValues(reason).Inc()
	return e
}

// Admit decides whether keyID (of tenant) may make one more request now:
// nil admits it and counts it against the key's requests per minute. Over
// a budget it returns KindRateLimited with Code "insufficient_quota"; over
// a rate limit, KindRateLimited with RetryAfter set to the start of the
// next minute.
func (g *Governor) Admit(keyID, tenant string) *llm.Error {
	now := g.o.Now()
	day, month, minute := periods(now)
	k := g.keys.Load().byID[keyID]
	tb := (*g.tenants.Load())[tenant]
	if k == nil && tb == (Budget{}) {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	over := func(scope, id string, period time.Time, limit int64) bool {
		return limit > 0 && g.valueLocked(scope+id, period) >= limit
	}
	quota := func(what string, limit int64) *llm.Error {
		return &llm.Error{Kind: llm.KindRateLimited, Code: "insufficient_quota",
			Message: fmt.Sprintf("%s budget of $%s is spent; it resets at the start of the next %s (UTC)", what, dollars(limit), periodWord(what))}
	}
	if k != nil {
		if over(scopeKeyDay, k.ID, day, k.Budget.DailyMicro) {
			return g.reject("budget_key_daily", quota("this key's daily", k.Budget.DailyMicro))
		}
		if over(scopeKeyMonth, k.ID, month, k.Budget.MonthlyMicro) {
			return g.reject("budget_key_monthly", quota("this key's monthly", k.Budget.MonthlyMicro))
		}
	}
	if over(scopeTenantDay, tenant, day, tb.DailyMicro) {
		return g.reject("budget_tenant_daily", quota("tenant "+strconv.Quote(tenant)+"'s daily", tb.DailyMicro))
	}
	if over(scopeTenantMonth, tenant, month, tb.MonthlyMicro) {
		return g.reject("budget_tenant_monthly", quota("tenant "+strconv.Quote(tenant)+"'s monthly", tb.MonthlyMicro))
	}
	if k != nil {
		retry := minute.Add(time.Minute).Sub(now.UTC())
		if over(scopeKeyRPM, k.ID, minute, int64(k.RPM)) {
			return g.reject("rpm", &llm.Error{Kind: llm.KindRateLimited, Code: llm.CodeRateLimitExceeded, RetryAfter: retry,
				Message: fmt.Sprintf("rate limit of %d requests per minute reached for this key; retry after %ds", k.RPM, int(retry.Seconds()+0.999))})
		}
		if over(scopeKeyTPM, k.ID, minute, int64(k.TPM)) {
			return g.reject("tpm", &llm.Error{Kind: llm.KindRateLimited, Code: llm.CodeRateLimitExceeded, RetryAfter: retry,
				Message: fmt.Sprintf("rate limit of %d tokens per minute reached for this key; retry after %ds", k.TPM, int(retry.Seconds()+0.999))})
		}
		if k.RPM > 0 {
			g.addLocked(scopeKeyRPM+k.ID, minute, 1)
		}
	}
	return nil
}

func periodWord(what string) string {
	if len(what) >= 7 && what[len(what)-7:] == "monthly" {
		return "month"
	}
	return "day"
}

func dollars(micro int64) string {
	return strconv.FormatFloat(float64(micro)/1e6, 'f', -1, 64)
}

// Charge counts an answered request's cost (micro-dollars) and tokens
// against the budgets and tokens per minute of keyID and tenant, at time
// t. Keys and tenants without limits are not tracked.
func (g *Governor) Charge(keyID, tenant string, costMicro, tokens int64, t time.Time) {
	day, month, minute := periods(t)
	k := g.keys.Load().byID[keyID]
	tb := (*g.tenants.Load())[tenant]
	if k == nil && tb == (Budget{}) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if k != nil {
		if k.Budget.DailyMicro > 0 && costMicro != 0 {
			g.addLocked(scopeKeyDay+k.ID, day, costMicro)
		}
		if k.Budget.MonthlyMicro > 0 && costMicro != 0 {
			g.addLocked(scopeKeyMonth+k.ID, month, costMicro)
		}
		if k.TPM > 0 && tokens != 0 {
			g.addLocked(scopeKeyTPM+k.ID, minute, tokens)
		}
	}
	if tb.DailyMicro > 0 && costMicro != 0 {
		g.addLocked(scopeTenantDay+tenant, day, costMicro)
	}
	if tb.MonthlyMicro > 0 && costMicro != 0 {
		g.addLocked(scopeTenantMonth+tenant, month, costMicro)
	}
}

func (g *Governor) loop() {
	defer close(g.done)
	t := time.NewTicker(g.o.SyncInterval)
	defer t.Stop()
	g.syncOnce()
	for {
		select {
		case <-t.C:
			g.syncOnce()
		case <-g.stop:
			g.syncOnce()
			return
		}
	}
}

// syncOnce refreshes the keys and exchanges counters with the database,
// then forgets counters of past periods.
func (g *Governor) syncOnce() {
	now := g.o.Now()
	if g.o.Pool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), g.o.SyncInterval+5*time.Second)
		err := g.syncDB(ctx, now)
		cancel()
		g.dbOK.Store(err == nil)
		if err != nil {
			g.syncErrs.Inc()
			g.log.Warn("governance: sync with the database failed; using local state", "err", err)
		} else {
			g.synced.Store(true)
		}
	}
	day, month, minute := periods(now)
	g.mu.Lock()
	for k, c := range g.counters {
		old := k.period.Before(month)
		switch k.scope[:3] {
		case scopeKeyDay, scopeTenantDay:
			old = k.period.Before(day)
		case scopeKeyRPM, scopeKeyTPM:
			old = k.period.Before(minute)
		}
		if old && c.flushing == 0 && (c.pending == 0 || g.o.Pool == nil) {
			delete(g.counters, k)
		}
	}
	g.mu.Unlock()
}

// setup runs Options.Setup once successfully.
func (g *Governor) setup(ctx context.Context) error {
	g.setupMu.Lock()
	defer g.setupMu.Unlock()
	if g.ready || g.o.Setup == nil {
		g.ready = true
		return nil
	}
	if err := g.o.Setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	g.ready = true
	return nil
}

func (g *Governor) syncDB(ctx context.Context, now time.Time) error {
	if err := g.setup(ctx); err != nil {
		return err
	}
	if err := g.loadKeys(ctx); err != nil {
		return err
	}
	type delta struct {
		k counterKey
		v int64
	}
	g.mu.Lock()
	var deltas []delta
	for k, c := range g.counters {
		if c.pending != 0 {
			deltas = append(deltas, delta{k, c.pending})
			c.flushing += c.pending
			c.pending = 0
		}
	}
	g.mu.Unlock()
	giveBack := func() {
		g.mu.Lock()
		for _, d := range deltas {
			c := g.counters[d.k]
			c.flushing -= d.v
			c.pending += d.v
		}
		g.mu.Unlock()
	}
	b := &pgx.Batch{}
	for _, d := range deltas {
		b.Queue(`INSERT INTO governance_counters (scope, period, value) VALUES ($1, $2, $3)
ON CONFLICT (scope, period) DO UPDATE SET value = governance_counters.value + excluded.value`, d.k.scope, d.k.period, d.v)
	}
	day, month, minute := periods(now)
	b.Queue(`SELECT scope, period, value FROM governance_counters WHERE period = ANY($1)`, []time.Time{day, month, minute})
	br := g.o.Pool.SendBatch(ctx, b)
	for range deltas {
		if _, err := br.Exec(); err != nil {
			br.Close()
			giveBack()
			return fmt.Errorf("add counters: %w", err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		giveBack()
		return fmt.Errorf("read counters: %w", err)
	}
	totals := map[counterKey]int64{}
	for rows.Next() {
		var k counterKey
		var v int64
		if err := rows.Scan(&k.scope, &k.period, &v); err != nil {
			rows.Close()
			br.Close()
			giveBack()
			return fmt.Errorf("read counters: %w", err)
		}
		k.period = k.period.UTC()
		totals[k] = v
	}
	rows.Close()
	err = rows.Err()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The adds may have committed (each statement is its own
		// transaction): do not give them back, or they would count twice.
		g.mu.Lock()
		for _, d := range deltas {
			g.counters[d.k].flushing -= d.v
			g.counters[d.k].synced += d.v
		}
		g.mu.Unlock()
		return fmt.Errorf("read counters: %w", err)
	}
	g.mu.Lock()
	for _, d := range deltas {
		g.counters[d.k].flushing -= d.v
	}
	for k, v := range totals {
		c := g.counters[k]
		if c == nil {
			c = &counter{}
			g.counters[k] = c
		}
		c.synced = v
	}
	g.mu.Unlock()
	if now.Minute() == 0 && now.Second() < int(g.o.SyncInterval.Seconds())+1 {
		_, _ = g.o.Pool.Exec(ctx, `DELETE FROM governance_counters WHERE period < $1 OR ((scope LIKE 'kr:%' OR scope LIKE 'kt:%') AND period < $2)`,
			month.AddDate(0, -2, 0), minute.Add(-time.Hour))
	}
	return nil
}
