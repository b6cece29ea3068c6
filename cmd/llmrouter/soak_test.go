package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/config"
	"llmrouter/migrations/pgtest"
	"llmrouter/provider/fake"
)

// TestSoak is the chaos soak: the whole proxy (real config, real HTTP,
// Postgres through a TCP forwarder the test owns) against fake upstreams,
// at a steady mixed rate of streamed and unary requests, while a fault
// schedule runs. It fails when any request is lost (no answer, or a
// truncated or wrong answer presented as success), when any client
// request was billed twice by complete upstream answers, or when
// goroutines leak after the load stops.
//
// It runs only when LLMROUTER_SOAK is a duration ("2m", "10m"):
//
//	LLMROUTER_SOAK=10m LLMROUTER_SOAK_FAULTS=full LLMROUTER_SOAK_REPORT=soak-report.md \
//	  go test -count=1 -timeout 30m -v -run '^TestSoak$' ./cmd/llmrouter/
//
// `make soak` runs that; `make test` runs a 2-minute smoke (fewer faults).
func TestSoak(t *testing.T) {
	durEnv := os.Getenv("LLMROUTER_SOAK")
	if durEnv == "" {
		t.Skip("set LLMROUTER_SOAK=2m (or run make soak / make soak-smoke)")
	}
	dur, err := time.ParseDuration(durEnv)
	if err != nil || dur < 30*time.Second {
		t.Fatalf("LLMROUTER_SOAK=%q: want a duration of at least 30s", durEnv)
	}
	full := os.Getenv("LLMROUTER_SOAK_FAULTS") == "full"
	rate := 12.0 // requests per second
	if full {
		rate = 20
	}
	if v := os.Getenv("LLMROUTER_SOAK_RATE"); v != "" {
		if rate, err = strconv.ParseFloat(v, 64); err != nil || rate <= 0 {
			t.Fatalf("LLMROUTER_SOAK_RATE=%q", v)
		}
	}

	sk := newSoak(t, full)
	sk.run(t, dur, rate)
	report := sk.report(dur, rate)
	path := os.Getenv("LLMROUTER_SOAK_REPORT")
	if path == "" {
		path = t.TempDir() + "/soak-report.md"
	}
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		t.Fatalf("write report: %v", err)
	}
	t.Logf("soak report written to %s\n%s", path, report)

	if n := sk.lost.Load(); n != 0 {
		t.Errorf("%d requests lost (see the report's lost examples)", n)
	}
	if n := sk.doubleBilled(); n != 0 {
		t.Errorf("%d client requests were billed twice by complete upstream answers", n)
	}
	if sk.leaked > 0 {
		t.Errorf("%d goroutines above the pre-load baseline after the load drained", sk.leaked)
	}
	if sk.succeeded.Load() < sk.sent.Load()*8/10 {
		t.Errorf("only %d of %d requests succeeded: the fallbacks should answer nearly everything", sk.succeeded.Load(), sk.sent.Load())
	}
}

// ---- the world: upstreams, forwarders, the proxy ----

// upstream is a fake provider behind a forwarder, with a switchable fault.
type upstream struct {
	name  string
	srv   *fake.Server
	fwd   *forwarder
	h     atomic.Pointer[fasthttp.RequestHandler]
	fault atomic.Pointer[string]
	sk    *soak
}

// setFault switches the upstream's behaviour; build is called with the
// options to wrap.
func (u *upstream) setFault(name string, h fasthttp.RequestHandler) {
	u.fault.Store(&name)
	u.h.Store(&h)
}

var soakID = regexp.MustCompile(`soak-(\d+) please`)

// preAnswerFaults never start generating: nothing is billed.
var preAnswerFaults = map[string]bool{"rate-limited": true, "hangs-before-headers": true}

// brokenFaults start generating but never deliver a whole answer.
var brokenFaults = map[string]bool{"slow-first-token": true, "stalls": true, "cuts": true, "malformed": true}

func (u *upstream) serve(ctx *fasthttp.RequestCtx) {
	fault := *u.fault.Load()
	if m := soakID.FindSubmatch(ctx.PostBody()); m != nil && !preAnswerFaults[fault] {
		id, _ := strconv.Atoi(string(m[1]))
		// A prefill continuation completes an answer another attempt started:
		// it is the rescue, not a second whole answer.
		continuation := bytes.Count(ctx.PostBody(), []byte(`"role":"assistant"`)) > 0
		u.sk.bill(id, u.name, fault, continuation)
	}
	(*u.h.Load())(ctx)
}

