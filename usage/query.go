package usage

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// Group-by dimensions and granularities of a Query.
const (
	GroupModel    = "model"
	GroupTenant   = "tenant"
	GroupKey      = "key"
	GroupTier     = "tier"
	GroupProvider = "provider"

	GranularityHour = "hour"
	GranularityDay  = "day"
)

// MaxRange bounds a query's [From, To) span.
const MaxRange = 400 * 24 * time.Hour

// Query is one /v1/usage question.
type Query struct {
	Filter
	// GroupBy is a dimension (GroupModel etc.); default GroupModel.
	GroupBy string
	// Granularity is GranularityHour or GranularityDay (default).
	Granularity string
}

// Validate fills defaults and checks the query, returning a message fit
// for an invalid_request error.
func (q *Query) Validate() error {
	switch q.GroupBy {
	case "":
		q.GroupBy = GroupModel
	case GroupModel, GroupTenant, GroupKey, GroupTier, GroupProvider:
	default:
		return fmt.Errorf("group_by must be one of model, tenant, key, tier, provider (got %q)", q.GroupBy)
	}
	switch q.Granularity {
	case "":
		q.Granularity = GranularityDay
	case GranularityHour, GranularityDay:
	default:
		return fmt.Errorf("granularity must be hour or day (got %q)", q.Granularity)
	}
	if !q.From.Before(q.To) {
		return errors.New("from must be before to")
	}
	if q.To.Sub(q.From) > MaxRange {
		return fmt.Errorf("the range from..to must not exceed %d days", int(MaxRange/(24*time.Hour)))
	}
	return nil
}

// Figures are a group's totals as the API shows them. Amounts are exact
// decimal dollars (MicroUSD); latency quantiles are histogram bucket upper
// bounds in milliseconds.
type Figures struct {
	Requests          int64    `json:"requests"`
	Errors            int64    `json:"errors"`
	CacheHits         int64    `json:"cache_hits"`
	RoutedRequests    int64    `json:"routed_requests"`
	UnpricedRequests  int64    `json:"unpriced_requests"`
	EstimatedRequests int64    `json:"estimated_requests"`
	PromptTokens      int64    `json:"prompt_tokens"`
	CompletionTokens  int64    `json:"completion_tokens"`
	CacheReadTokens   int64    `json:"cache_read_tokens"`
	CacheWriteTokens  int64    `json:"cache_write_tokens"`
	CostUSD           MicroUSD `json:"cost_usd"`
	CacheSavingsUSD   MicroUSD `json:"cache_savings_usd"`
	BaselineUSD       MicroUSD `json:"routing_baseline_usd"`
	RoutingSavingsUSD MicroUSD `json:"routing_savings_usd"`
	LatencyP50MS      int64    `json:"latency_p50_ms"`
	LatencyP95MS      int64    `json:"latency_p95_ms"`
	TTFTP50MS         int64    `json:"ttft_p50_ms"`
	TTFTP95MS         int64    `json:"ttft_p95_ms"`
}

func figuresOf(s *Sums) Figures {
	return Figures{
		Requests: s.Requests, Errors: s.Errors, CacheHits: s.CacheHits, RoutedRequests: s.Routed,
		UnpricedRequests: s.Unpriced, EstimatedRequests: s.Estimated,
		PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
		CacheReadTokens: s.CacheReadTokens, CacheWriteTokens: s.CacheWriteTokens,
		CostUSD: MicroUSD(s.CostMicro), CacheSavingsUSD: MicroUSD(s.SavedCacheMicro),
		BaselineUSD: MicroUSD(s.BaselineMicro), RoutingSavingsUSD: MicroUSD(s.BaselineMicro - s.RoutedCostMicro),
		LatencyP50MS: s.Latency.Quantile(0.5), LatencyP95MS: s.Latency.Quantile(0.95),
		TTFTP50MS: s.TTFT.Quantile(0.5), TTFTP95MS: s.TTFT.Quantile(0.95),
	}
}

// Point is one (period, group) cell of a report's series.
type Point struct {
	Period time.Time `json:"period"`
	Group  string    `json:"group"`
	Figures
}

