package llm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// EmbeddingRequest is an OpenAI /v1/embeddings request. Input is always a
// list of strings once decoded; token-array inputs are kept raw in RawInput
// for upstreams that accept them.
type EmbeddingRequest struct {
	Model          string         `json:"model"`
	Input          EmbeddingInput `json:"input"`
	EncodingFormat string         `json:"encoding_format,omitempty"`
	Dimensions     *int           `json:"dimensions,omitempty"`
	User           string         `json:"user,omitempty"`
	Tenant         string         `json:"-"`
	// KeyID names the client key, as llm.Request.KeyID.
	KeyID     string          `json:"-"`
	RequestID string          `json:"-"`
	Meta      *Meta           `json:"-"`
	RawInput  json.RawMessage `json:"-"`
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

// DecodeVector reads one embedding as the OpenAI API sends it: a JSON
// array of numbers, or (encoding_format "base64") a base64 string of
// little-endian float32 values.
func DecodeVector(raw json.RawMessage) ([]float32, error) {
	if firstByte(raw) != '"' {
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64 embedding: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, errors.New("base64 embedding is not a whole number of float32 values")
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Base64Vector encodes v as encoding_format "base64" does: little-endian
// float32 bytes in standard base64 (the OpenAI SDKs' default).
func Base64Vector(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
