// Command benchstream is the streaming load generator of `make bench`. It
// keeps -streams chat-completion streams open against -url for -duration in
// a closed loop (a stream that ends is replaced at once), and prints one
// RESULT line: streams completed, failures, content events received, and
// time to first byte (the first "data:" event) at p50 and p99 over the
// streams started after warm-up. It is a benchmark tool, not part of the
// product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

const body = `{"model":"bench","stream":true,"messages":[` +
	`{"role":"system","content":"You are a concise assistant for a benchmark."},` +
	`{"role":"user","content":"Write two hundred short words about the sea, one per line."}]}`

type result struct {
	ttfb    time.Duration
	events  int
	started time.Time
	err     error
}

func main() {
	url := flag.String("url", "http://127.0.0.1:9100/v1/chat/completions", "chat completions URL")
	streams := flag.Int("streams", 100, "concurrent streams kept open")
	duration := flag.Duration("duration", 10*time.Second, "how long to keep the streams going")
	warmup := flag.Duration("warmup", 3*time.Second, "streams started before this are not counted")
	ramp := flag.Duration("ramp", 2*time.Second, "the workers start spread over this time")
	flag.Parse()
	if err := run(*url, *streams, *duration, *warmup, *ramp); err != nil {
		fmt.Fprintln(os.Stderr, "benchstream:", err)
		os.Exit(1)
	}
}

func run(url string, streams int, duration, warmup, ramp time.Duration) error {
	tr := &http.Transport{
		MaxIdleConnsPerHost: streams,
		MaxConnsPerHost:     streams,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), duration+30*time.Second)
	defer cancel()
	start := time.Now()
	end := start.Add(duration)
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		delay := time.Duration(int64(ramp) * int64(i) / int64(streams))
		go func() { // owner: run; exits when the duration is over
			defer wg.Done()
			time.Sleep(delay)
			for time.Now().Before(end) {
				r := oneStream(ctx, client, url)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()

	var ttfb []time.Duration
	ok, failed, events := 0, 0, 0
	var firstErr error
	for _, r := range results {
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		ok++
		events += r.events
		if r.started.Sub(start) >= warmup {
			ttfb = append(ttfb, r.ttfb)
		}
	}
	sort.Slice(ttfb, func(i, j int) bool { return ttfb[i] < ttfb[j] })
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "benchstream: first error:", firstErr)
	}
	fmt.Printf("RESULT streams=%d ok=%d failed=%d events=%d sampled=%d ttfb_p50_us=%.0f ttfb_p99_us=%.0f\n",
		streams, ok, failed, events, len(ttfb), us(pct(ttfb, 0.50)), us(pct(ttfb, 0.99)))
	return nil
}

// oneStream sends one streamed request and reads it to [DONE].
func oneStream(ctx context.Context, client *http.Client, url string) result {
	r := result{started: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer bench")
	resp, err := client.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		r.err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		return r
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream ended before [DONE]")
			}
			r.err = err
			return r
		}
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		if r.events == 0 {
			r.ttfb = time.Since(r.started)
		}
		if bytes.HasPrefix(line, []byte("data: [DONE]")) {
			return r
		}
		if bytes.Contains(line, []byte(`"error"`)) {
			r.err = fmt.Errorf("error event: %s", bytes.TrimSpace(line))
			return r
		}
		r.events++
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p)
	return d[i]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
