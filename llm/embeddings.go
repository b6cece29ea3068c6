package llm

import (
	"encoding/json"
	"errors"
)

// EmbeddingRequest is an OpenAI /v1/embeddings request. Input is always a
// list of strings once decoded; token-array inputs are kept raw in RawInput
// for upstreams that accept them.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          EmbeddingInput  `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`
	Tenant         string          `json:"-"`
	RequestID      string          `json:"-"`
	Meta           *Meta           `json:"-"`
	RawInput       json.RawMessage `json:"-"`
}

// EmbeddingInput is a string or an array of strings on the wire.
type EmbeddingInput []string

// UnmarshalJSON accepts a string or an array of strings.
func (in *EmbeddingInput) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*in = EmbeddingInput{s}
		return nil
	case '[':
		var many []string
		if err := json.Unmarshal(b, &many); err != nil {
			return errors.New("input must be a string or an array of strings")
		}
		*in = many
		return nil
	}
	return errors.New("input must be a string or an array of strings")
}

// EmbeddingResponse is an OpenAI embeddings list. Vectors are float32; the
// proxy encodes them as floats or base64 per the request's encoding_format.
type EmbeddingResponse struct {
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  *Usage      `json:"usage,omitempty"`
}

// Embedding is one vector of an EmbeddingResponse.
type Embedding struct {
	Object    string    `json:"object"`
	Index     int       `json:"index"`
	Embedding []float32 `json:"embedding"`
}
