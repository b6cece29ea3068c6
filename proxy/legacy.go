package proxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// legacyRequest is the body of POST /v1/completions. Only what maps onto a
// chat request is accepted; echo, suffix, best_of > 1 and logprobs are
// refused with 400 rather than silently ignored.
type legacyRequest struct {
	Model            string             `json:"model"`
	Prompt           json.RawMessage    `json:"prompt"`
	MaxTokens        *int               `json:"max_tokens"`
	Temperature      *float64           `json:"temperature"`
	TopP             *float64           `json:"top_p"`
	N                *int               `json:"n"`
	Stream           bool               `json:"stream"`
	StreamOptions    *llm.StreamOptions `json:"stream_options"`
	Stop             llm.Stop           `json:"stop"`
	Seed             *int64             `json:"seed"`
	User             string             `json:"user"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	LogitBias        json.RawMessage    `json:"logit_bias"`
	Echo             bool               `json:"echo"`
	Suffix           *string            `json:"suffix"`
	BestOf           *int               `json:"best_of"`
	Logprobs         *int               `json:"logprobs"`
}

// decodeLegacy turns a legacy completions body into a chat request with one
// user message. An array prompt of several strings becomes one message,
// the strings joined by newlines (this proxy answers one prompt per call).
// Token-array prompts are refused.
func decodeLegacy(body []byte) (*llm.Request, *llm.Error) {
	var lr legacyRequest
	if err := json.Unmarshal(body, &lr); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, "invalid type for '"+te.Field+"': expected "+te.Type.String())
		}
		return nil, invalid("", "request body is not a valid JSON object")
	}
	if lr.Model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	prompt, e := legacyPrompt(lr.Prompt)
	if e != nil {
		return nil, e
	}
	switch {
	case lr.Echo:
		return nil, invalid("echo", "echo is not supported by this proxy")
	case lr.Suffix != nil && *lr.Suffix != "":
		return nil, invalid("suffix", "suffix is not supported by this proxy")
	case lr.BestOf != nil && *lr.BestOf > 1:
		return nil, invalid("best_of", "best_of greater than 1 is not supported by this proxy")
	case lr.Logprobs != nil:
		return nil, invalid("logprobs", "logprobs is not supported by this proxy")
	}
	r := &llm.Request{
		Model:            lr.Model,
		Messages:         []llm.Message{{Role: "user", Content: llm.TextContent(prompt)}},
		MaxTokens:        lr.MaxTokens,
		Temperature:      lr.Temperature,
		TopP:             lr.TopP,
		N:                lr.N,
		Stream:           lr.Stream,
		StreamOptions:    lr.StreamOptions,
		Stop:             lr.Stop,
		Seed:             lr.Seed,
		User:             lr.User,
		PresencePenalty:  lr.PresencePenalty,
		FrequencyPenalty: lr.FrequencyPenalty,
	}
	if len(lr.LogitBias) > 0 && string(lr.LogitBias) != "null" {
		r.LogitBias = lr.LogitBias
	}
	return r, nil
}

func legacyPrompt(raw json.RawMessage) (string, *llm.Error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil && len(raw) > 0 && raw[0] == '"' {
		return one, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil && many != nil {
		if len(many) == 0 {
			return "", invalid("prompt", "prompt must not be an empty array")
		}
		return strings.Join(many, "\n"), nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		return "", invalid("prompt", "you must provide a prompt")
	}
	return "", invalid("prompt", "prompt must be a string or an array of strings (token arrays are not supported)")
}

// legacyChoice is one choice of a text_completion object. Logprobs is
// always null; FinishReason is null in stream chunks until the end.
type legacyChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// legacyResponse is the text_completion object, whole or as a stream chunk.
type legacyResponse struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []legacyChoice `json:"choices"`
	Usage             *llm.Usage     `json:"usage"`
	SystemFingerprint string         `json:"system_fingerprint,omitempty"`
}

var jsonNull = json.RawMessage("null")

const objectTextCompletion = "text_completion"

// legacyID turns "chatcmpl-X" into "cmpl-X", the legacy id prefix.
func legacyID(id string) string {
	if rest, ok := strings.CutPrefix(id, "chatcmpl-"); ok {
		return "cmpl-" + rest
	}
	return id
}

func toLegacy(resp *llm.Response) *legacyResponse {
	out := &legacyResponse{ID: legacyID(resp.ID), Object: objectTextCompletion, Created: resp.Created,
		Model: resp.Model, Usage: resp.Usage, SystemFingerprint: resp.SystemFingerprint,
		Choices: make([]legacyChoice, len(resp.Choices))}
	for i := range resp.Choices {
		c := &resp.Choices[i]
		fr := c.FinishReason
		out.Choices[i] = legacyChoice{Text: c.Message.Content.Text(), Index: c.Index, Logprobs: jsonNull, FinishReason: &fr}
	}
	return out
}

// legacyEncoder writes chat chunks as text_completion stream events.
type legacyEncoder struct{}

func (legacyEncoder) writeChunk(w *bufio.Writer, enc *json.Encoder, c *llm.Chunk, wantUsage bool) (bool, error) {
	out := legacyResponse{ID: legacyID(c.ID), Object: objectTextCompletion, Created: c.Created, Model: c.Model,
		SystemFingerprint: c.SystemFingerprint, Choices: make([]legacyChoice, 0, len(c.Choices))}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Delta.Content == nil && ch.FinishReason == nil {
			continue // role-only or tool deltas have no legacy form
		}
		if ch.Delta.Content != nil && *ch.Delta.Content == "" && ch.FinishReason == nil {
			continue
		}
		text := ""
		if ch.Delta.Content != nil {
			text = *ch.Delta.Content
		}
		out.Choices = append(out.Choices, legacyChoice{Text: text, Index: ch.Index, Logprobs: jsonNull, FinishReason: ch.FinishReason})
	}
	if wantUsage && c.Usage != nil && len(c.Choices) == 0 {
		out.Usage = c.Usage
		return true, writeEvent(w, enc, &out)
	}
	if len(out.Choices) == 0 {
		return false, nil
	}
	return true, writeEvent(w, enc, &out)
}

// legacy serves POST /v1/completions by translating to and from chat.
func (s *Server) legacy(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	r, e := decodeLegacy(ctx.PostBody())
	if e == nil {
		e = s.validate(r)
	}
	if e != nil {
		return s.fail(ctx, x, e)
	}
	if e := s.prepare(ctx, x, p, r); e != nil {
		return s.fail(ctx, x, e)
	}
	if r.Stream {
		return s.streamChat(ctx, x, r, legacyEncoder{})
	}
	return s.completeUnary(ctx, x, r, func(resp *llm.Response) any { return toLegacy(resp) })
}
