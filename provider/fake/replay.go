package fake

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Replay returns a handler that answers every request with status,
// contentType and body, byte for byte. A text/event-stream body is written
// one SSE block at a time with a flush after each, as a real upstream does.
func Replay(status int, contentType string, body []byte) fasthttp.RequestHandler {
	body = bytes.Clone(body)
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		ctx.Response.Header.SetContentType(contentType)
		if !strings.HasPrefix(contentType, "text/event-stream") {
			ctx.SetBody(body)
			return
		}
		Fault{}.ServeStream(ctx, StreamSpec{Events: splitBlocks(body)})
	}
}

// splitBlocks cuts an SSE body after each blank line ("\n\n" or "\r\n\r\n"),
// keeping every byte.
func splitBlocks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		if j := bytes.Index(b, []byte("\r\n\r\n")); j >= 0 && (i < 0 || j < i) {
			i = j + 2
		}
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+2])
		b = b[i+2:]
	}
	return out
}

var statusInName = regexp.MustCompile(`error-(\d{3})`)

// ReplayFixture returns a Replay handler for a recorded fixture file (a
// .sse or .json under /work/shared/fixtures). The status and content type
// come from the sibling *.headers.json when there is one; otherwise from
// the name: "error-NNN" is status NNN, "insufficient-quota" is 429, anything
// else 200; .sse is "text/event-stream; charset=utf-8", errors are
// "application/json; charset=utf-8", other JSON "application/json".
func ReplayFixture(t testing.TB, path string) fasthttp.RequestHandler {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fake: fixture: %v", err)
	}
	name := path[strings.LastIndexByte(path, '/')+1:]
	status, ctype := 200, "application/json"
	switch {
	case strings.HasSuffix(name, ".sse"):
		ctype = "text/event-stream; charset=utf-8"
	case strings.HasPrefix(name, "error"):
		ctype = "application/json; charset=utf-8"
		status = 400
		if m := statusInName.FindStringSubmatch(name); m != nil {
			status, _ = strconv.Atoi(m[1])
		} else if strings.Contains(name, "insufficient-quota") {
			status = 429
		}
	}
	hdrPath := strings.TrimSuffix(strings.TrimSuffix(path, ".sse"), ".json") + ".headers.json"
	if hb, err := os.ReadFile(hdrPath); err == nil {
		var h struct {
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(hb, &h); err != nil {
			t.Fatalf("fake: %s: %v", hdrPath, err)
		}
		if h.Status != 0 {
			status = h.Status
		}
		if ct := h.Headers["content-type"]; ct != "" {
			ctype = ct
		}
		extra := make(map[string]string)
		for k, v := range h.Headers {
			switch strings.ToLower(k) {
			case "content-type", "content-length", "connection", "transfer-encoding", "content-encoding", "date", "keep-alive":
			default:
				extra[k] = v
			}
		}
		next := Replay(status, ctype, body)
		return func(ctx *fasthttp.RequestCtx) {
			for k, v := range extra {
				ctx.Response.Header.Set(k, v)
			}
			next(ctx)
		}
	}
	return Replay(status, ctype, body)
}
