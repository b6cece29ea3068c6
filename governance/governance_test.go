package governance

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// replicas returns n governors sharing one fresh database schema.
func replicas(t *testing.T, n int, sync time.Duration, tenants map[string]Budget) []*Governor {
	t.Helper()
	db := pgtest.New(t)
	if err := migrations.Apply(context.Background(), db.Pool, db.Schema); err != nil {
		t.Fatal(err)
	}
	out := make([]*Governor, n)
	for i := range out {
		out[i] = New(Options{Pool: db.Pool, SyncInterval: sync, Tenants: tenants})
		t.Cleanup(out[i].Close)
	}
	return out
}

func create(t *testing.T, g *Governor, body string) KeyView {
	t.Helper()
	v, err := g.CreateKey(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return v.(KeyView)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevokedKeyRefusedByOtherReplica: a key created on replica A works on
// B after a sync; revoked on A, B refuses it within a few sync intervals.
func TestRevokedKeyRefusedByOtherReplica(t *testing.T) {
	rs := replicas(t, 2, 50*time.Millisecond, nil)
	a, b := rs[0], rs[1]
	k := create(t, a, `{"tenant":"team-x","name":"ci","models":["auto"],"max_tier":"medium"}`)
	if k.Key == "" || k.Prefix != k.Key[:10] || k.Tenant != "team-x" {
		t.Fatalf("created %+v", k)
	}
	digest := sha256.Sum256([]byte(k.Key))
	if got, ok := a.Lookup(digest); !ok || got.MaxTier != llm.TierMedium {
		t.Fatal("creator does not know its key at once")
	}
	waitFor(t, "replica B accepts the new key", 2*time.Second, func() bool { _, ok := b.Lookup(digest); return ok })
	if _, err := a.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Lookup(digest); ok {
		t.Fatal("revoking replica still accepts the key")
	}
	start := time.Now()
	waitFor(t, "replica B refuses the revoked key", 2*time.Second, func() bool { _, ok := b.Lookup(digest); return !ok })
	t.Logf("revocation seen by the other replica after %v", time.Since(start))
	list, err := b.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(list)
	var l struct {
		Data []KeyView `json:"data"`
	}
	_ = json.Unmarshal(js, &l)
	if len(l.Data) != 1 || l.Data[0].RevokedAt == nil || l.Data[0].Key != "" {
		t.Fatalf("list = %s", js)
	}
	if _, err := b.RevokeKey(context.Background(), "vk_nope"); llm.AsError(err).Kind != llm.KindUnknownModel {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestCreateKeyRejectsBadInput(t *testing.T) {
	g := replicas(t, 1, time.Second, nil)[0]
	for _, body := range []string{`{}`, `{"tenant":"a","max_tier":"huge"}`, `{"tenant":"a","daily_budget_usd":-1}`, `{"tenant":"a","rpm":-1}`, `{"tenant":"a","colour":1}`, `nope`} {
		if _, err := g.CreateKey(context.Background(), []byte(body)); llm.AsError(err).Kind != llm.KindInvalidRequest {
			t.Errorf("%s: %v", body, err)
		}
	}
	local := New(Options{})
	defer local.Close()
	if _, err := local.CreateKey(context.Background(), []byte(`{"tenant":"a"}`)); err != errNoDB {
		t.Errorf("without a database: %v", err)
	}
}

// TestBudgetOverrunBoundTwoReplicas fires concurrent requests at a nearly
// spent budget from two replicas and checks the total spend stays within
// the documented bound: per replica, (in-flight requests + requests it
// admits within 2 x SyncInterval) x the request cost.
func TestBudgetOverrunBoundTwoReplicas(t *testing.T) {
	const (
		syncEvery = 50 * time.Millisecond
		latency   = 10 * time.Millisecond // each request's upstream time
		workers   = 4                     // concurrent requests per replica
		cost      = 1000                  // micro-dollars per request
		perWorker = 60                    // attempts per worker
	)
	rs := replicas(t, 2, syncEvery, map[string]Budget{"t": {DailyMicro: 20 * cost}})
	// Spend most of the budget first, and let both replicas see it.
	rs[0].Charge("", "t", 18*cost, 0, time.Now())
	waitFor(t, "replica B sees the spend", 2*time.Second, func() bool {
		rs[1].mu.Lock()
		defer rs[1].mu.Unlock()
		day, _, _ := periods(time.Now())
		return rs[1].valueLocked(scopeTenantDay+"t", day) == 18*cost
	})
	var spent, admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for _, g := range rs {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					if e := g.Admit("", "t"); e != nil {
						if e.Code != "insufficient_quota" {
							t.Errorf("refusal %+v", e)
						}
						refused.Add(1)
						time.Sleep(latency)
						continue
					}
					admitted.Add(1)
					time.Sleep(latency)
					g.Charge("", "t", cost, 0, time.Now())
					spent.Add(cost)
				}
			}()
		}
	}
	wg.Wait()
	remaining := int64(2 * cost)
	// Per replica: `workers` in flight, plus what its workers admit in
	// 2 x SyncInterval (one request per latency each).
	perReplica := int64(workers+workers*int(2*syncEvery/latency)) * cost
	bound := 2 * perReplica
	overrun := spent.Load() - remaining
	t.Logf("admitted %d, refused %d, overrun $%.6f, bound $%.6f (no governance would spend $%.3f)",
		admitted.Load(), refused.Load(), float64(overrun)/1e6, float64(bound)/1e6, float64(2*workers*perWorker*cost)/1e6)
	if overrun > bound {
		t.Fatalf("overrun %d µ$ exceeds the documented bound %d µ$", overrun, bound)
	}
	if refused.Load() == 0 {
		t.Fatal("nothing refused: the budget did not hold at all")
	}
}

// TestRateLimitsRetryAfter: rpm and tpm refuse with a Retry-After up to
// the next minute, shared by replicas.
func TestRateLimitsRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 30, 45, 0, time.UTC)
	db := pgtest.New(t)
	if err := migrations.Apply(context.Background(), db.Pool, db.Schema); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	g := New(Options{Pool: db.Pool, SyncInterval: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	defer g.Close()
	k := create(t, g, `{"tenant":"a","rpm":3,"tpm":100}`)
	for i := 0; i < 3; i++ {
		if e := g.Admit(k.ID, "a"); e != nil {
			t.Fatalf("request %d refused: %v", i, e)
		}
	}
	e := g.Admit(k.ID, "a")
	if e == nil || e.Kind != llm.KindRateLimited || e.RetryAfter != 15*time.Second || e.Code != llm.CodeRateLimitExceeded {
		t.Fatalf("4th request: %+v", e)
	}
	mu.Lock()
	now = now.Add(20 * time.Second) // next minute
	mu.Unlock()
	if e := g.Admit(k.ID, "a"); e != nil {
		t.Fatalf("next minute refused: %v", e)
	}
	g.Charge(k.ID, "a", 0, 150, now)
	if e := g.Admit(k.ID, "a"); e == nil || e.RetryAfter != 55*time.Second {
		t.Fatalf("over tpm: %+v", e)
	}
}

func TestBudgetsPerKeyAndTenantLocal(t *testing.T) {
	g := New(Options{Tenants: map[string]Budget{"t": {MonthlyMicro: 5000}}})
	defer g.Close()
	k := &Key{ID: "vk_1", Tenant: "t", Budget: Budget{DailyMicro: 3000}}
	g.install(k)
	if e := g.Admit("vk_1", "t"); e != nil {
		t.Fatal(e)
	}
	g.Charge("vk_1", "t", 3000, 10, time.Now())
	if e := g.Admit("vk_1", "t"); e == nil || e.Code != "insufficient_quota" {
		t.Fatalf("key daily: %+v", e)
	}
	if e := g.Admit("yaml:t:1", "t"); e != nil {
		t.Fatalf("tenant has budget left: %v", e)
	}
	g.Charge("yaml:t:1", "t", 2000, 10, time.Now())
	if e := g.Admit("yaml:t:1", "t"); e == nil || e.Code != "insufficient_quota" {
		t.Fatalf("tenant monthly: %+v", e)
	}
	if e := g.Admit("other", "u"); e != nil {
		t.Fatalf("unlimited tenant refused: %v", e)
	}
}
