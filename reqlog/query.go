package reqlog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"llmrouter/llm"
)

// Limits of one page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Query selects request-log rows, newest first. Zero fields do not filter.
type Query struct {
	From, To time.Time // From inclusive, To exclusive
	Tenant   string    // exact tenant
	Model    string    // requested or upstream model, exact
	Tier     string    // small, medium, large
	// Status is an exact HTTP status ("429") or a class ("2xx", "4xx",
	// "5xx"); "error" selects every status >= 400.
	Status  string
	Cache   string  // miss, exact, semantic, bypass
	MinCost float64 // cost_usd >= MinCost
	// Q matches, case-insensitively, a substring of the request id, trace
	// id, models, provider, error kind or classifier reasons.
	Q     string
	Limit int // rows per page; DefaultLimit when 0, at most MaxLimit
	// After is the cursor of the previous page (its last row); nil for the
	// first page.
	After *Cursor
}

// Cursor is the position after which the next page starts.
type Cursor struct {
	Time      time.Time
	RequestID string
}

// Page is one page of results, as GET /admin/requests returns it.
type Page struct {
	Data []llm.RequestRecord `json:"data"`
	// NextCursor fetches the following page (?cursor=); "" on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ErrBadQuery wraps every query-parsing error.
var ErrBadQuery = errors.New("bad request-log query")

// QueryError is a bad query parameter.
type QueryError struct{ Param, Message string }

func (e *QueryError) Error() string { return e.Param + ": " + e.Message }
func (e *QueryError) Unwrap() error { return ErrBadQuery }

// ParseQuery reads the parameters of GET /admin/requests: from, to
// (RFC 3339 or unix seconds), tenant, model, tier, status, cache, min_cost,
// q, limit and cursor. Errors are *QueryError.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	var err error
	if q.From, err = parseTime(v, "from"); err != nil {
		return q, err
	}
	if q.To, err = parseTime(v, "to"); err != nil {
		return q, err
	}
	q.Tenant, q.Model, q.Q = v.Get("tenant"), v.Get("model"), strings.TrimSpace(v.Get("q"))
	if q.Tier = v.Get("tier"); q.Tier != "" {
		if _, ok := llm.ParseTier(q.Tier); !ok {
			return q, &QueryError{"tier", "must be small, medium or large"}
		}
	}
	if q.Status = strings.ToLower(v.Get("status")); q.Status != "" && !validStatus(q.Status) {
		return q, &QueryError{"status", "must be an HTTP status, 2xx, 4xx, 5xx or error"}
	}
	switch q.Cache = v.Get("cache"); q.Cache {
	case "", llm.CacheMiss, llm.CacheExact, llm.CacheSemantic, llm.CacheBypass:
	default:
		return q, &QueryError{"cache", "must be miss, exact, semantic or bypass"}
	}
	if s := v.Get("min_cost"); s != "" {
		if q.MinCost, err = strconv.ParseFloat(s, 64); err != nil || q.MinCost < 0 {
			return q, &QueryError{"min_cost", "must be a non-negative number of dollars"}
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > MaxLimit {
			return q, &QueryError{"limit", "must be between 1 and " + strconv.Itoa(MaxLimit)}
		}
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return q, &QueryError{"cursor", "is not a cursor this server returned"}
		}
		q.After = &c
	}
	return q, nil
}

func parseTime(v url.Values, name string) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, &QueryError{name, "must be an RFC 3339 time or unix seconds"}
}

func validStatus(s string) bool {
	switch s {
	case "2xx", "3xx", "4xx", "5xx", "error":
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 100 && n <= 599
}

// statusRange is the [lo, hi] of a valid Status filter.
func statusRange(s string) (lo, hi int) {
	switch s {
	case "error":
		return 400, 599
	case "2xx", "3xx", "4xx", "5xx":
		lo = int(s[0]-'0') * 100
		return lo, lo + 99
	}
	n, _ := strconv.Atoi(s)
	return n, n
}

func (q *Query) limit() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return min(q.Limit, MaxLimit)
}

// EncodeCursor returns the cursor that follows r.
func EncodeCursor(r *llm.RequestRecord) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.Time.UnixNano()))
	b = append(b, r.RequestID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 8 {
		return Cursor{}, ErrBadQuery
	}
	return Cursor{Time: time.Unix(0, int64(binary.BigEndian.Uint64(b))), RequestID: string(b[8:])}, nil
}

// match reports whether r passes q's filters (the memory store's WHERE).
func (q *Query) match(r *llm.RequestRecord) bool {
	switch {
	case !q.From.IsZero() && r.Time.Before(q.From),
		!q.To.IsZero() && !r.Time.Before(q.To),
		q.Tenant != "" && r.Tenant != q.Tenant,
		q.Model != "" && r.Model != q.Model && r.UpstreamModel != q.Model,
		q.Tier != "" && r.Tier != q.Tier,
		q.Cache != "" && r.Cache != q.Cache,
		r.CostUSD < q.MinCost:
		return false
	}
	if q.Status != "" {
		lo, hi := statusRange(q.Status)
		if r.Status < lo || r.Status > hi {
			return false
		}
	}
	if q.After != nil && !before(r, q.After) {
		return false
	}
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		hay := []string{r.RequestID, r.TraceID, r.Model, r.UpstreamModel, r.Provider, r.ErrorKind}
		hay = append(hay, r.Reasons...)
		for _, h := range hay {
			if strings.Contains(strings.ToLower(h), needle) {
				return true
			}
		}
		return false
	}
	return true
}

// before reports whether r sorts after the cursor (older, or same time and
// a smaller request id), i.e. belongs to the next page.
func before(r *llm.RequestRecord, c *Cursor) bool {
	if !r.Time.Equal(c.Time) {
		return r.Time.Before(c.Time)
	}
	return r.RequestID < c.RequestID
}
