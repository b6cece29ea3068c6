package fake

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"llmrouter/provider/sse"
)

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod("POST")
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), bytes.Clone(resp.Body())
}

// TestOpenAIStreamWireShape checks the framing facts of the fixtures README:
// role-only first chunk, "usage":null on every chunk and a "choices":[]
// usage chunk only with include_usage, an empty-delta finish chunk, [DONE].
func TestOpenAIStreamWireShape(t *testing.T) {
	srv := Start(t, OpenAI(OpenAIOptions{}))
	for _, usage := range []bool{true, false} {
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b"}]}`
		if usage {
			body = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}`
		}
		status, out := post(t, srv.URL+"/v1/chat/completions", body)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		r := sse.NewReader(bytes.NewReader(out), 0)
		var events []map[string]json.RawMessage
		var last string
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			last = string(ev.Data)
			if last == "[DONE]" {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatalf("%s: %v", ev.Data, err)
			}
			events = append(events, m)
		}
		if last != "[DONE]" {
			t.Fatal("no [DONE]")
		}
		if string(events[0]["choices"]) != `[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]` {
			t.Fatalf("first chunk %s", events[0]["choices"])
		}
		n := len(events)
		finish := events[n-1]
		if usage {
			finish = events[n-2]
			if string(events[n-1]["choices"]) != "[]" || !bytes.Contains(events[n-1]["usage"], []byte(`"completion_tokens":3`)) {
				t.Fatalf("usage chunk %v", events[n-1])
			}
		}
		if string(finish["choices"]) != `[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]` {
			t.Fatalf("finish chunk %s", finish["choices"])
		}
		for i, e := range events {
			u, has := e["usage"]
			switch {
			case !usage && has:
				t.Fatalf("chunk %d has usage without include_usage", i)
			case usage && i < n-1 && string(u) != "null":
				t.Fatalf("chunk %d usage = %s, want null", i, u)
			}
		}
	}
}

func TestOpenAIErrors(t *testing.T) {
	srv := Start(t, OpenAI(OpenAIOptions{Models: []string{"m"}}))
	tests := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"bad json", "/v1/chat/completions", "{", 400, `"type":"invalid_request_error"`},
		{"unknown model", "/v1/chat/completions", `{"model":"x","messages":[{"role":"user","content":"a"}]}`, 404, `"code":"model_not_found"`},
		{"unknown path", "/v1/nope", `{}`, 404, `"code":"unknown_url"`},
		{"ok", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"a"}]}`, 200, `"object":"chat.completion"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, srv.URL+tt.path, tt.body)
			if status != tt.status || !bytes.Contains(body, []byte(tt.want)) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
}

// TestHangingHandlersEndOnClose: a request stuck in HangsBeforeHeaders or
// StallsMidStream must not keep Close from returning.
func TestHangingHandlersEndOnClose(t *testing.T) {
	for _, f := range []Fault{HangsBeforeHeaders(), StallsMidStream(), SlowFirstToken(time.Hour)} {
		srv := Start(t, OpenAI(OpenAIOptions{Fault: f}))
		errc := make(chan error, 1)
		go func() {
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			req.SetRequestURI(srv.URL + "/v1/chat/completions")
			req.Header.SetMethod("POST")
			req.SetBodyString(`{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c"}]}`)
			errc <- fasthttp.DoTimeout(req, nil, 10*time.Second)
		}()
		for srv.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		done := make(chan struct{})
		go func() { srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hung")
		}
		<-errc
	}
}

func TestSplitWordsAndFragments(t *testing.T) {
	if got := splitWords("echo: a  b"); len(got) != 3 || got[0] != "echo:" || got[1] != " a" || got[2] != "  b" {
		t.Fatalf("splitWords = %q", got)
	}
	var all string
	for _, f := range fragments(`{"é":"ü"}`, 2) {
		if !utf8.ValidString(f) {
			t.Fatalf("fragment %q splits a rune", f)
		}
		all += f
	}
	if all != `{"é":"ü"}` {
		t.Fatalf("fragments lost bytes: %q", all)
	}
}
