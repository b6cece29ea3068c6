package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// serveDirect runs the handler on a fresh RequestCtx without a network and
// returns status and the whole body (stream bodies read to the end).
func serveDirect(h fasthttp.RequestHandler, path string, body []byte, hdr ...string) (int, []byte) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	ctx.Request.SetBody(body)
	h(&ctx)
	if ctx.Response.IsBodyStream() {
		b, _ := io.ReadAll(ctx.Response.BodyStream())
		_ = ctx.Response.CloseBodyStream()
		return ctx.Response.StatusCode(), b
	}
	return ctx.Response.StatusCode(), append([]byte(nil), ctx.Response.Body()...)
}

// FuzzRequestDecoding feeds arbitrary bodies to the chat, legacy and
// embeddings routes: the handler never panics, and every non-2xx answer is
// an OpenAI error object.
func FuzzRequestDecoding(f *testing.F) {
	for _, seed := range []string{
		chatBody, streamBody, streamUsageBody, `{}`, `null`, `[]`, `{"model":`, `"x"`,
		`{"model":"m","messages":[{"role":"tool","content":null}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}],"n":0}`,
		`{"model":"m","messages":[{"role":"user","content":"a"}],"stream":true,"stream_options":null,"temperature":1e400}`,
		`{"model":"m","prompt":["a","b"],"stream":true}`, `{"model":"e","input":[[1,2],[3]],"encoding_format":"base64"}`,
		`{"model":"m","messages":[{"role":"user","content":"\u0000\ud800"}],"stop":["a",1]}`,
	} {
		for _, route := range []uint8{0, 1, 2} {
			f.Add(route, []byte(seed))
		}
	}
	c := &cannedCompleter{resp: cannedResponse(), chunks: textChunks(), models: []string{"auto"}, embed: nil}
	c.embed = &embedFixture
	s, err := New(Options{Completer: c, Auth: testAuth(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	paths := []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := paths[int(route)%len(paths)]
		status, out := serveDirect(h, path, body)
		if status >= 200 && status < 300 {
			if len(out) == 0 {
				t.Fatalf("%s: empty 2xx body", path)
			}
			return
		}
		var e struct {
			Error *struct {
				Message *string `json:"message"`
				Type    *string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &e); err != nil || e.Error == nil || e.Error.Message == nil || e.Error.Type == nil ||
			!strings.Contains(string(out), `"param":`) || !strings.Contains(string(out), `"code":`) {
			t.Fatalf("%s: status %d with a non-OpenAI error body %q (%v)", path, status, out, err)
		}
	})
}
