package classifier

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"llmrouter/llm"
)

// recordsRequests is a Completer that remembers the requests it got.
type recordsRequests struct {
	mu   sync.Mutex
	reqs []*llm.Request
}

func (r *recordsRequests) Complete(_ context.Context, req *llm.Request) (*llm.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &llm.Response{Object: llm.ObjectChatCompletion}, nil
}

func (r *recordsRequests) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return nil, llm.NewError(llm.KindInternal, "no stream in this double")
}

func (r *recordsRequests) last() *llm.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

func TestDecorator(t *testing.T) {
	c := newDefault(t)
	hard := "Prove rigorously that there are infinitely many primes, then derive the asymptotic density of primes from the prime number theorem."
	allowAcme := func(tenant string) bool { return tenant == "acme" }
	capMedium := func(tenant string) llm.Tier {
		if tenant == "capped" {
			return llm.TierMedium
		}
		return llm.TierUnset
	}
	policy := Policy{AutoAliases: []string{"auto", "smart"}, AllowOverride: allowAcme, MaxTier: capMedium}
	tests := []struct {
		name       string
		model      string
		tenant     string
		text       string
		override   llm.Tier
		wantTier   llm.Tier
		wantReason string
	}{
		{"pinned passes through", "sonnet", "acme", hard, llm.TierLarge, llm.TierUnset, ""},
		{"auto classified", "auto", "", "hi", llm.TierUnset, llm.TierSmall, ""},
		{"second auto alias", "smart", "", hard, llm.TierUnset, llm.TierLarge, ""},
		{"override allowed", "auto", "acme", "hi", llm.TierLarge, llm.TierLarge, "override"},
		{"override ignored", "auto", "other", "hi", llm.TierLarge, llm.TierSmall, ""},
		{"capped", "auto", "capped", hard, llm.TierUnset, llm.TierMedium, "capped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &recordsRequests{}
			d := NewDecorator(next, func() *Classifier { return c }, func() Policy { return policy })
			req := user(tt.text)
			req.Model, req.Tenant, req.TierOverride, req.Meta = tt.model, tt.tenant, tt.override, &llm.Meta{}
			if _, err := d.Complete(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			got := next.last()
			if tt.wantTier == llm.TierUnset {
				if got != req {
					t.Error("pinned request was copied")
				}
				if v := req.Meta.Values(); v.Tier != llm.TierUnset {
					t.Errorf("meta tier %s for a pinned model", v.Tier)
				}
				return
			}
			if got == req {
				t.Fatal("decorator passed the caller's request instead of a copy")
			}
			if req.Tier != llm.TierUnset {
				t.Error("decorator modified the caller's request")
			}
			if got.Tier != tt.wantTier {
				t.Errorf("tier %s, want %s", got.Tier, tt.wantTier)
			}
			v := req.Meta.Values()
			if v.Tier != tt.wantTier || len(v.Reasons) == 0 {
				t.Errorf("meta %+v", v)
			}
			if tt.wantReason != "" && v.Reasons[0] != tt.wantReason {
				t.Errorf("reasons %v, want %q first", v.Reasons, tt.wantReason)
			}
		})
	}
}

func TestDecoratorNeverFails(t *testing.T) {
	c, err := New(Options{DefaultTier: llm.TierLarge})
	if err != nil {
		t.Fatal(err)
	}
	c.beforeClassify = func(*llm.Request) { panic("boom") }
	next := &recordsRequests{}
	d := NewDecorator(next, func() *Classifier { return c }, func() Policy { return Policy{} })
	req := user("hi")
	req.Meta = &llm.Meta{}
	if _, err := d.Complete(context.Background(), req); err != nil {
		t.Fatalf("complete failed: %v", err)
	}
	if got := next.last().Tier; got != llm.TierLarge {
		t.Errorf("tier %s after a panic, want the default large", got)
	}
	if _, err := d.Stream(context.Background(), req); err == nil || next.last().Tier != llm.TierLarge {
		t.Errorf("stream did not reach next with the default tier")
	}

	t.Run("nil classifier", func(t *testing.T) {
		d := NewDecorator(next, func() *Classifier { return nil }, nil)
		if _, err := d.Complete(context.Background(), user("hi")); err != nil {
			t.Fatal(err)
		}
		if got := next.last().Tier; got != llm.TierMedium {
			t.Errorf("tier %s with no classifier, want medium", got)
		}
	})
}

