package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/config"
	"llmrouter/provider/fake"
)

// Distinctive secrets, none of the sk-/Bearer shapes the pattern layer
// knows, so only redaction by value can catch them.
var redactionSecrets = map[string]string{
	"PROV_KEY":   "provKEY-zq9x1-7f3e2d",
	"HDR_SECRET": "hdrSECRET-77ab-c0ffee",
	"CLIENT_KEY": "clientKEY-5566aa-beef",
	"ADMIN_KEY":  "adminKEY-9911bb-cafe",
	"DB_PASS":    "dbPASSword-4242",
}

// quotingUpstream answers every call with an error that quotes the
// credentials it received, as some providers do.
func quotingUpstream(status int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"error":{"message":"bad request with header %s and auth %s","type":"invalid_request_error","param":null,"code":null}}`,
			ctx.Request.Header.Peek("X-Org-Secret"), ctx.Request.Header.Peek("Authorization"))
	}
}

const redactionConfig = `
log: {level: debug}
auth:
  mode: keys
  keys: [{tenant: acme, key_env: CLIENT_KEY}]
  admin_keys: [{tenant: ops, key_env: ADMIN_KEY}]
database: {url: "postgres://llm:dbPASSword-4242@127.0.0.1:1/none?connect_timeout=1"}
providers:
  - {name: quoting, type: openai, base_url: "%[1]s/v1", api_key_env: PROV_KEY, headers_env: {X-Org-Secret: HDR_SECRET}}
  - {name: rejecting, type: openai, base_url: "%[2]s/v1", api_key_env: PROV_KEY, headers_env: {X-Org-Secret: HDR_SECRET}}
models:
  quote: [{provider: quoting, model: m}]
  reject: [{provider: rejecting, model: m}]
routing:
  retry: {max_attempts_per_target: 1}
  tiers:
    small: {chain: [{provider: quoting, model: m}]}
    medium: {chain: [{provider: quoting, model: m}]}
    large: {chain: [{provider: quoting, model: m}]}
cache:
  exact: {enabled: true}
  semantic: {enabled: false}
`

// TestSecretsNeverReachClientsLogsOrMetrics configures distinctive secrets,
// drives every error path that could echo one (an upstream 4xx quoting the
// provider key and a headers_env value, an upstream 401, a client key in
// the model field, a malformed HTTP request carrying a key, a bad reload)
// and greps every response body, every log line (debug level, fasthttp's
// own lines included) and /metrics for them.
func TestSecretsNeverReachClientsLogsOrMetrics(t *testing.T) {
	quoting := fake.Start(t, quotingUpstream(400))
	rejecting := fake.Start(t, quotingUpstream(401))
	yaml := fmt.Sprintf(redactionConfig, quoting.URL, rejecting.URL)
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return redactionSecrets[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.proxy.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.proxy.Shutdown(sctx)
		<-done
		_ = a.close()
	}()
	base := "http://" + ln.Addr().String()
	client, admin := redactionSecrets["CLIENT_KEY"], redactionSecrets["ADMIN_KEY"]

	var out strings.Builder
	record := func(status int, _ map[string]string, body string) {
		fmt.Fprintf(&out, "%d %s\n", status, body)
	}
	record(call(t, base, "POST", "/v1/chat/completions", client, `{"model":"quote","messages":[{"role":"user","content":"hi"}]}`))
	record(call(t, base, "POST", "/v1/chat/completions", client, `{"model":"quote","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	record(call(t, base, "POST", "/v1/chat/completions", client, `{"model":"reject","messages":[{"role":"user","content":"hi"}]}`))
	record(call(t, base, "POST", "/v1/chat/completions", client, `{"model":"`+client+`","messages":[{"role":"user","content":"hi"}]}`))
	record(call(t, base, "POST", "/v1/chat/completions", client, `{"model":"quote","messages":[{"role":"user","content":"`+admin+`"}],"stop":{"k":"`+client+`"}}`))
	record(call(t, base, "POST", "/v1/chat/completions", client+"x", `{"model":"quote","messages":[]}`))
	record(call(t, base, "GET", "/metrics", admin, ""))
	record(call(t, base, "GET", "/admin/usage", admin, ""))

	// A malformed HTTP request carrying the client key: fasthttp logs the
	// raw head at debug level.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Api-Key: %s\r\nContent-Length: zz\r\n\r\n", client, admin)
	resp, _ := bufio.NewReader(conn).ReadString(0)
	conn.Close()
	out.WriteString(resp)

	// A reload that fails, logged the way serveCmd logs it.
	bad := *cfg
	bad.Routing.Classifier.Weights = map[string]float64{"no-such-" + client: 1}
	if err := a.reload(&bad); err == nil {
		t.Fatal("a reload with an unknown classifier weight succeeded")
	} else {
		a.log.Error("config reload failed; keeping the running config", "err", err)
	}

	all := out.String() + logs.String()
	if !strings.Contains(all, "bad request with header") {
		t.Fatalf("the quoting upstream's message never arrived; the test drove nothing:\n%s", all)
	}
	if !strings.Contains(all, "fasthttp: ") {
		t.Errorf("fasthttp logged nothing about the malformed request:\n%s", logs.String())
	}
	for name, v := range redactionSecrets {
		if strings.Contains(all, v) {
			i := strings.Index(all, v)
			t.Errorf("secret %s leaked: ...%s...", name, all[max(0, i-200):min(len(all), i+len(v)+50)])
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("no [redacted] in any answer:\n%s", out.String())
	}
}

// TestOwnHintsAreNotGarbled: the pattern layer must not rewrite our own
// text; the 401 hint keeps its "Bearer <key>".
func TestOwnHintsAreNotGarbled(t *testing.T) {
	_, base := startApp(t, "auth: {mode: keys, keys: [{tenant: a, key_env: K}]}\nproviders: [{name: s, type: simulator}]\nmodels: {m: [{provider: s, model: x}]}\n"+oneUpstreamTiers("s", "x"),
		map[string]string{"K": "some-client-key-1"})
	status, _, body := call(t, base, "POST", "/v1/chat/completions", "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	var e struct{ Error struct{ Message string } }
	_ = json.Unmarshal([]byte(body), &e)
	if status != 401 || !strings.Contains(e.Error.Message, "Authorization: Bearer <key>") || strings.Contains(body, "***") {
		t.Fatalf("401 hint garbled: %d %s", status, body)
	}
}
