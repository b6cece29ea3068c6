package classifier

import (
	"errors"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"llmrouter/llm"
)

// Session outcomes recorded in llm.MetaValues.Session and the
// x-llmrouter-session header.
const (
	SessionNew       = "new"       // first turn seen: the conversation starts on this tier
	SessionKept      = "kept"      // the tier was kept for the session (the turn alone scored another)
	SessionEscalated = "escalated" // a clearly harder turn moved the conversation up
)

// SessionOptions configures Sessions. Zero fields take the defaults named.
type SessionOptions struct {
	// Margin is how far above the next tier's cut (in score units) a turn
	// must score to move its conversation up. Default 0.5.
	Margin float64
	// TTL forgets a conversation idle this long. Default 30 minutes.
	TTL time.Duration
	// MaxSessions bounds the table; the least recently used is evicted.
	// Default 100,000.
	MaxSessions int
	// Prices returns a tier's input and cached-input prices (USD per
	// million tokens). Moving up throws away the provider's prompt cache of
	// the conversation so far, so the margin is multiplied by 1 + the extra
	// cost of the turn without the cache over its cost with it. Nil (or a
	// cached price equal to the input price) leaves the margin as is.
	Prices func(llm.Tier) (input, cachedInput float64)
	// Now is the clock; nil means time.Now (tests set it).
	Now func() time.Time
}

// Sessions keeps conversations on the tier they started on: a bounded,
// in-memory LRU with a TTL. Safe for concurrent use. It outlives config
// reloads; it has no goroutine.
type Sessions struct {
	o      SessionOptions
	prices atomic.Pointer[func(llm.Tier) (float64, float64)]
	mu     sync.Mutex // orders read-modify-write of one entry
	lru    *lru.Cache[string, session]
}

type session struct {
	tier    llm.Tier
	expires time.Time
}

// NewSessions validates o and returns an empty table.
func NewSessions(o SessionOptions) (*Sessions, error) {
	if o.Margin == 0 {
		o.Margin = 0.5
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Minute
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = 100_000
	}
	if o.Margin < 0 || o.TTL < 0 || o.MaxSessions < 0 {
		return nil, errors.New("classifier sessions: margin, ttl and max_sessions must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := lru.New[string, session](o.MaxSessions)
	if err != nil {
		return nil, err
	}
	st := &Sessions{o: o, lru: c}
	st.SetPrices(o.Prices)
	return st, nil
}

// SetPrices replaces SessionOptions.Prices (a config reload with new
// prices keeps the sessions). Safe to call concurrently with routing.
func (s *Sessions) SetPrices(f func(llm.Tier) (input, cachedInput float64)) {
	s.prices.Store(&f)
}

// Len returns the number of sessions held (expired ones included until
// touched or evicted).
func (s *Sessions) Len() int { return s.lru.Len() }

// SessionKey returns the conversation key of req: the user field, else the
// session id (x-session-id header), else a hash of the system prompt and
// the first user turn; scoped by tenant. "" when the request has no user
// turn.
func SessionKey(req *llm.Request) string {
	switch {
	case req.User != "":
		return "u\x00" + req.Tenant + "\x00" + req.User
	case req.SessionID != "":
		return "s\x00" + req.Tenant + "\x00" + req.SessionID
	}
	h := fnv.New64a()
	// Long texts are identified by their length, head and tail: hashing
	// must stay O(1) in the prompt size.
	write := func(t string) {
		if len(t) > 8192 {
			t = strconv.Itoa(len(t)) + t[:4096] + t[len(t)-4096:]
		}
		h.Write([]byte(t))
	}
	write(req.Tenant)
	first := false
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case "system", "developer":
			h.Write([]byte{0})
			write(m.Content.Str)
			for _, p := range m.Content.Parts {
				write(p.Text)
			}
		case "user":
			h.Write([]byte{1})
			write(m.Content.Str)
			for _, p := range m.Content.Parts {
				write(p.Text)
			}
			first = true
		}
		if first {
			break
		}
	}
	if !first {
		return ""
	}
	return "c\x00" + strconv.FormatUint(h.Sum64(), 16)
}

// apply adjusts d, the classifier's decision for one turn of the
// conversation key, and returns the outcome. over(d, t) is how far d's
// score is above the cut of tier t. history is the share of the prompt's
// tokens that precede the last message (what the provider has cached).
func (s *Sessions) apply(key string, d *Decision, over func(*Decision, llm.Tier) float64, history float64) string {
	if key == "" {
		return ""
	}
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.lru.Get(key)
	if !ok || now.After(prev.expires) {
		s.lru.Add(key, session{tier: d.Tier, expires: now.Add(s.o.TTL)})
		return SessionNew
	}
	out := SessionKept
	want := d.Tier
	d.Tier = prev.tier
	// The highest tier above the session's that the turn clears by the
	// margin, if any.
	for t := want; t > prev.tier; t-- {
		if over(d, t) >= s.margin(t, d.Tokens, history) {
			d.Tier, out = t, SessionEscalated
			break
		}
	}
	s.lru.Add(key, session{tier: d.Tier, expires: now.Add(s.o.TTL)})
	return out
}

// margin is Margin times 1 + the turn's extra cost at tier t once the
// cached prefix is lost.
func (s *Sessions) margin(t llm.Tier, tokens int, history float64) float64 {
	f := *s.prices.Load()
	if f == nil {
		return s.o.Margin
	}
	in, cached := f(t)
	if !(in > cached) || cached < 0 {
		return s.o.Margin
	}
	h := history * float64(tokens)
	fresh := float64(tokens) - h
	warm := h*cached + fresh*in
	if warm <= 0 {
		return s.o.Margin
	}
	lost := h * (in - cached)
	return s.o.Margin * (1 + lost/warm)
}

// historyShare estimates the share of the prompt before its last message,
// by text length.
func historyShare(req *llm.Request) float64 {
	n := len(req.Messages)
	if n < 2 {
		return 0
	}
	total, last := 0, 0
	for i := range req.Messages {
		l := len(req.Messages[i].Content.Str)
		for _, p := range req.Messages[i].Content.Parts {
			l += len(p.Text)
		}
		total += l
		if i == n-1 {
			last = l
		}
	}
	if total == 0 {
		return 0
	}
	return float64(total-last) / float64(total)
}

// over returns how far d scores above the cut of tier t (negative when
// below): the up head's cut for medium; for large, the large head's cut
// (learned) or the second threshold (hand weights).
func (c *Classifier) over(d *Decision, t llm.Tier) float64 {
	th := c.opts.TierThresholds
	switch {
	case t <= llm.TierSmall:
		return 0
	case t == llm.TierMedium:
		return d.Score - th[0]
	case c.model != nil:
		return d.Large - th[1]
	}
	return d.Score - th[1]
}
