package simulator

import (
	"context"
	"math"
	"strings"
	"unicode"

	"llmrouter/llm"
)

// Embed returns one deterministic vector per input: the words of the text,
// lower-cased, feature-hashed with signs into req.Dimensions buckets
// (DefaultEmbeddingDim when unset), L2-normalised. Equal texts get equal
// vectors and texts sharing words are close; the vectors carry no meaning
// beyond that.
func (c *Client) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(err, false)
	}
	dim := DefaultEmbeddingDim
	if req.Dimensions != nil {
		if *req.Dimensions <= 0 || *req.Dimensions > 16384 {
			return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "dimensions must be between 1 and 16384", Param: "dimensions", Provider: c.o.Name, Status: 400}
		}
		dim = *req.Dimensions
	}
	if len(req.Input) == 0 {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "input must not be empty", Param: "input", Provider: c.o.Name, Status: 400}
	}
	if err := c.inject(); err != nil {
		return nil, err
	}
	resp := &llm.EmbeddingResponse{Object: "list", Model: req.Model, Data: make([]llm.Embedding, len(req.Input))}
	tokens := 0
	for i, text := range req.Input {
		resp.Data[i] = llm.Embedding{Object: "embedding", Index: i, Embedding: hashVector(text, dim)}
		tokens += max(estimateTokens(text), 1)
	}
	resp.Usage = &llm.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return resp, nil
}

func hashVector(text string, dim int) []float32 {
	v := make([]float32, dim)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		words = []string{text}
	}
	for _, w := range words {
		h := hash64(w)
		sign := float32(1)
		if h>>63 == 1 {
			sign = -1
		}
		v[h%uint64(dim)] += sign
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		v[0] = 1
		return v
	}
	inv := float32(1 / math.Sqrt(norm))
	for i := range v {
		v[i] *= inv
	}
	return v
}
