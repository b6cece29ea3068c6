package proxy

import (
	"strconv"

	"llmrouter/llm"
)

// appendChatChunk appends c as encoding/json (with SetEscapeHTML(false))
// would encode it, without reflection or allocation, and reports whether it
// could: a chunk carrying tool calls, thinking blocks or logprobs other than
// null is left to encoding/json (ok false, dst unchanged in content). The
// bytes are identical to json.Marshal's minus its HTML escaping; a test
// holds the two together.
func appendChatChunk(dst []byte, c *llm.Chunk) ([]byte, bool) {
	for i := range c.Choices {
		ch := &c.Choices[i]
		if len(ch.Delta.ToolCalls) > 0 || len(ch.Delta.ThinkingBlocks) > 0 ||
			len(ch.Logprobs) > 0 && string(ch.Logprobs) != "null" {
			return dst, false
		}
	}
	b := append(dst, `{"id":`...)
	b = llm.AppendJSONString(b, c.ID)
	b = append(b, `,"object":`...)
	b = llm.AppendJSONString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = llm.AppendJSONString(b, c.Model)
	b = append(b, `,"choices":`...)
	if c.Choices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range c.Choices {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendChunkChoice(b, &c.Choices[i])
		}
		b = append(b, ']')
	}
	if u := c.Usage; u != nil {
		b = append(b, `,"usage":`...)
		b = llm.AppendUsageJSON(b, u)
	}
	if c.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = llm.AppendJSONString(b, c.SystemFingerprint)
	}
	if c.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = llm.AppendJSONString(b, c.ServiceTier)
	}
	return append(b, '}'), true
}

func appendChunkChoice(b []byte, ch *llm.ChunkChoice) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(ch.Index), 10)
	b = append(b, `,"delta":{`...)
	d := &ch.Delta
	first := true
	field := func(b []byte, name string) []byte {
		if !first {
			b = append(b, ',')
		}
		first = false
		return append(b, name...)
	}
	if d.Role != "" {
		b = field(b, `"role":`)
		b = llm.AppendJSONString(b, d.Role)
	}
	if d.Content != nil {
		b = field(b, `"content":`)
		b = llm.AppendJSONString(b, *d.Content)
	}
	if d.ReasoningContent != nil {
		b = field(b, `"reasoning_content":`)
		b = llm.AppendJSONString(b, *d.ReasoningContent)
	}
	if d.Refusal != nil {
		b = field(b, `"refusal":`)
		b = llm.AppendJSONString(b, *d.Refusal)
	}
	b = append(b, `},"finish_reason":`...)
	if ch.FinishReason == nil {
		b = append(b, "null"...)
	} else {
		b = llm.AppendJSONString(b, *ch.FinishReason)
	}
	if len(ch.Logprobs) > 0 { // only "null" gets here
		b = append(b, `,"logprobs":null`...)
	}
	return append(b, '}')
}
