package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestUsageEndpointsAndDashboard: a client key sees only its tenant's
// figures, /admin/usage needs an admin key and may pick a tenant, and the
// dashboard page is served.
func TestUsageEndpointsAndDashboard(t *testing.T) {
	type call struct {
		tenant string
		all    bool
	}
	var got []call
	o := Options{
		Completer: &cannedCompleter{},
		Auth: AuthOptions{Mode: "keys",
			Keys:      []Key{{Tenant: "team-a", Value: "key-a"}},
			AdminKeys: []Key{{Tenant: "ops", Value: "key-admin"}}},
		Usage: func(tenant string, all bool) any {
			got = append(got, call{tenant, all})
			return map[string]any{"tenant": tenant, "all": all}
		},
	}
	h := newTestHandler(t, o)
	tests := []struct {
		name, path, key string
		status          int
		want            call
	}{
		{"own tenant", "/v1/usage", "key-a", 200, call{"team-a", false}},
		{"admin sees all", "/admin/usage", "key-admin", 200, call{"", true}},
		{"admin picks a tenant", "/admin/usage?tenant=team-a", "key-admin", 200, call{"team-a", false}},
		{"client key is not admin", "/admin/usage", "key-a", 403, call{}},
		{"no key", "/v1/usage", "", 401, call{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			status, body := h.get(t, tt.path, tt.key)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.status != 200 {
				var e map[string]map[string]any
				if json.Unmarshal([]byte(body), &e) != nil || e["error"]["message"] == nil {
					t.Fatalf("error not in the OpenAI shape: %s", body)
				}
				if len(got) != 0 {
					t.Fatalf("usage read although the caller was refused")
				}
				return
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("usage called with %+v, want %+v", got, tt.want)
			}
		})
	}
	status, body := h.get(t, "/dashboard", "")
	if status != 200 || !strings.Contains(body, "cost dashboard") || !strings.Contains(body, "/admin/usage") {
		t.Fatalf("dashboard: %d %.200s", status, body)
	}
}

// newTestHandler wraps a Server's handler for simple GET calls.
func newTestHandler(t *testing.T, o Options) *getter {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &getter{h: s.Handler()}
}

type getter struct{ h fasthttp.RequestHandler }

func (g *getter) get(t *testing.T, uri, key string) (int, string) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI(uri)
	if key != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+key)
	}
	g.h(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}
