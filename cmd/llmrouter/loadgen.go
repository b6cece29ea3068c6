package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// loadgenPrompt is one line of a prompt file: any of the shared prompt
// sets' shapes ("prompt", "question", "instruction", "turns") or a whole
// chat request ("messages", optionally "model").
type loadgenPrompt struct {
	Prompt      string            `json:"prompt"`
	Question    string            `json:"question"`
	Instruction string            `json:"instruction"`
	Turns       []string          `json:"turns"`
	Messages    []json.RawMessage `json:"messages"`
	Model       string            `json:"model"`
}

// text returns the prompt's user text, or "".
func (p *loadgenPrompt) text() string {
	switch {
	case p.Prompt != "":
		return p.Prompt
	case p.Question != "":
		return p.Question
	case p.Instruction != "":
		return p.Instruction
	case len(p.Turns) > 0:
		return p.Turns[0]
	}
	return ""
}

// loadPrompts reads JSONL prompt files into request bodies. model is used
// unless a line names its own.
func loadPrompts(paths []string, model string, stream bool) ([][]byte, error) {
	var out [][]byte
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var p loadgenPrompt
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			m := model
			if p.Model != "" {
				m = p.Model
			}
			req := map[string]any{"model": m, "stream": stream}
			if stream {
				req["stream_options"] = map[string]bool{"include_usage": true}
			}
			if len(p.Messages) > 0 {
				req["messages"] = p.Messages
			} else if t := p.text(); t != "" {
				req["messages"] = []map[string]string{{"role": "user", "content": t}}
			} else {
				continue
			}
			b, _ := json.Marshal(req)
			out = append(out, b)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no prompts in the given files")
	}
	return out, nil
}

// defaultPromptFiles are the shared prompt sets, found by walking up from
// the working directory to shared/datasets/prompts.
func defaultPromptFiles() []string {
	dir, _ := os.Getwd()
	for {
		for _, cand := range []string{filepath.Join(dir, "shared", "datasets", "prompts"), filepath.Join(dir, "datasets", "prompts")} {
			if m, _ := filepath.Glob(filepath.Join(cand, "*.jsonl")); len(m) > 0 {
				return m
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// loadgenStats are the run's counters, updated by the workers.
type loadgenStats struct {
	sent, ok, failed, limited atomic.Int64
	latencyNS                 atomic.Int64
	costMicro                 atomic.Int64
	mu                        sync.Mutex
	byStatus                  map[int]int64
}

func (s *loadgenStats) line(elapsed time.Duration) string {
	ok := s.ok.Load()
	avg := time.Duration(0)
	if ok > 0 {
		avg = time.Duration(s.latencyNS.Load() / ok)
	}
	return fmt.Sprintf("%6.1fs sent %d ok %d limited %d failed %d  avg %v  %.1f req/s  cost $%.6f",
		elapsed.Seconds(), s.sent.Load(), ok, s.limited.Load(), s.failed.Load(), avg.Round(time.Millisecond),
		float64(s.sent.Load())/max(elapsed.Seconds(), 1e-9), float64(s.costMicro.Load())/1e6)
}

// loadgenCmd sends a mix of prompts to a running proxy at a given rate and
// concurrency, with a progress line, until -duration or -requests is
// reached (or SIGINT).
func loadgenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmrouter loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "proxy base URL")
	key := fs.String("key", os.Getenv("LLMROUTER_KEY"), "bearer key (default $LLMROUTER_KEY; none when empty)")
	model := fs.String("model", "auto", "model for prompts that name none; a comma-separated list is picked at random per request")
	rate := fs.Float64("rate", 5, "requests per second (0: as fast as -concurrency allows)")
	conc := fs.Int("concurrency", 4, "requests in flight at most")
	dur := fs.Duration("duration", time.Minute, "how long to run (0: until -requests or SIGINT)")
	total := fs.Int("requests", 0, "stop after this many requests (0: no limit)")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of each request")
	streamShare := fs.Float64("stream", 0.3, "share of requests sent as streams, 0..1")
	repeat := fs.Float64("repeat", 0.2, "share of requests that repeat an earlier prompt (cache hits), 0..1")
	seed := fs.Uint64("seed", 1, "random seed for the prompt mix")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conc <= 0 || *rate < 0 || *streamShare < 0 || *streamShare > 1 || *repeat < 0 || *repeat > 1 || *timeout <= 0 {
		fmt.Fprintln(stderr, "llmrouter loadgen: -concurrency must be > 0, -rate >= 0, -stream and -repeat in [0,1], -timeout > 0")
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		files = defaultPromptFiles()
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "llmrouter loadgen: give JSONL prompt files (no shared/datasets/prompts found)")
		return 2
	}
	models := strings.Split(*model, ",")
	var unary, streams [][][]byte
	for _, m := range models {
		u, err := loadPrompts(files, strings.TrimSpace(m), false)
		if err != nil {
			fmt.Fprintf(stderr, "llmrouter loadgen: %v\n", err)
			return 1
		}
		s, _ := loadPrompts(files, strings.TrimSpace(m), true)
		unary, streams = append(unary, u), append(streams, s)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	fmt.Fprintf(stdout, "loadgen: %d prompts from %d files to %s, %.1f req/s, concurrency %d\n", len(unary[0]), len(files), *url, *rate, *conc)
	st := &loadgenStats{byStatus: map[int]int64{}}
	client := &fasthttp.Client{MaxConnsPerHost: *conc, ReadTimeout: *timeout, WriteTimeout: *timeout, MaxResponseBodySize: 64 << 20}
	rng := rand.New(rand.NewPCG(*seed, 7))
	var rngMu sync.Mutex
	pick := func() []byte {
		rngMu.Lock()
		defer rngMu.Unlock()
		mi := rng.IntN(len(models))
		set := unary[mi]
		if rng.Float64() < *streamShare {
			set = streams[mi]
		}
		n := len(set)
		if rng.Float64() < *repeat {
			n = min(n, 20) // a small hot set repeats
		}
		return set[rng.IntN(n)]
	}
	jobs := make(chan []byte)
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range jobs {
				loadgenOne(client, *url, *key, body, *timeout, st)
			}
		}()
	}
	start := time.Now()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	var tick <-chan time.Time
	if *rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer t.Stop()
		tick = t.C
	}
	sent := 0
