package main

import (
	"strings"
	"testing"
)

// TestTenantSeriesNeedTheAdminKeyOrTheMetricsListener: after a tenant's
// request, the public /metrics names no tenant (with no key, or with a
// client key); with the admin key, and on the metrics listener, the
// tenant-labelled series are there.
func TestTenantSeriesNeedTheAdminKeyOrTheMetricsListener(t *testing.T) {
	env := map[string]string{"CK": "client-key-secret-1", "AK": "admin-key-secret-2"}
	yaml := "auth:\n  mode: keys\n  keys: [{tenant: tenant-zebra, key_env: CK}]\n  admin_keys: [{tenant: ops, key_env: AK}]\n" +
		"providers: [{name: s, type: simulator}]\nmodels: {m: [{provider: s, model: x}]}\nprices: {x: {input: 1, output: 1}}\n" + oneUpstreamTiers("s", "x")
	a, base := startApp(t, yaml, env)
	if status, _, body := call(t, base, "POST", "/v1/chat/completions", env["CK"], `{"model":"m","messages":[{"role":"user","content":"hello"}]}`); status != 200 {
		t.Fatalf("chat: %d %s", status, body)
	}
	waitUsage(t, base, env["AK"], 1)
	for _, tc := range []struct {
		name, key  string
		wantTenant bool
	}{
		{"no key", "", false},
		{"client key", env["CK"], false},
		{"wrong key", "nope-nope-nope", false},
		{"admin key", env["AK"], true},
	} {
		status, _, body := call(t, base, "GET", "/metrics", tc.key, "")
		if status != 200 || !strings.Contains(body, "llmrouter_proxy_requests_total") {
			t.Fatalf("%s: %d %.200s", tc.name, status, body)
		}
		if got := strings.Contains(body, "tenant-zebra"); got != tc.wantTenant {
			t.Errorf("%s: tenant name shown %v, want %v", tc.name, got, tc.wantTenant)
		}
		if !tc.wantTenant && strings.Contains(body, `tenant="`) {
			t.Errorf("%s: a tenant-labelled series is public", tc.name)
		}
	}

	stop, addr := serveMetrics("127.0.0.1:0", a, discardLogger())
	if stop == nil {
		t.Fatal("no metrics listener")
	}
	defer stop()
	status, _, body := call(t, "http://"+addr, "GET", "/metrics", "", "")
	if status != 200 || !strings.Contains(body, "tenant-zebra") {
		t.Fatalf("metrics listener: %d, tenant shown %v", status, strings.Contains(body, "tenant-zebra"))
	}
}
