package proxy

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

type fakeReport struct{ Q UsageQuery }

func (f fakeReport) WriteCSV(w io.Writer) error {
	_, err := io.WriteString(w, "period,group\n"+f.Q.Tenant+"\n")
	return err
}

// TestUsageEndpointsTenantIsolation: a client key sees only its tenant's
// figures whatever it asks, an admin key sees all or picks a tenant, bad
// parameters are 400 in the OpenAI shape, and CSV is served.
func TestUsageEndpointsTenantIsolation(t *testing.T) {
	var got []UsageQuery
	o := Options{
		Completer: &cannedCompleter{},
		Auth: AuthOptions{Mode: "keys",
			Keys:      []Key{{Tenant: "team-a", Value: "key-a"}},
			AdminKeys: []Key{{Tenant: "ops", Value: "key-admin"}}},
		Usage: func(_ context.Context, q UsageQuery) (UsageReport, error) {
			got = append(got, q)
			return fakeReport{q}, nil
		},
	}
	h := newTestHandler(t, o)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, path, key string
		status          int
		tenant          string
		all             bool
	}{
		{"own tenant", "/v1/usage", "key-a", 200, "team-a", false},
		{"tenant cannot ask for another", "/v1/usage?tenant=ops", "key-a", 200, "team-a", false},
		{"admin sees all on /v1/usage", "/v1/usage", "key-admin", 200, "", true},
		{"admin sees all", "/admin/usage", "key-admin", 200, "", true},
		{"admin picks a tenant", "/admin/usage?tenant=team-a", "key-admin", 200, "team-a", false},
		{"client key is not admin", "/admin/usage", "key-a", 403, "", false},
		{"no key", "/v1/usage", "", 401, "", false},
		{"bad from", "/v1/usage?from=yesterday", "key-a", 400, "", false},
		{"bad format", "/v1/usage?format=xml", "key-a", 400, "", false},
		{"dates", "/v1/usage?from=2026-03-01&to=2026-03-02&group_by=tier&granularity=hour", "key-a", 200, "team-a", false},
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
			if len(got) != 1 || got[0].Tenant != tt.tenant || got[0].All != tt.all {
				t.Fatalf("usage called with %+v, want tenant %q all %v", got, tt.tenant, tt.all)
			}
			if tt.name == "dates" && (!got[0].From.Equal(from) || !got[0].To.Equal(from.Add(48*time.Hour)) || got[0].GroupBy != "tier" || got[0].Granularity != "hour") {
				t.Fatalf("query %+v", got[0])
			}
		})
	}
	status, body := h.get(t, "/v1/usage?format=csv", "key-a")
	if status != 200 || body != "period,group\nteam-a\n" {
		t.Fatalf("csv: %d %q", status, body)
	}
	status, body = h.get(t, "/dashboard", "")
	if status != 200 || !strings.Contains(body, "llmrouter") {
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
