package classifier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"llmrouter/llm"
)

// conversation returns the request of turn n (1-based) of a chat whose
// user turns are turns[:n].
func conversation(turns []string, n int, user string) *llm.Request {
	r := &llm.Request{Model: "auto", User: user, Meta: &llm.Meta{}}
	r.Messages = append(r.Messages, llm.Message{Role: "system", Content: llm.TextContent("You are a helpful assistant.")})
	for i := 0; i < n; i++ {
		r.Messages = append(r.Messages, llm.Message{Role: "user", Content: llm.TextContent(turns[i])})
		if i < n-1 {
			r.Messages = append(r.Messages, llm.Message{Role: "assistant", Content: llm.TextContent("Sure, here you go.")})
		}
	}
	return r
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSessionStickiness(t *testing.T) {
	hard := "Design a multi-tenant rate limiter for an API gateway that runs as 12 replicas behind a load balancer. Requirements: per-key limits with bursts, limits accurate within 5% across replicas, p99 added latency under 1 ms, fail open with bounded overshoot when Redis is down, 10 million keys. Compare two algorithms, describe the data structures and the synchronisation protocol, and how you would test it."
	simple := "Thanks! Can you say that more briefly?"
	const H = llm.TierLarge + 1 // stands for the hard prompt's own tier
	tests := []struct {
		name   string
		turns  []string
		margin float64
		want   []llm.Tier // tier of each turn
		out    []string   // session outcome of each turn
	}{
		{"five simple turns stay small", []string{"hi", "what is the capital of France?", "and of Spain?", "thanks", "bye"}, 0.5,
			[]llm.Tier{llm.TierSmall, llm.TierSmall, llm.TierSmall, llm.TierSmall, llm.TierSmall},
			[]string{SessionNew, SessionKept, SessionKept, SessionKept, SessionKept}},
		{"a clearly harder turn escalates and never drops back", []string{"hi", "what is a rate limiter?", hard, simple, "ok"}, 0.5,
			[]llm.Tier{llm.TierSmall, llm.TierSmall, H, H, H},
			[]string{SessionNew, SessionKept, SessionEscalated, SessionKept, SessionKept}},
		{"a hard start keeps its tier on easy turns", []string{hard, simple, "ok", "thanks", "bye"}, 0.5,
			[]llm.Tier{H, H, H, H, H},
			[]string{SessionNew, SessionKept, SessionKept, SessionKept, SessionKept}},
		{"a huge margin never escalates", []string{"hi", "what is a rate limiter?", hard, simple, "ok"}, 100,
			[]llm.Tier{llm.TierSmall, llm.TierSmall, llm.TierSmall, llm.TierSmall, llm.TierSmall},
			[]string{SessionNew, SessionKept, SessionKept, SessionKept, SessionKept}},
	}
	c := newDefault(t)
	hardTier := c.Classify(user(hard)).Tier
	if hardTier < llm.TierMedium {
		t.Fatalf("the hard turn alone is %v", hardTier)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.want {
				if tt.want[i] == H {
					tt.want[i] = hardTier
				}
			}
			s, err := NewSessions(SessionOptions{Margin: tt.margin})
			if err != nil {
				t.Fatal(err)
			}
			inner := &captureCompleter{}
			d := NewDecorator(inner, func() *Classifier { return c }, func() Policy { return Policy{Sessions: s} })
			for i := range tt.turns {
				req := conversation(tt.turns, i+1, "")
				if _, err := d.Complete(context.Background(), req); err != nil {
					t.Fatal(err)
				}
				mv := req.Meta.Values()
				if inner.last.Tier != tt.want[i] || mv.Session != tt.out[i] {
					t.Errorf("turn %d: tier %v session %q (alone: %v), want %v %q", i+1, inner.last.Tier, mv.Session, c.Classify(req).Tier, tt.want[i], tt.out[i])
				}
			}
		})
	}
}

// captureCompleter records the last request it was given.
type captureCompleter struct{ last *llm.Request }

func (c *captureCompleter) Complete(_ context.Context, r *llm.Request) (*llm.Response, error) {
	c.last = r
	return &llm.Response{}, nil
}

func (c *captureCompleter) Stream(_ context.Context, r *llm.Request) (llm.Stream, error) {
	c.last = r
	return nil, fmt.Errorf("not streaming")
}

