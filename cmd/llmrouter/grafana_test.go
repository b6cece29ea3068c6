package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"llmrouter/provider/fake"
)

var metricName = regexp.MustCompile(`\bllmrouter_[a-z_]+`)

// baseMetric strips the series suffixes of histograms.
func baseMetric(n string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(n, s); ok && (strings.HasSuffix(b, "_seconds") || strings.HasSuffix(b, "_bytes")) {
			return b
		}
	}
	return n
}

// TestGrafanaAndAlertMetricsExist parses configs/grafana/llmrouter.json and
// configs/prometheus/alerts.yaml, drives traffic that touches every metric
// family (routed, pinned, cached, unpriced, over budget), and checks that
// each metric they query is on /metrics.
func TestGrafanaAndAlertMetricsExist(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "configs", "grafana", "llmrouter.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard has %d panels", len(dash.Panels))
	}
	want := map[string]string{} // metric -> where it is queried
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				want[baseMetric(m)] = "grafana panel " + p.Title
			}
		}
	}
	raw, err = os.ReadFile(filepath.Join(root, "configs", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("alerts.yaml: %v", err)
	}
	// Exported only with a database configured.
	dbOnly := map[string]bool{"llmrouter_governance_database_up": true}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule %+v lacks alert or expr", r)
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !dbOnly[baseMetric(m)] {
					want[baseMetric(m)] = "alert " + r.Alert
				}
			}
		}
	}

	up := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{}))
	env := map[string]string{"KEY": "key-0123456789abcdef", "ADMIN": "admin-0123456789abcdef"}
	_, base := startApp(t, fmt.Sprintf(`
auth:
  mode: keys
  keys: [{tenant: t1, key_env: KEY}]
  admin_keys: [{tenant: ops, key_env: ADMIN}]
providers:
  - {name: openai, type: openai, base_url: "%s/v1"}
models:
  mystery: [{provider: openai, model: mystery-model}]
routing:
  tiers:
    small: {chain: [{provider: openai, model: gpt-4o-mini}]}
    medium: {chain: [{provider: openai, model: gpt-4o-mini}]}
    large: {chain: [{provider: openai, model: gpt-4o}]}
cache:
  exact: {enabled: true}
usage: {flush_interval: 10ms}
governance:
  tenants: {t1: {daily_usd: 0.0005}}
`, up.URL), env)
	send := func(model, text string) int {
		status, _, _ := call(t, base, "POST", "/v1/chat/completions", env["KEY"], fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, text))
		return status
	}
	send("auto", "hello there")
	send("auto", "hello there") // exact cache hit
	send("mystery", "who are you")
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; send("auto", fmt.Sprintf("spend more %d %s", i, strings.Repeat("words ", 200))) != 429; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the tenant budget never refused a request")
		}
	}
	// Prometheus scrapes server.metrics_listen (every series); over the
	// public port the tenant-labelled series need the admin key.
	_, _, metrics := call(t, base, "GET", "/metrics", env["ADMIN"], "")
	for m, where := range want {
		if !strings.Contains(metrics, "# TYPE "+m+" ") {
			t.Errorf("%s (queried by %s) is not on /metrics", m, where)
		}
	}
}
