package reqlog

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

func stores(t *testing.T) map[string]Store {
	db := pgtest.New(t)
	return map[string]Store{
		"memory": NewMemStore(100),
		"postgres": NewPGStore(db.Pool, func(ctx context.Context) error {
			return migrations.Apply(ctx, db.Pool, db.Schema)
		}),
	}
}

func sample(base time.Time) []llm.RequestRecord {
	return []llm.RequestRecord{
		{Time: base, RequestID: "r1", Tenant: "a", API: "chat", Model: "auto", Tier: "small", Score: 0.1,
			Reasons: []string{"short"}, Cache: llm.CacheMiss, UpstreamModel: "m1", Provider: "p1", Status: 200, CostUSD: 0.5,
			Attempts: []llm.Attempt{{Provider: "p1", Model: "m1", Start: base, Latency: time.Millisecond, Outcome: "ok"}}},
		{Time: base.Add(time.Second), RequestID: "r2", Tenant: "a", API: "chat", Model: "auto", Tier: "large",
			Cache: llm.CacheExact, UpstreamModel: "m1", Status: 200, SavedUSD: 0.5},
		{Time: base.Add(2 * time.Second), RequestID: "r3", Tenant: "b", API: "chat", Model: "chat", Cache: llm.CacheMiss,
			Status: 502, ErrorKind: "upstream_error", Provider: "p2",
			Attempts: []llm.Attempt{{Provider: "p2", Model: "m2", Outcome: "upstream_error", Status: 500, Reason: "failover"}}},
		{Time: base.Add(2 * time.Second), RequestID: "r4", Tenant: "b", API: "embeddings", Model: "emb", Status: 429,
			ErrorKind: "rate_limited", Prompt: "hello"},
	}
}

func TestStores(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := st.Insert(ctx, sample(base)); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ query, want string }{
				{"", "[r4 r3 r2 r1]"},
				{"tenant=a", "[r2 r1]"},
				{"model=m1", "[r2 r1]"},
				{"model=chat", "[r3]"},
				{"tier=small", "[r1]"},
				{"status=error", "[r4 r3]"},
				{"status=5xx", "[r3]"},
				{"status=429", "[r4]"},
				{"cache=exact", "[r2]"},
				{"min_cost=0.4", "[r1]"},
				{"q=UPSTREAM", "[r3]"},
				{"q=short", "[r1]"},
				{"from=" + base.Add(time.Second).Format(time.RFC3339), "[r4 r3 r2]"},
				{"to=" + base.Add(time.Second).Format(time.RFC3339), "[r1]"},
				{"limit=2", "[r4 r3 r2]"}, // the store returns one more, for the cursor
			} {
				v, _ := url.ParseQuery(tc.query)
				q, err := ParseQuery(v)
				if err != nil {
					t.Fatalf("%s: %v", tc.query, err)
				}
				rows, err := st.Query(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", tc.query, err)
				}
				var ids []string
				for _, r := range rows {
					ids = append(ids, r.RequestID)
				}
				if got := fmt.Sprint(ids); got != tc.want {
					t.Errorf("%q: %s, want %s", tc.query, got, tc.want)
				}
			}
			rows, _ := st.Query(ctx, Query{Q: "r1"})
			if len(rows) != 1 || len(rows[0].Attempts) != 1 || rows[0].Attempts[0].Latency != time.Millisecond ||
				rows[0].Reasons[0] != "short" || !rows[0].Time.Equal(base) {
				t.Errorf("r1 round trip: %+v", rows)
			}
			n, err := st.Purge(ctx, base.Add(time.Second))
			if err != nil || n != 1 {
				t.Errorf("purge: %d %v", n, err)
			}
			if rows, _ := st.Query(ctx, Query{}); len(rows) != 3 {
				t.Errorf("after purge %d rows", len(rows))
			}
		})
	}
}

func TestLogPagesAndDrops(t *testing.T) {
	l, err := New(Options{QueueSize: 2, FlushInterval: time.Hour, BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	// The writer goroutine may take some rows off the queue; fill well past it.
	for i := 0; i < 50; i++ {
		l.Record(llm.RequestRecord{Time: base.Add(time.Duration(i) * time.Millisecond), RequestID: fmt.Sprintf("r%02d", i)})
	}
	if l.Dropped() == 0 {
		t.Error("a full queue dropped nothing")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Record(llm.RequestRecord{RequestID: "late"})
	kept := 50 - int(l.Dropped()) + 1
	var seen []string
	q := Query{Limit: 2}
	for {
		p, err := l.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Data {
			seen = append(seen, r.RequestID)
		}
		if p.NextCursor == "" {
			break
		}
		v := url.Values{"cursor": {p.NextCursor}, "limit": {"2"}}
		if q, err = ParseQuery(v); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != kept {
		t.Errorf("pages held %d rows, want %d kept (dropped %d)", len(seen), kept, l.Dropped())
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Errorf("not newest first: %v", seen)
		}
	}
}

func TestParseQueryRejects(t *testing.T) {
	for _, q := range []string{"from=yesterday", "tier=huge", "status=7xx", "cache=maybe", "min_cost=-1",
		"limit=0", "limit=501", "cursor=!!"} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseQuery(v); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}