func TestSessionKey(t *testing.T) {
	base := func() *llm.Request { return conversation([]string{"hello there", "more"}, 2, "") }
	a := SessionKey(base())
	tests := []struct {
		name string
		req  func() *llm.Request
		same bool
	}{
		{"later turn of the same chat", func() *llm.Request { return conversation([]string{"hello there", "more", "again"}, 3, "") }, true},
		{"other first turn", func() *llm.Request { return conversation([]string{"something else", "more"}, 2, "") }, false},
		{"other tenant", func() *llm.Request { r := base(); r.Tenant = "t2"; return r }, false},
		{"user field wins", func() *llm.Request { r := base(); r.User = "u1"; return r }, false},
		{"session id wins over the hash", func() *llm.Request { r := base(); r.SessionID = "s1"; return r }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SessionKey(tt.req()) == a; got != tt.same {
				t.Errorf("same key %v, want %v", got, tt.same)
			}
		})
	}
	r1, r2 := base(), conversation([]string{"other"}, 1, "")
	r1.User, r2.User = "u1", "u1"
	if SessionKey(r1) != SessionKey(r2) {
		t.Error("the user field must key the session whatever the messages")
	}
	if SessionKey(&llm.Request{Messages: []llm.Message{{Role: "system", Content: llm.TextContent("x")}}}) != "" {
		t.Error("no user turn: want no key")
	}
}

func TestSessionTTLAndBound(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	s, err := NewSessions(SessionOptions{TTL: time.Minute, MaxSessions: 2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	over := func(*Decision, llm.Tier) float64 { return 0 }
	d := Decision{Tier: llm.TierMedium}
	if out := s.apply("a", &d, over, 0); out != SessionNew {
		t.Fatalf("first turn %q", out)
	}
	d = Decision{Tier: llm.TierSmall}
	if out := s.apply("a", &d, over, 0); out != SessionKept || d.Tier != llm.TierMedium {
		t.Fatalf("second turn %q %v, want kept medium", out, d.Tier)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	d = Decision{Tier: llm.TierSmall}
	if out := s.apply("a", &d, over, 0); out != SessionNew || d.Tier != llm.TierSmall {
		t.Fatalf("after the TTL %q %v, want a new small session", out, d.Tier)
	}
	for _, k := range []string{"b", "c", "d"} {
		d = Decision{Tier: llm.TierSmall}
		s.apply(k, &d, over, 0)
	}
	if s.Len() != 2 {
		t.Errorf("%d sessions held, want the bound 2", s.Len())
	}
	if _, err := NewSessions(SessionOptions{Margin: -1}); err == nil {
		t.Error("negative margin: want an error")
	}
}

// TestSessionCacheDiscount: moving up throws the prompt cache away, so with
// a long history and a 90% cached-input discount the bar is ten times
// higher.
func TestSessionCacheDiscount(t *testing.T) {
	prices := func(llm.Tier) (float64, float64) { return 3, 0.3 }
	tests := []struct {
		name    string
		prices  func(llm.Tier) (float64, float64)
		history float64
		want    float64
	}{
		{"no prices", nil, 0.9, 0.5},
		{"no history", prices, 0, 0.5},
		{"long history", prices, 0.9, 0.5 * (1 + 0.9*2.7/(0.9*0.3+0.1*3))},
		{"no discount", func(llm.Tier) (float64, float64) { return 3, 3 }, 0.9, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSessions(SessionOptions{Prices: tt.prices})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.margin(llm.TierMedium, 1000, tt.history); fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", tt.want) {
				t.Errorf("margin %v, want %v", got, tt.want)
			}
		})
	}
	// The same clearly harder turn escalates without the discount and is
	// kept on its tier with it.
	over := func(*Decision, llm.Tier) float64 { return 1 }
	for _, withCache := range []bool{false, true} {
		o := SessionOptions{}
		if withCache {
			o.Prices = prices
		}
		s, _ := NewSessions(o)
		d := Decision{Tier: llm.TierSmall, Tokens: 1000}
		s.apply("k", &d, over, 0)
		d = Decision{Tier: llm.TierMedium, Tokens: 1000}
		out := s.apply("k", &d, over, 0.9)
		if want := map[bool]string{false: SessionEscalated, true: SessionKept}[withCache]; out != want {
			t.Errorf("with cache discount %v: %q, want %q", withCache, out, want)
		}
	}
}
