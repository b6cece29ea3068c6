package router

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"llmrouter/llm"
)

// EmbedBatcher is an llm.Embedder that merges concurrent small embeddings
// requests with the same tenant, model, dimensions, encoding format and
// user into one upstream request whose input is all their inputs, and
// answers each caller with its own vectors (re-indexed from 0) and its share
// of the usage (split by input length). Token-array inputs and requests
// whose deadline is near go alone. When the merged call is refused as
// invalid (one bad input fails the whole upstream call), each caller
// retries alone, so a bad item gets its own error and the rest succeed.
// Safe for concurrent use.
type EmbedBatcher struct {
	next llm.Embedder
	b    *batcher[*llm.EmbeddingRequest, *llm.EmbeddingResponse]
}

var _ llm.Embedder = (*EmbedBatcher)(nil)

// NewEmbedBatcher returns an EmbedBatcher in front of next. With o not
// Enabled every request passes straight through. It fails only when
// o.Registerer refuses the metrics.
func NewEmbedBatcher(next llm.Embedder, o MicroBatchOptions) (*EmbedBatcher, error) {
	o.applyDefaults()
	m, err := newBatchMetrics(o.Registerer, "embeddings")
	if err != nil {
		return nil, err
	}
	e := &EmbedBatcher{next: next}
	e.b = newBatcher(o, m, e.flush)
	return e, nil
}

// Embed answers req, possibly as part of a merged upstream call.
func (e *EmbedBatcher) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	if len(req.RawInput) > 0 || len(req.Input) == 0 {
		return e.next.Embed(ctx, req)
	}
	tokens := 0
	for _, s := range req.Input {
		tokens += estimateTokens(s)
	}
	if !e.b.eligible(ctx, tokens) {
		return e.next.Embed(ctx, req)
	}
	r := e.b.submit(ctx, embedKey(req), req, tokens)
	if r.alone {
		return e.next.Embed(ctx, req)
	}
	return r.out, r.err
}

// Wait blocks until every merged call in flight has been answered.
func (e *EmbedBatcher) Wait() { e.b.wait() }

func embedKey(r *llm.EmbeddingRequest) string {
	dims := ""
	if r.Dimensions != nil {
		dims = strconv.Itoa(*r.Dimensions)
	}
	return strings.Join([]string{r.Tenant, r.Model, dims, r.EncodingFormat, r.User}, "\x00")
}

// estimateTokens is the batch-size estimate: 4 bytes a token, at least 1.
func estimateTokens(s string) int { return len(s)/4 + 1 }

func (e *EmbedBatcher) flush(ctx context.Context, reqs []*llm.EmbeddingRequest) ([]*llm.EmbeddingResponse, []error, error) {
	if len(reqs) == 1 {
		resp, err := e.next.Embed(ctx, reqs[0])
		return []*llm.EmbeddingResponse{resp}, nil, err
	}
	first := reqs[0]
	merged := &llm.EmbeddingRequest{Model: first.Model, EncodingFormat: first.EncodingFormat, Dimensions: first.Dimensions,
		User: first.User, Tenant: first.Tenant, RequestID: first.RequestID, Meta: &llm.Meta{}}
	weights := make([]int, len(reqs))
	for i, r := range reqs {
		merged.Input = append(merged.Input, r.Input...)
		for _, s := range r.Input {
			weights[i] += len(s)
		}
	}
	resp, err := e.next.Embed(ctx, merged)
	if err != nil {
		return nil, nil, err
	}
	data := append([]llm.Embedding(nil), resp.Data...)
	sort.Slice(data, func(i, j int) bool { return data[i].Index < data[j].Index })
	if len(data) != len(merged.Input) {
		return nil, nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "upstream returned " + strconv.Itoa(len(data)) +
			" embeddings for " + strconv.Itoa(len(merged.Input)) + " inputs"}
	}
	for i := range data {
		if data[i].Index != i {
			return nil, nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "upstream embeddings are not indexed 0..n-1"}
		}
	}
	mv := merged.Meta.Values()
	shares := splitUsage(resp.Usage, weights, weights)
	outs := make([]*llm.EmbeddingResponse, len(reqs))
	off := 0
	for i, r := range reqs {
		n := len(r.Input)
		out := &llm.EmbeddingResponse{Object: resp.Object, Model: resp.Model, Usage: shares[i], Data: make([]llm.Embedding, n)}
		for j := 0; j < n; j++ {
			d := data[off+j]
			d.Index = j
			out.Data[j] = d
		}
		off += n
		r.Meta.Update(func(m *llm.MetaValues) { m.Provider, m.Model, m.Attempts = mv.Provider, mv.Model, mv.Attempts })
		outs[i] = out
	}
	return outs, nil, nil
}

// splitUsage divides u among callers: prompt tokens in proportion to pw,
// completion tokens in proportion to cw (the rest to the last), so that the
// shares add up to u exactly. nil u gives nil shares.
func splitUsage(u *llm.Usage, pw, cw []int) []*llm.Usage {
	out := make([]*llm.Usage, len(pw))
	if u == nil {
		return out
	}
	sum := func(ws []int) int {
		t := 0
		for _, w := range ws {
			t += w
		}
		return t
	}
	tp, tc := sum(pw), sum(cw)
	part := func(v, i int, w []int, total int, left *int) int {
		if i == len(w)-1 {
			return *left
		}
		p := v / len(w)
		if total > 0 {
			p = v * w[i] / total
		}
		*left -= p
		return p
	}
	lp, lc := u.PromptTokens, u.CompletionTokens
	for i := range pw {
		s := &llm.Usage{PromptTokens: part(u.PromptTokens, i, pw, tp, &lp), CompletionTokens: part(u.CompletionTokens, i, cw, tc, &lc)}
		s.TotalTokens = s.PromptTokens + s.CompletionTokens
		out[i] = s
	}
	return out
}