func openAIFault(f fake.Fault) fasthttp.RequestHandler {
	return fake.OpenAI(fake.OpenAIOptions{Fault: f, ChunkDelay: 5 * time.Millisecond})
}

// forwarder is a TCP proxy the test owns: cut closes every connection and
// refuses new ones (the port stays reserved for restore).
type forwarder struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newForwarder(t *testing.T, target string) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	f.serve(ln)
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) serve(ln net.Listener) {
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() { // owner: the forwarder; exits when ln is closed
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.pipe(c) }()
		}
	}()
}

func (f *forwarder) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", f.target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	f.mu.Lock()
	if f.ln == nil {
		f.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	f.conns[c], f.conns[up] = struct{}{}, struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, up)
	f.mu.Unlock()
}

// cut closes the listener and every connection: dials are refused.
func (f *forwarder) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		_ = f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		_ = c.Close()
	}
}

// restore listens on the same address again.
func (f *forwarder) restore(t *testing.T) {
	for i := 0; ; i++ {
		ln, err := net.Listen("tcp", f.addr)
		if err == nil {
			f.serve(ln)
			return
		}
		if i == 50 {
			t.Errorf("forwarder: relisten %s: %v", f.addr, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *forwarder) close() {
	f.cut()
	f.wg.Wait()
}

// ---- the soak ----

type soak struct {
	full     bool
	app      *app
	base     string
	cfgYAML  string
	ups      map[string]*upstream
	db       *forwarder
	client   *http.Client
	phase    atomic.Pointer[string]
	nextID   atomic.Int64
	inflight sync.WaitGroup

	sent, succeeded, failedWell, lost, abandoned atomic.Int64
	idemPairs                                    atomic.Int64

	mu       sync.Mutex
	bills    map[int][]bill
	lat      map[string][]time.Duration // succeeded, per phase
	phases   []string                   // in order
	lostEx   []string
	failEx   map[string]int
	samples  []sample
	leaked   int
	events   []string
	baseline int
}

type bill struct {
	upstream, fault string
	continuation    bool
}

type sample struct {
	at         time.Duration
	rssKB      int
	goroutines int
	heapMB     float64
}

const soakConfig = `
server:
  request_timeout: 30s
  stream_timeout: 60s
auth: {mode: none}
database: {url: "%[4]s", max_conns: 4}
providers:
  - {name: primary, type: openai, base_url: "http://%[1]s/v1", timeouts: {stream_idle: 2s, response_header: 10s, connect: 1s}}
  - {name: secondary, type: openai, base_url: "http://%[2]s/v1", timeouts: {stream_idle: 2s, response_header: 10s, connect: 1s}}
  - {name: tertiary, type: anthropic, api_key_env: SOAK_ANTHROPIC_KEY, base_url: "http://%[3]s", timeouts: {stream_idle: 2s, connect: 1s}}
models:
  chat:
    - {provider: primary, model: gpt-soak, timeout: 5s, first_token_timeout: 2s}
    - {provider: secondary, model: gpt-soak-2, timeout: 5s, first_token_timeout: 2s}
    - {provider: tertiary, model: claude-soak, prefill: true, first_token_timeout: 3s}
routing:
  auto_aliases: []
  stream_idle_timeout: 2s
  retry: {max_retry_after_wait: 2s}
  #EXTRA#
cache:
  semantic: {enabled: true, threshold: 0.99, min_prompt_chars: 20}
`

func newSoak(t *testing.T, full bool) *soak {
	sk := &soak{full: full, ups: map[string]*upstream{}, bills: map[int][]bill{}, lat: map[string][]time.Duration{},
		failEx: map[string]int{}}
	for _, name := range []string{"primary", "secondary", "tertiary"} {
		u := &upstream{name: name, sk: sk}
		if name == "tertiary" {
			u.setFault("none", fake.Anthropic(fake.AnthropicOptions{}))
		} else {
			u.setFault("none", openAIFault(fake.Fault{}))
		}
		u.srv = fake.Start(t, u.serve)
		u.fwd = newForwarder(t, u.srv.Addr)
		sk.ups[name] = u
	}
	db := pgtest.New(t)
	pg, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	sk.db = newForwarder(t, pg.Host)
	pg.Host = sk.db.addr
	q := pg.Query()
	q.Set("search_path", db.Schema+",public")
	pg.RawQuery = q.Encode()
	sk.cfgYAML = fmt.Sprintf(soakConfig, sk.ups["primary"].fwd.addr, sk.ups["secondary"].fwd.addr,
		sk.ups["tertiary"].fwd.addr, pg.String())
	sk.app, sk.base = startAppTB(t, sk.yaml(""), map[string]string{"SOAK_ANTHROPIC_KEY": "k"})
	runtime.GC()
	// An idle proxy's goroutines, plus room for the pools' background work.
	sk.baseline = runtime.NumGoroutine() + 20
	sk.client = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	t.Cleanup(sk.client.CloseIdleConnections)
	return sk
}

// yaml is the config with extra lines in the routing section.
func (sk *soak) yaml(routingExtra string) string {
	return strings.Replace(sk.cfgYAML, "#EXTRA#", routingExtra, 1)
}

func (sk *soak) bill(id int, up, fault string, continuation bool) {
	sk.mu.Lock()
	sk.bills[id] = append(sk.bills[id], bill{up, fault, continuation})
	sk.mu.Unlock()
}

// doubleBilled counts client requests with more than one complete
// (unbroken, non-continuation) billed upstream answer.
func (sk *soak) doubleBilled() int {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	n := 0
	for _, bs := range sk.bills {
		whole := 0
		for _, b := range bs {
			if !brokenFaults[b.fault] && !b.continuation {
				whole++
			}
		}
		if whole > 1 {
			n++
		}
	}
	return n
}

func (sk *soak) event(at time.Duration, format string, args ...any) {
	sk.mu.Lock()
	sk.events = append(sk.events, fmt.Sprintf("%6.1fs  %s", at.Seconds(), fmt.Sprintf(format, args...)))
	sk.mu.Unlock()
}

// phase is one step of the fault schedule: start applies the fault, stop
// undoes it.
type phase struct {
	name        string
	start, stop func(t *testing.T, sk *soak, at time.Duration)
}

func setPrimary(name string, f fake.Fault) func(*testing.T, *soak, time.Duration) {
	return func(_ *testing.T, sk *soak, _ time.Duration) { sk.ups["primary"].setFault(name, openAIFault(f)) }
}

func healPrimary(_ *testing.T, sk *soak, _ time.Duration) {
	sk.ups["primary"].setFault("none", openAIFault(fake.Fault{}))
}

func schedule(full bool) []phase {
	nothing := func(*testing.T, *soak, time.Duration) {}
	warm := phase{"warm-up", nothing, nothing}
	kill := phase{"primary killed",
		func(_ *testing.T, sk *soak, _ time.Duration) { sk.ups["primary"].fwd.cut() },
		func(t *testing.T, sk *soak, _ time.Duration) { sk.ups["primary"].fwd.restore(t) }}
	cut := phase{"streams cut mid-answer", setPrimary("cuts", fake.CutsStreamMidAnswer(4)), healPrimary}
	dbCut := phase{"database cut",
		func(_ *testing.T, sk *soak, _ time.Duration) { sk.db.cut() },
		func(t *testing.T, sk *soak, _ time.Duration) { sk.db.restore(t) }}
	vanish := phase{"clients vanish mid-stream", nothing, nothing}
	healthy := phase{"healthy", nothing, nothing}
	if !full {
		return []phase{warm, kill, cut, dbCut, vanish, healthy}
	}
	storm := phase{"429 storm (primary and secondary)",
		func(_ *testing.T, sk *soak, _ time.Duration) {
			for _, n := range []string{"primary", "secondary"} {
				sk.ups[n].setFault("rate-limited", openAIFault(fake.RateLimitedForever()))
			}
		},
		func(_ *testing.T, sk *soak, _ time.Duration) {
			for _, n := range []string{"primary", "secondary"} {
				sk.ups[n].setFault("none", openAIFault(fake.Fault{}))
			}
		}}
	reload := phase{"config reload (valid, then invalid)",
		func(t *testing.T, sk *soak, at time.Duration) {
			cfg, err := config.Parse([]byte(sk.yaml("breaker: {open_duration: 2s}")),
				func(string) string { return "k" })
			if err == nil {
				err = sk.app.reload(cfg)
			}
			sk.event(at, "valid reload: err=%v", err)
			if err != nil {
				t.Errorf("valid reload failed: %v", err)
			}
			_, err = config.Parse([]byte(sk.yaml("breaker: {open_duration: -5s}")),
				func(string) string { return "k" })
			sk.event(at, "invalid reload refused: %v", err != nil)
			if err == nil {
				t.Errorf("an invalid config was accepted")
			}
		}, nothing}
	return []phase{
		warm,
		kill,
		storm,
		{"slow first tokens (primary)", setPrimary("slow-first-token", fake.SlowFirstToken(20*time.Second)), healPrimary},
		{"silence (primary)", setPrimary("hangs-before-headers", fake.HangsBeforeHeaders()), healPrimary},
		{"streams stall (primary)", setPrimary("stalls", fake.StallsMidStream()), healPrimary},
		cut,
		{"malformed chunks (primary)", setPrimary("malformed", fake.MalformedChunk()), healPrimary},
		{"no [DONE] after finish (primary)", setPrimary("no-done", fake.NoDoneMarker()), healPrimary},
		dbCut,
		reload,
		vanish,
		healthy,
	}
}

func (sk *soak) run(t *testing.T, dur time.Duration, rate float64) {
	sched := schedule(sk.full)
	per := dur / time.Duration(len(sched))
	start := time.Now()
	first := sched[0].name
	sk.phase.Store(&first)

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	// Sampler: RSS and goroutines over time.
	var sampWG sync.WaitGroup
	sampWG.Add(1)
	go func() { // owner: run; exits with ctx
		defer sampWG.Done()
		tk := time.NewTicker(max(dur/40, time.Second))
		defer tk.Stop()
		for {
			sk.sample(time.Since(start))
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	// Schedule.
	var schedWG sync.WaitGroup
	schedWG.Add(1)
	go func() { // owner: run; exits after the last phase or with ctx
		defer schedWG.Done()
		for i, p := range sched {
			name := p.name
			sk.phase.Store(&name)
			sk.mu.Lock()
			sk.phases = append(sk.phases, name)
			sk.mu.Unlock()
			sk.event(time.Since(start), "phase %d: %s", i, name)
			p.start(t, sk, time.Since(start))
			select {
			case <-ctx.Done():
			case <-time.After(per):
			}
			p.stop(t, sk, time.Since(start))
		}
	}()
	// Load: a steady arrival rate, bounded in flight.
	sem := make(chan struct{}, 256)
	tk := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tk.Stop()
load:
	for {
		select {
		case <-ctx.Done():
			break load
		case <-tk.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			sk.event(time.Since(start), "client: 256 requests in flight, arrival skipped")
			continue
		}
		sk.inflight.Add(1)
		go func() { // owner: run; bounded by sem and the client timeout
			defer sk.inflight.Done()
			defer func() { <-sem }()
			sk.one()
		}()
	}
	schedWG.Wait()
	sk.inflight.Wait()
	sampWG.Wait()
	sk.sample(time.Since(start))
	// Leak check: with the load drained and the fakes and forwarders (whose
	// silent handlers wait for shutdown) closed, the proxy's goroutines
	// return to what an idle proxy has.
	sk.client.CloseIdleConnections()
	for _, u := range sk.ups {
		u.srv.Close()
		u.fwd.close()
	}
	sk.db.close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= sk.baseline || time.Now().After(deadline) {
			if n > sk.baseline {
				sk.leaked = n - sk.baseline
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (sk *soak) sample(at time.Duration) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := sample{at: at, goroutines: runtime.NumGoroutine(), heapMB: float64(ms.HeapInuse) / (1 << 20), rssKB: rssKB()}
	sk.mu.Lock()
	sk.samples = append(sk.samples, s)
	sk.mu.Unlock()
}

func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

var soakWords = strings.Fields(`amber basil cedar delta ember fjord garnet harbor indigo juniper kestrel lagoon
meadow nectar orchid pepper quartz raven saffron thistle umber velvet willow xenon yarrow zephyr anchor
bramble cobalt dune falcon glacier heron iris jasper kelp lantern marble nutmeg opal pylon quill ridge
sable tundra upland vortex walnut yucca zinnia acorn beacon canyon drift estuary fennel grove hollow inlet`)

func prompt(id int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak-%d please", id)
	for i := 0; i < 10; i++ {
		b.WriteByte(' ')
		b.WriteString(soakWords[rand.IntN(len(soakWords))])
	}
	return b.String()
}

// one sends one client request (or an idempotent pair) and classifies the
// outcome.
func (sk *soak) one() {
	id := sk.nextID.Add(1)
	ph := *sk.phase.Load()
	p := prompt(id)
	want := "echo: " + p
	stream := rand.IntN(2) == 0
	vanish := stream && ph == "clients vanish mid-stream" && rand.IntN(3) == 0
	idem := !stream && rand.IntN(10) == 0
	body, _ := json.Marshal(map[string]any{"model": "chat", "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": p}}})
	start := time.Now()
	sk.sent.Add(1)
	if idem {
		sk.idemPairs.Add(1)
		key := fmt.Sprintf("soak-key-%d", id)
		var wg sync.WaitGroup
		outs := make([]string, 2)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 30 * time.Millisecond) // a client retrying while in flight
				outs[i] = sk.unary(body, want, key)
			}()
		}
		wg.Wait()
		out := outs[0]
		if outs[1] != out {
			out = "lost: the repeat of an Idempotency-Key got " + outs[1] + " but the first got " + outs[0]
		}
		sk.outcome(ph, out, time.Since(start))
		return
	}
	if stream {
		sk.outcome(ph, sk.streamed(body, want, vanish), time.Since(start))
		return
	}
	sk.outcome(ph, sk.unary(body, want, ""), time.Since(start))
}

// outcome strings: "ok", "failed: <why>", "abandoned", "lost: <why>".
func (sk *soak) outcome(ph, out string, d time.Duration) {
	switch {
	case out == "ok":
		sk.succeeded.Add(1)
		sk.mu.Lock()
		sk.lat[ph] = append(sk.lat[ph], d)
		sk.mu.Unlock()
	case out == "abandoned":
		sk.abandoned.Add(1)
	case strings.HasPrefix(out, "failed"):
		sk.failedWell.Add(1)
		sk.mu.Lock()
		sk.failEx[ph+": "+truncate(out, 160)]++
		sk.mu.Unlock()
	default:
		sk.lost.Add(1)
		sk.mu.Lock()
		if len(sk.lostEx) < 20 {
			sk.lostEx = append(sk.lostEx, ph+": "+truncate(out, 300))
		}
		sk.mu.Unlock()
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (sk *soak) post(body []byte, key string) (*http.Response, error) {
	req, err := http.NewRequest("POST", sk.base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return sk.client.Do(req)
}

// wellFormedError reports whether b is an OpenAI error envelope.
func wellFormedError(b []byte) (string, bool) {
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		return "", false
	}
	return e.Error.Type + ": " + e.Error.Message, true
}

func (sk *soak) unary(body []byte, want, key string) string {
	resp, err := sk.post(body, key)
	if err != nil {
		return "lost: no answer: " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "lost: body: " + err.Error()
	}
	if resp.StatusCode != 200 {
		if msg, ok := wellFormedError(b); ok {
			return fmt.Sprintf("failed: %d %s", resp.StatusCode, msg)
		}
		return fmt.Sprintf("lost: status %d without an error envelope: %s", resp.StatusCode, b)
	}
	var r struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Choices) != 1 {
		return "lost: 200 with a bad body: " + string(b)
	}
	if got := r.Choices[0].Message.Content; got != want || r.Choices[0].FinishReason != "stop" {
		return fmt.Sprintf("lost: wrong answer %q (finish %q), want %q", got, r.Choices[0].FinishReason, want)
	}
	return "ok"
}

func (sk *soak) streamed(body []byte, want string, vanish bool) string {
	resp, err := sk.post(body, "")
	if err != nil {
		return "lost: no answer: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		if msg, ok := wellFormedError(b); ok {
			return fmt.Sprintf("failed: %d %s", resp.StatusCode, msg)
		}
		return fmt.Sprintf("lost: status %d without an error envelope: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var text strings.Builder
	finish, done, events := "", false, 0
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue // comments (heartbeats), blank lines
		}
		if data == "[DONE]" {
			done = true
			break
		}
		if msg, ok := wellFormedError([]byte(data)); ok {
			return "failed: in-band " + msg
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return "lost: malformed event presented to the client: " + data
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
				events++
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if vanish && events >= 2 {
			return "abandoned" // the deferred Close drops the connection mid-stream
		}
	}
	switch {
	case !done && sc.Err() != nil:
		return "lost: stream broke without an error event: " + sc.Err().Error()
	case !done:
		return "lost: stream ended without [DONE] or an error event"
	case text.String() != want || finish != "stop":
		return fmt.Sprintf("lost: stream presented %q (finish %q) as complete, want %q", text.String(), finish, want)
	}
	return "ok"
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func (sk *soak) report(dur time.Duration, rate float64) string {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	var b strings.Builder
	mode := "smoke (fewer faults)"
	if sk.full {
		mode = "full fault schedule"
	}
	fmt.Fprintf(&b, "# Soak report\n\n%s, %s, %.0f requests/s (half streamed), %s, GOMAXPROCS %d.\n\n",
		time.Now().UTC().Format(time.RFC3339), dur, rate, mode, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "| requests | count |\n|---|---:|\n")
	fmt.Fprintf(&b, "| sent | %d |\n| succeeded (whole, correct answer) | %d |\n| failed with a well-formed error | %d |\n",
		sk.sent.Load(), sk.succeeded.Load(), sk.failedWell.Load())
	fmt.Fprintf(&b, "| abandoned by the client mid-stream (on purpose) | %d |\n| **lost** (no answer, or truncated/wrong presented as success) | **%d** |\n",
		sk.abandoned.Load(), sk.lost.Load())
	whole, rescues, billedReqs := 0, 0, 0
	double := 0
	var doubleEx []string
	for id, bs := range sk.bills {
		billedReqs++
		w := 0
		for _, x := range bs {
			if !brokenFaults[x.fault] && !x.continuation {
				w++
			} else {
				rescues++
			}
		}
		whole += w
		if w > 1 {
			double++
			if len(doubleEx) < 10 {
				doubleEx = append(doubleEx, fmt.Sprintf("soak-%d: %+v", id, bs))
			}
		}
	}
	fmt.Fprintf(&b, "| Idempotency-Key pairs (two client calls each, counted once above) | %d |\n", sk.idemPairs.Load())
	fmt.Fprintf(&b, "| **double-billed** (client requests with two complete upstream answers) | **%d** |\n", double)
	fmt.Fprintf(&b, "| billed upstream calls: whole answers / broken or continuation attempts | %d / %d |\n\n", whole, rescues)

	fmt.Fprintf(&b, "## Latency of succeeded requests per phase\n\n| phase | n | p50 | p99 |\n|---|---:|---:|---:|\n")
	for _, ph := range sk.phases {
		l := sk.lat[ph]
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", ph, len(l), pct(l, 0.5).Round(time.Millisecond), pct(l, 0.99).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\n## RSS and goroutines over time (whole test process: proxy, fakes and clients)\n\n| t | RSS MiB | heap in use MiB | goroutines |\n|---:|---:|---:|---:|\n")
	for _, s := range sk.samples {
		fmt.Fprintf(&b, "| %.0fs | %.1f | %.1f | %d |\n", s.at.Seconds(), float64(s.rssKB)/1024, s.heapMB, s.goroutines)
	}
	if n := len(sk.samples); n >= 6 {
		mid, last := sk.samples[n/3:2*n/3], sk.samples[2*n/3:]
		avg := func(ss []sample, f func(sample) float64) float64 {
			t := 0.0
			for _, s := range ss {
				t += f(s)
			}
			return t / float64(len(ss))
		}
		rss := func(s sample) float64 { return float64(s.rssKB) / 1024 }
		heap := func(s sample) float64 { return s.heapMB }
		gr := func(s sample) float64 { return float64(s.goroutines) }
		fmt.Fprintf(&b, "\nTrend after warm-up (mean of the last third vs the middle third): RSS %.1f -> %.1f MiB, heap %.1f -> %.1f MiB, goroutines %.0f -> %.0f.\n",
			avg(mid, rss), avg(last, rss), avg(mid, heap), avg(last, heap), avg(mid, gr), avg(last, gr))
	}
	fmt.Fprintf(&b, "Goroutines allowed after the load drained (idle proxy + 20): %d; above that: %d.\n", sk.baseline, sk.leaked)
	fmt.Fprintf(&b, "\n## Schedule\n\n```\n%s\n```\n", strings.Join(sk.events, "\n"))
	if len(sk.failEx) > 0 {
		fmt.Fprintf(&b, "\n## Well-formed failures by phase and message\n\n")
		keys := make([]string, 0, len(sk.failEx))
		for k := range sk.failEx {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %d x %s\n", sk.failEx[k], k)
		}
	}
	if len(doubleEx) > 0 {
		fmt.Fprintf(&b, "\n## Double-billed examples (upstream, fault, continuation)\n\n")
		for _, e := range doubleEx {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	if len(sk.lostEx) > 0 {
		fmt.Fprintf(&b, "\n## Lost examples\n\n")
		for _, e := range sk.lostEx {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}
