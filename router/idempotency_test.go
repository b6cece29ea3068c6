package router

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"llmrouter/llm"
)

// TestIdempotencyKey: repeats of a keyed request, in flight or completed,
// reach the upstream once and get the first answer.
func TestIdempotencyKey(t *testing.T) {
	keyed := func(key, tenant, prompt string, stream bool) *llm.Request {
		r := chatReq("m")
		r.IdempotencyKey, r.Tenant, r.Stream = key, tenant, stream
		r.Messages = []llm.Message{{Role: "user", Content: llm.TextContent(prompt)}}
		return r
	}
	tests := []struct {
		name       string
		upstream   func() *fake
		reqs       []*llm.Request
		concurrent bool
		calls      int
		wantErr    []bool // per request
	}{
		{"two identical keyed requests in flight: one call",
			func() *fake { return SlowFirstToken("a", answer, 200*time.Millisecond) },
			[]*llm.Request{keyed("k1", "t", "hi", false), keyed("k1", "t", "hi", false)}, true, 1, nil},
		{"a repeat after the answer: one call",
			func() *fake { return Answers("a", answer) },
			[]*llm.Request{keyed("k1", "t", "hi", false), keyed("k1", "t", "hi", false)}, false, 1, nil},
		{"two identical keyed streams in flight: one call",
			func() *fake { return SlowFirstToken("a", answer, 200*time.Millisecond) },
			[]*llm.Request{keyed("k1", "t", "hi", true), keyed("k1", "t", "hi", true)}, true, 1, nil},
		{"a repeated stream after the answer: one call",
			func() *fake { return Answers("a", answer) },
			[]*llm.Request{keyed("k1", "t", "hi", true), keyed("k1", "t", "hi", true)}, false, 1, nil},
		{"the same key from another tenant is another request",
			func() *fake { return Answers("a", answer) },
			[]*llm.Request{keyed("k1", "t", "hi", false), keyed("k1", "u", "hi", false)}, false, 2, nil},
		{"no key: every request is sent",
			func() *fake { return Answers("a", answer) },
			[]*llm.Request{keyed("", "t", "hi", false), keyed("", "t", "hi", false)}, false, 2, nil},
		{"the key reused for a different request is rejected",
			func() *fake { return Answers("a", answer) },
			[]*llm.Request{keyed("k1", "t", "hi", false), keyed("k1", "t", "other", false)}, false, 1, []bool{false, true}},
		{"a failed first request is forgotten",
			func() *fake { return RejectsOurKey("a") },
			[]*llm.Request{keyed("k1", "t", "hi", false), keyed("k1", "t", "hi", false)}, false, 2, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := tt.upstream()
			o := testOptions([]Target{tg("a")}, up)
			o.Retry.MaxAttemptsPerTarget = 1
			d := NewIdempotent(mustNew(t, o), IdempotencyOptions{})
			got := make([]string, len(tt.reqs))
			errs := make([]error, len(tt.reqs))
			run := func(i int) {
				got[i], errs[i] = idemAnswer(d, tt.reqs[i])
			}
			if tt.concurrent {
				var wg sync.WaitGroup
				for i := range tt.reqs {
					wg.Add(1)
					go func() { defer wg.Done(); run(i) }()
					time.Sleep(20 * time.Millisecond) // the first one leads
				}
				wg.Wait()
			} else {
				for i := range tt.reqs {
					run(i)
				}
			}
			if up.n() != tt.calls {
				t.Fatalf("upstream saw %d calls, want %d", up.n(), tt.calls)
			}
			for i := range tt.reqs {
				wantErr := tt.wantErr != nil && tt.wantErr[i]
				if (errs[i] != nil) != wantErr {
					t.Fatalf("request %d: err %v, want error %v", i, errs[i], wantErr)
				}
				if !wantErr && got[i] != answer {
					t.Fatalf("request %d got %q, want the first answer", i, got[i])
				}
			}
		})
	}
}

func idemAnswer(d *Idempotent, req *llm.Request) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !req.Stream {
		resp, err := d.Complete(ctx, req)
		if err != nil {
			return "", err
		}
		return text(resp), nil
	}
	st, err := d.Stream(ctx, req)
	if err != nil {
		return "", err
	}
	defer st.Close()
	var out string
	for {
		c, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				out += *ch.Delta.Content
			}
		}
	}
}

// TestIdempotencyBounded: the remembered keys never exceed MaxEntries.
func TestIdempotencyBounded(t *testing.T) {
	up := Answers("a", answer)
	d := NewIdempotent(mustNew(t, testOptions([]Target{tg("a")}, up)), IdempotencyOptions{MaxEntries: 8})
	for i := 0; i < 50; i++ {
		r := chatReq("m")
		r.IdempotencyKey = string(rune('A' + i))
		if _, err := d.Complete(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Len(); n > 8 {
		t.Fatalf("%d keys remembered, want <= 8", n)
	}
}
