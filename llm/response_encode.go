package llm

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// AppendResponseJSON appends r encoded as an encoding/json Encoder with
// SetEscapeHTML(false) writes it (the proxy's answer shape), trailing
// newline included, without reflection: the members in their tag order,
// each Message as its MarshalJSON writes it. Fuzzed against the Encoder
// (FuzzResponseEncodingMatchesEncoder). r.Encodings is not encoded.
func AppendResponseJSON(b []byte, r *Response) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendStringNoHTML(b, r.ID)
	b = append(b, `,"object":`...)
	b = appendStringNoHTML(b, r.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, r.Created, 10)
	b = append(b, `,"model":`...)
	b = appendStringNoHTML(b, r.Model)
	b = append(b, `,"choices":`...)
	if r.Choices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Choices {
			c := &r.Choices[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(c.Index), 10)
			b = append(b, `,"message":`...)
			var err error
			if b, err = appendMessage(b, &c.Message, false); err != nil {
				return nil, err
			}
			b = append(b, `,"finish_reason":`...)
			b = appendStringNoHTML(b, c.FinishReason)
			if len(c.Logprobs) > 0 {
				b = append(b, `,"logprobs":`...)
				if b, err = appendCompactRaw(b, c.Logprobs, false); err != nil {
					return nil, err
				}
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if u := r.Usage; u != nil {
		b = append(b, `,"usage":`...)
		b = appendUsage(b, u)
	}
	if r.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = appendStringNoHTML(b, r.SystemFingerprint)
	}
	if r.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = appendStringNoHTML(b, r.ServiceTier)
	}
	return append(b, "}\n"...), nil
}

func appendUsage(b []byte, u *Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	if d := u.PromptTokensDetails; d != nil {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(d.CachedTokens), 10)
		if d.CacheCreationTokens != 0 {
			b = append(b, `,"cache_creation_tokens":`...)
			b = strconv.AppendInt(b, int64(d.CacheCreationTokens), 10)
		}
		if d.AudioTokens != 0 {
			b = append(b, `,"audio_tokens":`...)
			b = strconv.AppendInt(b, int64(d.AudioTokens), 10)
		}
		b = append(b, '}')
	}
	if d := u.CompletionTokensDetails; d != nil {
		b = append(b, `,"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(d.ReasoningTokens), 10)
		if d.AudioTokens != 0 {
			b = append(b, `,"audio_tokens":`...)
			b = strconv.AppendInt(b, int64(d.AudioTokens), 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendStringNoHTML appends s as an Encoder with SetEscapeHTML(false)
// writes a string.
func appendStringNoHTML(b []byte, s string) []byte {
	if plainJSONString(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
