package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/provider/fake"
)

// TestClientDisconnectClosesUpstream: a client that goes away mid-stream
// makes llmrouter close its upstream connection (the fake upstream sees it
// closed early) instead of reading the answer to the end.
func TestClientDisconnectClosesUpstream(t *testing.T) {
	long := strings.Repeat("word ", 400)
	up := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{
		Answer:     func(*llm.Request) string { return long },
		ChunkDelay: 20 * time.Millisecond, // 400 words: about 8 s if read to the end
	}))
	_, base := startApp(t, fmt.Sprintf(`
auth: {mode: none}
providers:
  - {name: up, type: openai, base_url: "%s/v1"}
models:
  chat: [{provider: up, model: m}]
`, up.URL)+oneUpstreamTiers("up", "m"), nil)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"chat","stream":true,"messages":[{"role":"user","content":"talk for a while"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	r := bufio.NewReader(conn)
	deadline := time.Now().Add(5 * time.Second)
	conn.SetReadDeadline(deadline)
	events := 0
	for events < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (after %d events)", err, events)
		}
		if strings.HasPrefix(line, "data: {") {
			events++
		}
	}
	conn.Close() // the client goes away mid-answer

	if !up.WaitClosedEarly(1, 5*time.Second) {
		t.Fatalf("the upstream connection was not closed after the client left (closed early: %d)", up.ClosedEarly())
	}
}
