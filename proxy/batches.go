package proxy

import (
	"bytes"
	"context"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// BatchAPI serves the OpenAI Files and Batches endpoints. Serve gets the
// authenticated tenant, the method, the path, the Content-Type and the body
// (valid only during the call) and returns the answer's content type and
// body (status 200), or an error mapped here to the OpenAI error shape.
// It must honour ctx.
type BatchAPI interface {
	Serve(ctx context.Context, tenant, method, path, contentType string, body []byte) (string, []byte, error)
}

func isBatchPath(p []byte) bool {
	for _, prefix := range []string{"/v1/files", "/v1/batches"} {
		if rest, ok := bytes.CutPrefix(p, []byte(prefix)); ok && (len(rest) == 0 || rest[0] == '/') {
			return true
		}
	}
	return false
}

// batches serves the Files and Batches routes through o.Batches.
func (s *Server) batches(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	cctx, cancel := s.budget(x, false)
	defer cancel()
	ct, body, err := s.o.Batches.Serve(cctx, p.tenant, string(ctx.Method()), string(ctx.Path()),
		string(ctx.Request.Header.ContentType()), ctx.PostBody())
	if err != nil {
		return s.fail(ctx, x, llm.AsError(err))
	}
	ctx.Response.Header.SetContentType(ct)
	ctx.SetBody(body)
	x.status = fasthttp.StatusOK
	return true
}