// Group is one group's totals over the whole range.
type Group struct {
	Group string `json:"group"`
	Figures
}

// Report is the answer to a Query (the JSON of GET /v1/usage).
type Report struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GroupBy     string    `json:"group_by"`
	Granularity string    `json:"granularity"`
	// Store says where the figures come from: "postgres" or "memory" (this
	// replica only, lost on restart).
	Store  string  `json:"store"`
	Totals Figures `json:"totals"`
	// Groups are ordered by cost, then requests, descending.
	Groups []Group `json:"groups"`
	// Series are ordered by period, then group.
	Series []Point `json:"series"`
}

// Run answers q from st. q must have passed Validate.
func Run(ctx context.Context, st Store, q Query) (*Report, error) {
	rows, err := st.Rows(ctx, q.Filter)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: q.From.UTC(), To: q.To.UTC(), GroupBy: q.GroupBy, Granularity: q.Granularity, Store: storeName(st),
		Groups: []Group{}, Series: []Point{}}
	type cell struct {
		period time.Time
		group  string
	}
	var total Sums
	groups := map[string]*Sums{}
	cells := map[cell]*Sums{}
	for i := range rows {
		r := &rows[i]
		g := r.dim(q.GroupBy)
		p := r.Hour
		if q.Granularity == GranularityDay {
			p = time.Date(p.Year(), p.Month(), p.Day(), 0, 0, 0, 0, time.UTC)
		}
		total.Add(&r.Sums)
		if groups[g] == nil {
			groups[g] = &Sums{}
		}
		groups[g].Add(&r.Sums)
		c := cell{p, g}
		if cells[c] == nil {
			cells[c] = &Sums{}
		}
		cells[c].Add(&r.Sums)
	}
	rep.Totals = figuresOf(&total)
	for g, s := range groups {
		rep.Groups = append(rep.Groups, Group{Group: g, Figures: figuresOf(s)})
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		a, b := &rep.Groups[i], &rep.Groups[j]
		if a.CostUSD != b.CostUSD {
			return a.CostUSD > b.CostUSD
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.Group < b.Group
	})
	for c, s := range cells {
		rep.Series = append(rep.Series, Point{Period: c.period, Group: c.group, Figures: figuresOf(s)})
	}
	sort.Slice(rep.Series, func(i, j int) bool {
		a, b := &rep.Series[i], &rep.Series[j]
		if !a.Period.Equal(b.Period) {
			return a.Period.Before(b.Period)
		}
		return a.Group < b.Group
	})
	return rep, nil
}

func storeName(st Store) string {
	if _, ok := st.(*PGStore); ok {
		return "postgres"
	}
	return "memory"
}

func (r *Row) dim(groupBy string) string {
	switch groupBy {
	case GroupTenant:
		return r.Tenant
	case GroupKey:
		return r.Key
	case GroupTier:
		return r.Tier
	case GroupProvider:
		return r.Provider
	}
	return r.Model
}

// csvHeader are the columns of WriteCSV.
var csvHeader = []string{"period", "group", "requests", "errors", "cache_hits", "routed_requests", "unpriced_requests",
	"estimated_requests", "prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens",
	"cost_usd", "cache_savings_usd", "routing_baseline_usd", "routing_savings_usd",
	"latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "ttft_p95_ms"}

// WriteCSV writes the report's series as CSV (one row per period and
// group, header first; amounts in dollars with six decimals).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, p := range r.Series {
		f := &p.Figures
		rec := []string{p.Period.Format(time.RFC3339), p.Group, i(f.Requests), i(f.Errors), i(f.CacheHits), i(f.RoutedRequests),
			i(f.UnpricedRequests), i(f.EstimatedRequests), i(f.PromptTokens), i(f.CompletionTokens), i(f.CacheReadTokens),
			i(f.CacheWriteTokens), f.CostUSD.String(), f.CacheSavingsUSD.String(), f.BaselineUSD.String(),
			f.RoutingSavingsUSD.String(), i(f.LatencyP50MS), i(f.LatencyP95MS), i(f.TTFTP50MS), i(f.TTFTP95MS)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
