package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
)

// markerCompleter streams, for each request, chunks that carry the request's
// user text (its marker), so that a client receiving another client's
// events is caught. Every stream first waits at the gate until all of them
// are open, so they really are concurrent.
type markerCompleter struct {
	chunks int
	gate   *sync.WaitGroup
	open   chan struct{}
}

func (m *markerCompleter) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, llm.NewError(llm.KindInternal, "not used")
}

func (m *markerCompleter) Stream(_ context.Context, r *llm.Request) (llm.Stream, error) {
	marker := r.Messages[len(r.Messages)-1].Content.Text()
	var cs []*llm.Chunk
	for i := 0; i < m.chunks; i++ {
		cs = append(cs, &llm.Chunk{ID: "chatcmpl-" + marker, Object: llm.ObjectChatCompletionChunk, Created: 1, Model: "m-1",
			Choices: []llm.ChunkChoice{{Index: 0, Delta: llm.Delta{Content: llm.Ptr(fmt.Sprintf("%s:%d ", marker, i))}}}})
	}
	cs = append(cs, &llm.Chunk{ID: "chatcmpl-" + marker, Object: llm.ObjectChatCompletionChunk, Created: 1, Model: "m-1",
		Choices: []llm.ChunkChoice{{Index: 0, Delta: llm.Delta{}, FinishReason: llm.Ptr("stop")}}})
	m.gate.Done()
	return &gatedStream{scriptedStream: &scriptedStream{chunks: cs, end: io.EOF, closed: make(chan struct{})}, open: m.open}, nil
}

// gatedStream holds its first Recv until open is closed.
type gatedStream struct {
	*scriptedStream
	open   chan struct{}
	waited bool
}

func (g *gatedStream) Recv() (*llm.Chunk, error) {
	if !g.waited {
		g.waited = true
		select {
		case <-g.open:
		case <-g.closed:
			return nil, &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}
		}
	}
	return g.scriptedStream.Recv()
}

// TestThousandConcurrentStreamsRelayOwnEventsWithoutLeaks opens 1,000
// streams at once (run under -race in CI), holds them until all are open,
// then checks that every client gets exactly its own events in order,
// ending with [DONE], and that no goroutine is left behind.
func TestThousandConcurrentStreamsRelayOwnEventsWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1")) // process-wide, by design
	const streams, chunks = 1000, 20
	var gate sync.WaitGroup
	gate.Add(streams)
	c := &markerCompleter{chunks: chunks, gate: &gate, open: make(chan struct{})}
	h := start(t, Options{Completer: c, StreamTimeout: 2 * time.Minute})
	go func() { gate.Wait(); close(c.open) }() // owner: this test; exits once every stream is open

	errs := make(chan error, streams)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- h.oneMarkedStream(fmt.Sprintf("m%04d", i), chunks)
		}(i)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 5 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d streams wrong", failed, streams)
	}
	h.stop()
	h.c.CloseIdleConnections()
}

// oneMarkedStream reads one stream and checks it carries marker's events
// 0..chunks-1 in order, a finish, and [DONE].
func (h *harness) oneMarkedStream(marker string, chunks int) error {
	body := `{"model":"auto","stream":true,"messages":[{"role":"user","content":"` + marker + `"}]}`
	resp := h.open("POST", "/v1/chat/completions", body)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d", marker, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	next, finished := 0, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: read after %d events: %v", marker, next, err)
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "data: [DONE]"):
			if next != chunks || !finished {
				return fmt.Errorf("%s: [DONE] after %d of %d events (finished %v)", marker, next, chunks, finished)
			}
			return nil
		case strings.Contains(line, `"finish_reason":"stop"`):
			finished = true
		case strings.Contains(line, fmt.Sprintf(`"content":"%s:%d "`, marker, next)):
			next++
		default:
			return fmt.Errorf("%s: unexpected event %d: %s", marker, next, strings.TrimSpace(line))
		}
	}
}
