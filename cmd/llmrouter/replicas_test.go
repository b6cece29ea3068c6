package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"llmrouter/migrations/pgtest"
)

// replicasConfig: three replicas share one Postgres (DATABASE_URL, with
// the test's own schema in its search_path). "fast" answers in ~150 ms;
// "slow" streams about ten words a second, so a stream is in flight long
// enough to kill its replica under it.
const replicasConfig = `
server: {shutdown_timeout: 10s}
auth:
  mode: keys
  keys: [{tenant: app, key_env: REPLICA_KEY}]
  admin_keys: [{tenant: ops, key_env: REPLICA_ADMIN_KEY}]
providers:
  - {name: fast, type: simulator, simulator: {time_to_first_token: 150ms}}
  - {name: slow, type: simulator, simulator: {time_to_first_token: 50ms, tokens_per_second: 10}}
models:
  slow: [{provider: slow, model: slow-model}]
routing:
  tiers:
    small: {chain: [{provider: fast, model: fast-model}]}
    medium: {chain: [{provider: fast, model: fast-model}]}
    large: {chain: [{provider: fast, model: fast-model}]}
cache:
  exact: {enabled: true}
  semantic: {enabled: true, batch_size: 1}
`

const (
	replicaKey      = "sk-replica-client-key"
	replicaAdminKey = "sk-replica-admin-key"
)

// cluster is three llmrouter processes and what they share.
type cluster struct {
	t       *testing.T
	bin     string
	cfgPath string
	env     []string
	mu      sync.Mutex
	procs   []*process
	gen     int
}

func (c *cluster) start(i int) *process {
	c.t.Helper()
	c.mu.Lock()
	c.gen++
	name := fmt.Sprintf("replica-%d.%d", i, c.gen)
	c.mu.Unlock()
	p := startProcess(c.t, name, c.bin, c.cfgPath, c.env)
	p.waitReady(`"semantic_store":"up"`)
	return p
}

func (c *cluster) get(i int) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i]
}

func (c *cluster) set(i int, p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs[i] = p
}

// lbClient never reuses connections, so a stopped replica's refusal is a
// dial error (nothing sent) and never a reset keep-alive connection.
var lbClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// chatTo sends one chat completion and returns status, cache header and body.
func chatTo(p *process, body string, headers ...string) (int, string, string, error) {
	req, err := http.NewRequest("POST", p.base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Authorization", "Bearer "+replicaKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := lbClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == 200 {
		p.served.Add(1)
	}
	return resp.StatusCode, resp.Header.Get("x-llmrouter-cache"), string(b), err
}

