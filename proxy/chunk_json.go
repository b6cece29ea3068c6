package proxy

import (
	"strconv"
	"unicode/utf8"

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
	b = appendJSONString(b, c.ID)
	b = append(b, `,"object":`...)
	b = appendJSONString(b, c.Object)
	b = append(b, `,"created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, c.Model)
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
		b = appendUsage(b, u)
	}
	if c.SystemFingerprint != "" {
		b = append(b, `,"system_fingerprint":`...)
		b = appendJSONString(b, c.SystemFingerprint)
	}
	if c.ServiceTier != "" {
		b = append(b, `,"service_tier":`...)
		b = appendJSONString(b, c.ServiceTier)
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
		b = appendJSONString(b, d.Role)
	}
	if d.Content != nil {
		b = field(b, `"content":`)
		b = appendJSONString(b, *d.Content)
	}
	if d.ReasoningContent != nil {
		b = field(b, `"reasoning_content":`)
		b = appendJSONString(b, *d.ReasoningContent)
	}
	if d.Refusal != nil {
		b = field(b, `"refusal":`)
		b = appendJSONString(b, *d.Refusal)
	}
	b = append(b, `},"finish_reason":`...)
	if ch.FinishReason == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *ch.FinishReason)
	}
	if len(ch.Logprobs) > 0 { // only "null" gets here
		b = append(b, `,"logprobs":null`...)
	}
	return append(b, '}')
}

func appendUsage(b []byte, u *llm.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	if p := u.PromptTokensDetails; p != nil {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(p.CachedTokens), 10)
		if p.CacheCreationTokens != 0 {
			b = append(b, `,"cache_creation_tokens":`...)
			b = strconv.AppendInt(b, int64(p.CacheCreationTokens), 10)
		}
		if p.AudioTokens != 0 {
			b = append(b, `,"audio_tokens":`...)
			b = strconv.AppendInt(b, int64(p.AudioTokens), 10)
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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does without HTML
// escaping: \" \\ \b \f \n \r \t, other control bytes as \u00XX, invalid
// UTF-8 as \ufffd, and U+2028/U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