// TestDecoratorSwapsSnapshot checks that a reload (a new classifier from the
// getter) applies to the next request.
func TestDecoratorSwapsSnapshot(t *testing.T) {
	var mu sync.Mutex
	cur := newDefault(t)
	next := &recordsRequests{}
	d := NewDecorator(next, func() *Classifier { mu.Lock(); defer mu.Unlock(); return cur }, func() Policy { return Policy{} })
	if _, err := d.Complete(context.Background(), user("hi")); err != nil {
		t.Fatal(err)
	}
	if got := next.last().Tier; got != llm.TierSmall {
		t.Fatalf("tier %s, want small", got)
	}
	swapped, err := New(Options{TierThresholds: [2]float64{-2, -1}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	cur = swapped
	mu.Unlock()
	if _, err := d.Complete(context.Background(), user("hi")); err != nil {
		t.Fatal(err)
	}
	if got := next.last().Tier; got != llm.TierLarge {
		t.Errorf("tier %s after the swap, want large", got)
	}
}

// TestDecoratorTierOutputCap: a request asking for more output tokens than
// its tier allows fails with a limit error naming the parameter and is not
// sent on, whether the classifier chose the tier (auto) or the alias is
// pinned to it; within the cap, or in an uncapped tier, it goes through.
func TestDecoratorTierOutputCap(t *testing.T) {
	c := newDefault(t)
	caps := map[llm.Tier]int{llm.TierSmall: 1000, llm.TierMedium: 4000}
	policy := Policy{
		MaxOutputTokens: func(t llm.Tier) int { return caps[t] },
		AliasTier: func(m string) llm.Tier {
			if m == "mini" {
				return llm.TierSmall
			}
			return llm.TierUnset
		},
	}
	hard := "Prove rigorously that there are infinitely many primes, then derive the asymptotic density of primes from the prime number theorem."
	n := func(v int) *int { return &v }
	tests := []struct {
		name, model, text        string
		maxTokens, maxCompletion *int
		param                    string // "" means accepted
	}{
		{"auto small within", "auto", "hi", n(1000), nil, ""},
		{"auto small over", "auto", "hi", n(1001), nil, "max_tokens"},
		{"auto small over by max_completion_tokens", "auto", "hi", n(10), n(5000), "max_completion_tokens"},
		{"auto large uncapped", "auto", hard, n(100000), nil, ""},
		{"pinned small over", "mini", "hi", n(2000), nil, "max_tokens"},
		{"pinned small within", "mini", "hi", n(500), nil, ""},
		{"pinned alias without a tier", "sonnet", "hi", n(100000), nil, ""},
		{"no max_tokens", "auto", "hi", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &recordsRequests{}
			d := NewDecorator(next, func() *Classifier { return c }, func() Policy { return policy })
			req := user(tt.text)
			req.Model, req.MaxTokens, req.MaxCompletionTokens, req.Meta = tt.model, tt.maxTokens, tt.maxCompletion, &llm.Meta{}
			_, err := d.Complete(context.Background(), req)
			routed := d.Route(req)
			if tt.param == "" {
				if err != nil || len(next.reqs) != 1 || routed == nil {
					t.Fatalf("refused: %v (sent %d, routed %v)", err, len(next.reqs), routed != nil)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.KindInvalidRequest || e.Param != tt.param || e.Code != "limit_exceeded" {
				t.Fatalf("err = %#v, want a limit error on %s", err, tt.param)
			}
			if !strings.Contains(e.Message, "small tier") || !strings.Contains(e.Message, "limit of 1000") {
				t.Errorf("message %q does not name the tier and its cap", e.Message)
			}
			if len(next.reqs) != 0 || routed != nil {
				t.Error("a request over its tier's cap was sent on")
			}
			if _, err := d.Stream(context.Background(), req); !errors.As(err, &e) {
				t.Errorf("stream: %v", err)
			}
		})
	}
}
