package config

import (
	"strings"
	"testing"

	"llmrouter/configs"
)

func TestBuiltInPricesParse(t *testing.T) {
	m, err := ParsePrices(configs.Prices)
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"gpt-4o", "claude-sonnet-4-5", "claude-opus-4-1", "gpt-4o-mini"} {
		p, ok := m[model]
		if !ok || p.Source == "" || p.Date == "" || *p.CacheWrite <= 0 {
			t.Errorf("%s: %+v", model, p)
		}
	}
	if p := m["claude-sonnet-4-5"]; *p.CacheWrite != 3.75 || *p.CachedInput != 0.30 {
		t.Errorf("sonnet cache prices %v %v", *p.CachedInput, *p.CacheWrite)
	}
}

func TestParsePricesRejects(t *testing.T) {
	for _, bad := range []string{"models: {m: {input: -1, output: 1}}", "models: {m: {inptu: 1}}", "nope: 1"} {
		if _, err := ParsePrices([]byte(bad)); err == nil || !strings.Contains(err.Error(), "prices") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