loop:
	for *total == 0 || sent < *total {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break loop
			case <-progress.C:
				fmt.Fprintf(stdout, "\r%s", st.line(time.Since(start)))
				continue
			}
		}
		select {
		case jobs <- pick():
			sent++
			st.sent.Add(1)
		case <-ctx.Done():
			break loop
		case <-progress.C:
			fmt.Fprintf(stdout, "\r%s", st.line(time.Since(start)))
		}
	}
	close(jobs)
	wg.Wait()
	fmt.Fprintf(stdout, "\r%s\n", st.line(time.Since(start)))
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.byStatus) > 0 {
		fmt.Fprintf(stdout, "statuses: %v\n", st.byStatus)
	}
	if st.ok.Load() == 0 {
		return 1
	}
	return 0
}

// loadgenOne sends one request and counts its outcome; it reads the whole
// body (streams included) within timeout.
func loadgenOne(c *fasthttp.Client, base, key string, body []byte, timeout time.Duration, st *loadgenStats) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/v1/chat/completions")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.SetBody(body)
	t0 := time.Now()
	err := c.DoTimeout(req, resp, timeout)
	status := resp.StatusCode()
	if err != nil {
		status = -1
	}
	st.mu.Lock()
	st.byStatus[status]++
	st.mu.Unlock()
	switch {
	case err == nil && status == 200:
		st.ok.Add(1)
		st.latencyNS.Add(int64(time.Since(t0)))
		if v := resp.Header.Peek("x-llmrouter-cost-usd"); len(v) > 0 {
			var usd float64
			if _, err := fmt.Sscanf(string(v), "%f", &usd); err == nil {
				st.costMicro.Add(int64(usd*1e6 + 0.5))
			}
		}
	case status == 429:
		st.limited.Add(1)
	default:
		st.failed.Add(1)
	}
}
