package usage

import (
	"context"
	"testing"
	"time"

	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

// TestPGLedgerSurvivesRestartAndSumsReplicas writes through two recorders
// (two replicas) on one database, "restarts" by building a fresh store, and
// checks that both replicas' usage is there, summed, to the micro-dollar.
func TestPGLedgerSurvivesRestartAndSumsReplicas(t *testing.T) {
	db := pgtest.New(t)
	setup := func(ctx context.Context) error { return migrations.Apply(ctx, db.Pool, db.Schema) }
	newStore := func() *PGStore { return NewPGStore(db.Pool, PGOptions{Setup: setup}) }
	a := NewRecorder(&fixedAnswer{model: "gpt-4o", usage: openAIUsage(1234, 567, 1024)}, Options{Prices: table(t), Store: newStore(), Now: func() time.Time { return day1 }})
	b := NewRecorder(&fixedAnswer{model: "claude-sonnet-4-5", usage: anthropicUsage(100, 2000, 500, 300)}, Options{Prices: table(t), Store: newStore(), Now: func() time.Time { return day1 }})
	for i := 0; i < 3; i++ {
		for _, r := range []*Recorder{a, b} {
			if _, err := r.Complete(context.Background(), req("t1", "pinned")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.Complete(context.Background(), req("t2", "pinned")); err != nil {
		t.Fatal(err)
	}
	a.Close() // a clean shutdown drains the queue
	b.Close()

	restarted := NewRecorder(completerOnly{}, Options{Store: newStore()})
	defer restarted.Close()
	q := Query{Filter: Filter{From: day1.Add(-time.Hour), To: day1.Add(time.Hour), All: true}, GroupBy: GroupModel}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := restarted.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Store != "postgres" || rep.Totals.Requests != 7 || rep.Totals.CostUSD != 3*7475+4*7275 {
		t.Fatalf("after restart: %+v", rep.Totals)
	}
	if rep.Totals.CacheReadTokens != 3*1024+4*2000 || rep.Totals.CacheWriteTokens != 4*500 {
		t.Fatalf("cache tokens: %+v", rep.Totals)
	}
	q.All, q.Tenant = false, "t2"
	rep, err = restarted.Report(context.Background(), q)
	if err != nil || rep.Totals.Requests != 1 || rep.Totals.CostUSD != 7275 {
		t.Fatalf("tenant t2 sees %+v (%v)", rep, err)
	}
	var events int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM usage_events").Scan(&events); err != nil || events != 7 {
		t.Fatalf("usage_events = %d (%v)", events, err)
	}
	// Retention: as of 40 days later, the events go and the rollups stay.
	if err := newStore().Retain(context.Background(), day1.Add(40*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_ = db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM usage_events").Scan(&events)
	var rollups int
	_ = db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM usage_hourly").Scan(&rollups)
	if events != 0 || rollups == 0 {
		t.Fatalf("after retention: %d events, %d rollups", events, rollups)
	}
}
