package proxy

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// maxEmbeddingInputs is OpenAI's limit on inputs per request.
const maxEmbeddingInputs = 2048

type embeddingWire struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`
}

// decodeEmbeddings decodes and validates an embeddings body. Token-array
// input (an array of integers, or of integer arrays, as LangChain sends) is
// kept raw in RawInput with Input empty.
func decodeEmbeddings(body []byte) (*llm.EmbeddingRequest, *llm.Error) {
	var w embeddingWire
	if err := json.Unmarshal(body, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, "invalid type for '"+te.Field+"': expected "+te.Type.String())
		}
		return nil, invalid("", "request body is not a valid JSON object")
	}
	if w.Model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	switch w.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, invalid("encoding_format", "encoding_format must be 'float' or 'base64'")
	}
	if w.Dimensions != nil && *w.Dimensions < 1 {
		return nil, invalid("dimensions", "dimensions must be at least 1")
	}
	r := &llm.EmbeddingRequest{Model: w.Model, EncodingFormat: w.EncodingFormat, Dimensions: w.Dimensions, User: w.User}
	if len(w.Input) == 0 || string(w.Input) == "null" {
		return nil, invalid("input", "you must provide an input")
	}
	if err := json.Unmarshal(w.Input, &r.Input); err != nil {
		if !tokenInput(w.Input) {
			return nil, invalid("input", "input must be a string, an array of strings, or token arrays")
		}
		r.RawInput = append(json.RawMessage(nil), w.Input...)
		return r, nil
	}
	if len(r.Input) == 0 {
		return nil, invalid("input", "input must not be empty")
	}
	if len(r.Input) > maxEmbeddingInputs {
		return nil, invalid("input", "at most "+strconv.Itoa(maxEmbeddingInputs)+" inputs per request")
	}
	for i, s := range r.Input {
		if s == "" {
			return nil, invalid("input["+strconv.Itoa(i)+"]", "inputs must not be empty strings")
		}
	}
	return r, nil
}

// tokenInput reports a non-empty array of integers or of non-empty integer arrays.
func tokenInput(raw json.RawMessage) bool {
	var flat []int64
	if json.Unmarshal(raw, &flat) == nil {
		return len(flat) > 0
	}
	var nested [][]int64
	if json.Unmarshal(raw, &nested) != nil || len(nested) == 0 {
		return false
	}
	for _, n := range nested {
		if len(n) == 0 {
			return false
		}
	}
	return true
}

type embeddingOut struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32 or base64 string
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type embeddingsOut struct {
	Object string          `json:"object"`
	Data   []embeddingOut  `json:"data"`
	Model  string          `json:"model"`
	Usage  *embeddingUsage `json:"usage,omitempty"`
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	if s.embedder == nil {
		return s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Param: "model", Code: llm.CodeModelNotFound,
			Message: "this proxy has no embeddings backend"})
	}
	r, e := decodeEmbeddings(ctx.PostBody())
	if e != nil {
		return s.fail(ctx, x, e)
	}
	r.Tenant, r.KeyID, r.RequestID, r.Meta = p.tenant, p.keyID, x.requestID, x.meta
	x.model = r.Model
	if e := s.admit(p, r.Model); e != nil {
		return s.fail(ctx, x, e)
	}
	cctx, cancel := s.budget(x, false)
	resp, err := s.embedder.Embed(cctx, r)
	cancel()
	mv := x.meta.Values()
	setMetaHeaders(&ctx.Response.Header, &mv)
	if err != nil {
		return s.fail(ctx, x, llm.AsError(err))
	}
	out := embeddingsOut{Object: "list", Model: resp.Model, Data: make([]embeddingOut, len(resp.Data))}
	for i := range resp.Data {
		d := &resp.Data[i]
		var emb any = d.Embedding
		if r.EncodingFormat == "base64" {
			emb = llm.Base64Vector(d.Embedding)
		} else if d.Embedding == nil {
			emb = []float32{}
		}
		out.Data[i] = embeddingOut{Object: "embedding", Index: d.Index, Embedding: emb}
	}
	if resp.Usage != nil {
		out.Usage = &embeddingUsage{PromptTokens: resp.Usage.PromptTokens, TotalTokens: resp.Usage.TotalTokens}
		x.usage = resp.Usage
	}
	x.upstreamModel = resp.Model
	if err := writeJSON(ctx, &out); err != nil {
		ctx.ResetBody()
		return s.fail(ctx, x, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer", Err: err})
	}
	x.status = fasthttp.StatusOK
	return true
}