func chatBodyFor(model, prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{"model": model, "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	return string(b)
}

// streamResult is how one client stream ended.
type streamResult struct {
	done   bool   // saw data: [DONE]
	finish string // the last finish_reason seen
	err    error  // the read error, nil on a clean end of body
	status int
}

// streamFrom runs one streamed chat completion; started is closed (when not
// nil) once the first content chunk arrived.
func streamFrom(p *process, prompt string, started chan<- struct{}) streamResult {
	req, _ := http.NewRequest("POST", p.base+"/v1/chat/completions", strings.NewReader(chatBodyFor("slow", prompt, true)))
	req.Header.Set("Authorization", "Bearer "+replicaKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := lbClient.Do(req)
	if err != nil {
		return streamResult{err: err}
	}
	defer resp.Body.Close()
	r := streamResult{status: resp.StatusCode}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			if data == "[DONE]" {
				r.done = true
			} else {
				var ev struct {
					Choices []struct {
						Delta        struct{ Content string }
						FinishReason *string `json:"finish_reason"`
					}
				}
				if json.Unmarshal([]byte(data), &ev) == nil && len(ev.Choices) > 0 {
					if ev.Choices[0].Delta.Content != "" && started != nil {
						close(started)
						started = nil
					}
					if f := ev.Choices[0].FinishReason; f != nil {
						r.finish = *f
					}
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return r
		}
	}
}

// TestThreeReplicasShareOnePostgres starts three llmrouter processes on
// loopback sharing one Postgres schema and drives traffic at all three.
func TestThreeReplicasShareOnePostgres(t *testing.T) {
	db := pgtest.New(t)
	bin := buildBinary(t)
	cfgPath := filepath.Join(t.TempDir(), "replicas.yaml")
	if err := os.WriteFile(cfgPath, []byte(replicasConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := db.URL + sep(db.URL) + "search_path=" + url.QueryEscape(db.Schema+",public")
	c := &cluster{t: t, bin: bin, cfgPath: cfgPath, procs: make([]*process, 3),
		env: []string{"DATABASE_URL=" + dbURL, "REPLICA_KEY=" + replicaKey, "REPLICA_ADMIN_KEY=" + replicaAdminKey}}
	var wg sync.WaitGroup
	for i := range c.procs {
		wg.Add(1)
		go func() { // start-ups race for the migration lock, as real replicas do
			defer wg.Done()
			c.procs[i] = startProcess(t, fmt.Sprintf("replica-%d", i), bin, cfgPath, c.env)
		}()
	}
	wg.Wait()
	for _, p := range c.procs {
		p.waitReady(`"semantic_store":"up"`)
	}
	var tables int
	if err := db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", db.Schema).Scan(&tables); err != nil || tables == 0 {
		t.Fatalf("the replicas migrated %d tables into the test schema (err %v)", tables, err)
	}

	t.Run("semantic entry written through one hits through the others", func(t *testing.T) {
		written := chatBodyFor("auto", "How do I reverse a linked list in place?", false)
		if status, cache, body, err := chatTo(c.get(0), written); err != nil || status != 200 || cache != "miss" {
			t.Fatalf("write through replica 0: %d %q %v %s", status, cache, err, body)
		}
		near := chatBodyFor("auto", "how do I reverse a linked list in place", false)
		for _, i := range []int{1, 2} {
			// no-store: a miss must not put the answer into this replica's own caches
			eventually(t, 10*time.Second, func() (bool, string) {
				status, cache, body, err := chatTo(c.get(i), near, "Cache-Control", "no-store")
				return err == nil && status == 200 && cache == "semantic", fmt.Sprintf("replica %d: %d %q %v %s", i, status, cache, err, body)
			})
		}
	})

	t.Run("an invalidation is seen by all", func(t *testing.T) {
		req, _ := http.NewRequest("POST", c.get(2).base+"/admin/cache/invalidate", strings.NewReader(`{"tenant":"app"}`))
		req.Header.Set("Authorization", "Bearer "+replicaAdminKey)
		resp, err := lbClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("invalidate: %d %s", resp.StatusCode, b)
		}
		// Replica 0 holds the exact entry in its own L1, replicas 1 and 2
		// had semantic hits: after the bump none of them may answer from cache.
		for i, prompt := range []string{"How do I reverse a linked list in place?", "how do I reverse a linked list in place", "how do I reverse a linked list in place"} {
			status, cache, body, err := chatTo(c.get(i), chatBodyFor("auto", prompt, false), "Cache-Control", "no-store")
			if err != nil || status != 200 || cache != "miss" {
				t.Errorf("replica %d after the invalidation: %d %q %v %s", i, status, cache, err, body)
			}
		}
	})

	t.Run("usage is per replica until the durable ledger exists", func(t *testing.T) {
		// What exists today: each replica's /v1/usage reports the requests
		// that replica served (an in-memory ledger), not the cluster's sum.
		for i := range c.procs {
			p := c.get(i)
			eventually(t, 5*time.Second, func() (bool, string) {
				req, _ := http.NewRequest("GET", p.base+"/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+replicaKey)
				resp, err := lbClient.Do(req)
				if err != nil {
					return false, err.Error()
				}
				defer resp.Body.Close()
				var snap struct{ Totals struct{ Requests int64 } }
				if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
					return false, err.Error()
				}
				return snap.Totals.Requests == p.served.Load(), fmt.Sprintf("replica %d usage %d requests, it served %d", i, snap.Totals.Requests, p.served.Load())
			})
		}
	})

	t.Run("killing one replica loses only its own streams, each with an error", func(t *testing.T) {
		victim, survivor := c.get(0), c.get(1)
		type run struct {
			on  *process
			res chan streamResult
		}
		var runs []run
		var started []chan struct{}
		for i := range 6 {
			p := victim
			if i%2 == 1 {
				p = survivor
			}
			r := run{on: p, res: make(chan streamResult, 1)}
			s := make(chan struct{})
			runs, started = append(runs, r), append(started, s)
			go func() { r.res <- streamFrom(p, fmt.Sprintf("stream %d: tell me about replicas and failover", i), s) }()
		}
		for i, s := range started {
			select {
			case <-s:
			case <-time.After(15 * time.Second):
				t.Fatalf("stream %d never started", i)
			}
		}
		victim.signal(syscall.SIGKILL)
		victim.waitExit(5 * time.Second)
		for i, r := range runs {
			var res streamResult
			select {
			case res = <-r.res:
			case <-time.After(20 * time.Second):
				t.Fatalf("stream %d did not end", i)
			}
			if r.on == victim {
				if res.err == nil || res.done || res.finish != "" {
					t.Errorf("stream %d on the killed replica ended cleanly (done %v, finish %q, err %v): a cut must be an error, never a clean truncated finish", i, res.done, res.finish, res.err)
				}
			} else if res.err != nil || !res.done || res.finish != "stop" || res.status != 200 {
				t.Errorf("stream %d on a surviving replica was lost: %+v", i, res)
			}
		}
		c.set(0, c.start(0))
	})

	t.Run("a rolling restart under load drops no request", func(t *testing.T) {
		rollingRestart(t, c)
	})
}

// rollingRestart keeps clients busy on all replicas while each in turn is
// taken out of rotation (as Kubernetes removes a terminating pod from the
// Service's endpoints) and sent SIGTERM at once, then replaced. The client
// tries another replica only when a dial is refused (nothing was sent).
// Every request must succeed, including those in flight on the replica
// when it got SIGTERM.
func rollingRestart(t *testing.T, c *cluster) {
	var (
		mu        sync.Mutex
		rotation  = []int{0, 1, 2}
		failures  []string
		ok        atomic.Int64
		refused   atomic.Int64
		drained   atomic.Int64 // requests in flight on a replica when it got SIGTERM, then completed
		stopping  [3]atomic.Bool
		next      atomic.Int64
		stop      = make(chan struct{})
		workersWG sync.WaitGroup
	)
	pick := func() (int, *process) {
		mu.Lock()
		defer mu.Unlock()
		i := rotation[int(next.Add(1))%len(rotation)]
		return i, c.get(i)
	}
	fail := func(s string) {
		mu.Lock()
		failures = append(failures, s)
		mu.Unlock()
	}
	var seq atomic.Int64
	worker := func(stream bool) {
		defer workersWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := seq.Add(1)
			for attempt := 0; ; attempt++ {
				i, p := pick()
				sawStop := stopping[i].Load()
				var err error
				var detail string
				if stream {
					res := streamFrom(p, fmt.Sprintf("rolling %d", n), nil)
					err = res.err
					if err == nil && (!res.done || res.status != 200) {
						detail = fmt.Sprintf("stream status %d done %v finish %q", res.status, res.done, res.finish)
					}
				} else {
					var status int
					var body string
					status, _, body, err = chatTo(p, chatBodyFor("auto", fmt.Sprintf("rolling request number %d", n), false))
					if err == nil && status != 200 {
						detail = fmt.Sprintf("status %d: %s", status, body)
					}
				}
				var op *net.OpError
				if err != nil && errors.As(err, &op) && op.Op == "dial" && attempt < 10 {
					refused.Add(1) // not started anywhere: the balancer tries another replica
					continue
				}
				if err != nil {
					detail = err.Error()
				}
				if detail != "" {
					fail(fmt.Sprintf("%s (stream %v): %s", p.name, stream, detail))
				} else {
					ok.Add(1)
					if !sawStop && stopping[i].Load() {
						drained.Add(1)
					}
				}
				break
			}
		}
	}
	for k := range 6 {
		workersWG.Add(1)
		go worker(k%3 == 2)
	}
	time.Sleep(300 * time.Millisecond)
	for i := range 3 {
		old := c.get(i)
		mu.Lock()
		rotation = without(rotation, i)
		mu.Unlock()
		stopping[i].Store(true)
		old.signal(syscall.SIGTERM)
		if code := old.waitExit(15 * time.Second); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", old.name, code)
		}
		if !strings.Contains(old.logs.String(), "shutting down: draining in-flight requests") {
			t.Errorf("%s did not drain", old.name)
		}
		p := c.start(i)
		c.set(i, p)
		stopping[i].Store(false)
		mu.Lock()
		rotation = append(rotation, i)
		mu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	workersWG.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("%d requests dropped during the rolling restart (%d succeeded):\n%s", len(failures), ok.Load(), strings.Join(failures, "\n"))
	}
	if ok.Load() < 20 {
		t.Fatalf("only %d requests ran during the restart: the load is too light to prove anything", ok.Load())
	}
	t.Logf("rolling restart: %d requests succeeded, %d were in flight on a replica when it got SIGTERM and completed, %d dials refused and sent elsewhere", ok.Load(), drained.Load(), refused.Load())
	if drained.Load() == 0 {
		t.Error("no request was in flight on a replica when it got SIGTERM: the drain was not exercised")
	}
}

func without(l []int, v int) []int {
	out := make([]int, 0, len(l))
	for _, x := range l {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// eventually retries f until it reports true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
