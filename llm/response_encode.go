package llm

import (
	"strconv"
)

// AppendResponseJSON appends r encoded as an encoding/json Encoder with
// SetEscapeHTML(false) writes it (the proxy's answer shape), trailing
// newline included, without reflection: the members in their tag order,
// each Message as its MarshalJSON writes it. Fuzzed against the Encoder
// (FuzzResponseEncodingMatchesEncoder). r.Encodings is not encoded.
func AppendResponseJSON(b []byte, r *Response) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, r.ID)
	b = append(b, `,"object":`...)
	b = AppendJSONString(b, r.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, r.Created, 10)
	b = append(b, `,"model":`...)
	b = AppendJSONString(b, r.Model)
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
			b = AppendJSONString(b, c.FinishReason)
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
		b = AppendUsageJSON(b, u)
	}
	if r.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = AppendJSONString(b, r.SystemFingerprint)
	}
	if r.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = AppendJSONString(b, r.ServiceTier)
	}
	return append(b, "}\n"...), nil
}
