package governance

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports, at scrape time, how much of each budget is used and
// whether the last database sync succeeded.
type collector struct {
	g      *Governor
	used   *prometheus.Desc
	dbUp   *prometheus.Desc
	limits *prometheus.Desc
}

func newCollector(g *Governor) *collector {
	return &collector{g: g,
		used: prometheus.NewDesc("llmrouter_budget_used_ratio",
			"Share of a USD budget spent in the current period (1 = spent), by scope (key or tenant), name (key id or tenant) and period (day or month).",
			[]string{"scope", "name", "period"}, nil),
		limits: prometheus.NewDesc("llmrouter_budget_limit_usd",
			"Configured USD budget, by scope (key or tenant), name and period (day or month).",
			[]string{"scope", "name", "period"}, nil),
		dbUp: prometheus.NewDesc("llmrouter_governance_database_up",
			"1 when the last synchronisation of keys, budgets and rate limits with the database succeeded, 0 when it failed (budgets then hold per replica only).",
			nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limits
	ch <- c.dbUp
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	if g.o.Pool != nil {
		v := 0.0
		if g.dbOK.Load() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.dbUp, prometheus.GaugeValue, v)
	}
	day, month, _ := periods(time.Now())
	emit := func(scope, name, period string, counter string, p time.Time, limit int64) {
		if limit <= 0 {
			return
		}
		g.mu.Lock()
		v := g.valueLocked(counter, p)
		g.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(v)/float64(limit), scope, name, period)
		ch <- prometheus.MustNewConstMetric(c.limits, prometheus.GaugeValue, float64(limit)/1e6, scope, name, period)
	}
	for id, k := range g.keys.Load().byID {
		emit("key", id, "day", scopeKeyDay+id, day, k.Budget.DailyMicro)
		emit("key", id, "month", scopeKeyMonth+id, month, k.Budget.MonthlyMicro)
	}
	for t, b := range *g.tenants.Load() {
		emit("tenant", t, "day", scopeTenantDay+t, day, b.DailyMicro)
		emit("tenant", t, "month", scopeTenantMonth+t, month, b.MonthlyMicro)
	}
}
