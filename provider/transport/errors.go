package transport

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"llmrouter/llm"
)

// MaxRetryAfter caps the Retry-After an upstream can ask for.
const MaxRetryAfter = 60 * time.Second

// StatusError maps a non-2xx upstream response to an *llm.Error. msg,
// errType, code and param are the fields of the upstream's error body ("" when
// absent); h supplies Retry-After. The mapping, shared by every protocol:
//
//	400/409/413/422 -> KindInvalidRequest, upstream message, param and code passed
//	                   through; Code context_length_exceeded when the upstream says
//	                   the prompt is too long, content_filter for policy rejections
//	401/403         -> KindUpstreamError (our provider key is wrong), Status kept
//	404             -> KindUpstreamError, Status 404 (configured model missing)
//	429             -> KindUpstreamRateLimited, RetryAfter from the headers (<= 60 s)
//	5xx, 529, other -> KindUpstreamError, Status kept; 503 and 529 also
//	                   carry RetryAfter from the headers when sent
func StatusError(provider string, status int, h http.Header, msg, errType, code, param string) *llm.Error {
	e := &llm.Error{Provider: provider, Status: status, Code: code, Param: param}
	switch status {
	case 400, 409, 413, 422:
		e.Kind = llm.KindInvalidRequest
		e.Message = msg
		if e.Message == "" {
			e.Message = "upstream rejected the request (" + strconv.Itoa(status) + ")"
		}
		switch {
		case isContextLength(msg, errType, code):
			e.Code = llm.CodeContextLengthExceeded
		case isContentFilter(msg, errType, code):
			e.Code = llm.CodeContentFilter
		}
	case 401, 403:
		e.Kind = llm.KindUpstreamError
		e.Message = "upstream rejected our credentials (" + strconv.Itoa(status) + ")"
		e.Param = ""
		e.Err = upstreamMsg(msg)
	case 404:
		e.Kind = llm.KindUpstreamError
		e.Message = "upstream model or endpoint not found"
		e.Param = ""
		e.Err = upstreamMsg(msg)
	case 429:
		e.Kind = llm.KindUpstreamRateLimited
		e.Message = "upstream rate limited"
		if e.Code == "" {
			e.Code = llm.CodeRateLimitExceeded
		}
		e.RetryAfter = RetryAfter(h, time.Now())
		e.Err = upstreamMsg(msg)
	default:
		e.Kind = llm.KindUpstreamError
		e.Message = "upstream error (" + strconv.Itoa(status) + ")"
		e.Err = upstreamMsg(msg)
		if status == 503 || status == 529 {
			e.RetryAfter = RetryAfter(h, time.Now())
		}
	}
	return e
}

type upstreamMsgError string

func (e upstreamMsgError) Error() string { return "upstream said: " + string(e) }

func upstreamMsg(msg string) error {
	if msg == "" {
		return nil
	}
	return upstreamMsgError(msg)
}

func isContextLength(msg, errType, code string) bool {
	if code == llm.CodeContextLengthExceeded || errType == llm.CodeContextLengthExceeded ||
		code == "string_above_max_length" {
		return true
	}
	m := strings.ToLower(msg)
	for _, s := range []string{"maximum context length", "context length", "context window",
		"prompt is too long", "input is too long", "too many tokens", "reduce the length"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func isContentFilter(msg, errType, code string) bool {
	switch code {
	case llm.CodeContentFilter, "content_policy_violation", "ResponsibleAIPolicyViolation":
		return true
	}
	if errType == "content_policy_violation" {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "content management policy") || strings.Contains(m, "content policy") ||
		strings.Contains(m, "safety system")
}

// RetryAfter reads retry-after-ms (milliseconds) or else Retry-After
// (seconds or an HTTP date, relative to now) from h. It returns 0 when
// absent or unparsable, never less than 0, never more than MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			d = time.Duration(min(ms, float64(MaxRetryAfter/time.Millisecond)) * float64(time.Millisecond))
		}
	} else if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				d = time.Duration(min(s, MaxRetryAfter.Seconds()) * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	return max(0, min(d, MaxRetryAfter))
}
