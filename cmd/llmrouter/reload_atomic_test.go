package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"llmrouter/config"
	"llmrouter/usage"
)

const atomicReloadConfig = `
auth:
  mode: keys
  keys:
    - {tenant: old, key_env: OLD_KEY}
%[1]s
providers:
  - {name: sim, type: simulator}
models:
  chat: [{provider: sim, model: sim-old}]
%[2]s
prices:
  sim-old: {input: %[3]s, output: %[3]s}
  sim-new: {input: %[3]s, output: %[3]s}
cache: {exact: {enabled: false}, semantic: {enabled: false}}
` + "routing:\n  tiers:\n    small: {chain: [{provider: sim, model: sim-old}]}\n    medium: {chain: [{provider: sim, model: sim-old}]}\n    large: {chain: [{provider: sim, model: sim-old}]}\n"

// TestReloadThatFailsLateChangesNothing reloads a file whose routes, keys
// and prices are all new but whose auth table cannot be built (a key value
// starting "sha256:" that is no digest, which only the proxy's auth builder
// sees). Before, the router snapshot was swapped before that failure and
// the new route served; now routes, keys and prices stay exactly as they
// were, and check-config refuses the same file.
func TestReloadThatFailsLateChangesNothing(t *testing.T) {
	env := map[string]string{"OLD_KEY": "old-client-key-1", "NEW_KEY": "new-client-key-2", "ODD_KEY": "sha256:not-a-digest"}
	getenv := func(k string) string { return env[k] }
	first := strings.NewReplacer("%[1]s", "", "%[2]s", "", "%[3]s", "1000000").Replace(atomicReloadConfig)
	a, base := startApp(t, first, env)

	bad := strings.NewReplacer(
		"%[1]s", "    - {tenant: new, key_env: NEW_KEY}\n    - {tenant: odd, key_env: ODD_KEY}",
		"%[2]s", "  fresh: [{provider: sim, model: sim-new}]",
		"%[3]s", "0").Replace(atomicReloadConfig)
	cfg, err := config.Parse([]byte(bad), getenv)
	if err != nil {
		t.Fatalf("the bad file must pass config validation (the failure is late): %v", err)
	}
	if err := a.reload(cfg); err == nil {
		t.Fatal("reload of a file with a malformed key digest succeeded")
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stderr strings.Builder
	if code := checkConfigCmd([]string{"-config", path}, &strings.Builder{}, &stderr); code == 0 {
		t.Errorf("check-config accepted what reload refused")
	}

	chat := func(key, model string) int {
		status, _, _ := call(t, base, "POST", "/v1/chat/completions", key, `{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`)
		return status
	}
	if s := chat(env["OLD_KEY"], "chat"); s != 200 {
		t.Errorf("old key on the old route: %d, want 200", s)
	}
	if s := chat(env["OLD_KEY"], "fresh"); s != 404 {
		t.Errorf("the new route serves after a refused reload: %d, want 404", s)
	}
	if s := chat(env["NEW_KEY"], "chat"); s != 401 {
		t.Errorf("the new key works after a refused reload: %d, want 401", s)
	}
	// Prices: the old ones (1e6 $/Mtok, so any answer costs > 0) still apply.
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The ledger keeps hourly rows and selects those whose hour starts
		// in [From, To): From on an hour boundary takes in this hour's row
		// however close to the hour's end the request was answered.
		q := usage.Query{Filter: usage.Filter{From: time.Now().Add(-time.Hour).Truncate(time.Hour), To: time.Now().Add(time.Hour), All: true}}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		snap, err := a.usage.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Totals.Requests > 0 || time.Now().After(deadline) {
			if snap.Totals.CostUSD <= 0 {
				t.Errorf("cost %v after a refused reload that set prices to 0: prices changed", snap.Totals.CostUSD)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckConfigRunsTheStartUpBuild: a file that start-up refuses (an
// unknown classifier weight name) is refused by check-config too; before,
// check-config said "config ok".
func TestCheckConfigRunsTheStartUpBuild(t *testing.T) {
	yaml := "auth: {mode: none}\nproviders: [{name: s, type: simulator}]\nmodels: {m: [{provider: s, model: x}]}\n" +
		oneUpstreamTiers("s", "x") + "  classifier: {weights: {no_such_signal: 1}}\n"
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("the file must pass config.Load: %v", err)
	}
	if _, err := newApp(t.Context(), cfg, discardLogger()); err == nil {
		t.Fatal("start-up accepted an unknown classifier weight")
	}
	var stdout, stderr strings.Builder
	if code := checkConfigCmd([]string{"-config", path}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "no_such_signal") {
		t.Fatalf("check-config: code %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
