package llm

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Kind is the closed set of error classes. The proxy maps each kind to an
// HTTP status and OpenAI error type from one table; nothing else decides
// statuses.
type Kind uint8

const (
	KindInternal            Kind = iota // a bug or unexpected state: 500
	KindInvalidRequest                  // the client's request is wrong: 400 (or the upstream's 4xx)
	KindUnauthenticated                 // missing or bad client key: 401
	KindForbidden                       // key valid, action not allowed: 403
	KindUnknownModel                    // no such model or alias: 404
	KindPayloadTooLarge                 // body over the limit: 413
	KindRateLimited                     // this proxy's own limit for the tenant: 429
	KindUpstreamRateLimited             // a provider said 429 and no target was left: 429
	KindUpstreamError                   // a provider failed (5xx, 529, bad reply, our key rejected): 502
	KindNoHealthyProvider               // every target is open or set aside: 503
	KindOverloaded                      // local overload (concurrency bound, pool full): 503
	KindTimeout                         // the request's deadline passed: 504
	KindCanceled                        // the client went away: 499
)

var kindNames = [...]string{
	KindInternal:            "internal",
	KindInvalidRequest:      "invalid_request",
	KindUnauthenticated:     "unauthenticated",
	KindForbidden:           "forbidden",
	KindUnknownModel:        "unknown_model",
	KindPayloadTooLarge:     "payload_too_large",
	KindRateLimited:         "rate_limited",
	KindUpstreamRateLimited: "upstream_rate_limited",
	KindUpstreamError:       "upstream_error",
	KindNoHealthyProvider:   "no_healthy_provider",
	KindOverloaded:          "overloaded",
	KindTimeout:             "timeout",
	KindCanceled:            "canceled",
}

// Kinds lists every kind, for tables and tests.
func Kinds() []Kind {
	ks := make([]Kind, len(kindNames))
	for i := range kindNames {
		ks[i] = Kind(i)
	}
	return ks
}

// String returns the kind's snake_case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Well-known OpenAI error codes carried in Error.Code.
const (
	CodeModelNotFound         = "model_not_found"
	CodeInvalidAPIKey         = "invalid_api_key"
	CodeContextLengthExceeded = "context_length_exceeded"
	CodeContentFilter         = "content_filter"
	CodeRateLimitExceeded     = "rate_limit_exceeded"
)

// Error is the one error type of llmrouter. It implements error and Unwrap;
// retry behaviour is asked through Retryable and SafeToRetry, never by
// matching text.
type Error struct {
	Kind    Kind
	Message string // lowercase, client-safe; never contains secrets
	Param   string // the request field at fault, if any
	Code    string // OpenAI-style code (CodeModelNotFound, ...), if any

	Provider   string        // provider name, for upstream errors
	Status     int           // upstream HTTP status, 0 when none was received
	RetryAfter time.Duration // upstream Retry-After, 0 when absent
	// Sent reports that some of the answer already reached the client (a
	// stream was cut after its first content), so a retry would duplicate it.
	Sent bool
	Err  error // the cause, for logs; may be nil
}

// NewError returns an *Error of kind k with message msg.
func NewError(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

// Error returns "kind: message: cause", with secrets redacted.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Provider != "" {
		b.WriteString(" from ")
		b.WriteString(e.Provider)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return Redact(b.String())
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether another attempt (on this target or another) may
// succeed: upstream 5xx/529, upstream 429, transport failures, timeouts of a
// single attempt, local pool exhaustion. Client-caused errors are not.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindUpstreamError, KindUpstreamRateLimited, KindTimeout, KindOverloaded, KindNoHealthyProvider:
		return true
	}
	return false
}

// SafeToRetry reports whether retrying cannot duplicate output the client
// already has: the error is retryable and nothing was sent.
func (e *Error) SafeToRetry() bool { return e.Retryable() && !e.Sent }

// IsContextLength reports an upstream "prompt too long for this model".
func (e *Error) IsContextLength() bool { return e.Code == CodeContextLengthExceeded }

// AsError returns err as an *Error: itself if it is one (or wraps one), a
// KindCanceled or KindTimeout for context errors, else KindInternal.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindCanceled, Message: "request canceled", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Message: "request deadline exceeded", Err: err}
	}
	return &Error{Kind: KindInternal, Message: "internal error", Err: err}
}

// minPatternKey is the least number of key bytes after "sk-" or "Bearer "
// for the pattern layer to mask them: shorter runs ("sk-" alone, "Bearer
// <key>" in a hint) are prose, not keys.
const minPatternKey = 8

// Redact is the pattern layer of redaction: it masks what looks like an API
// key (sk-... and bearer tokens of at least 8 key characters) in text that
// came from elsewhere (an upstream's error message). It never touches prose
// such as "send it as 'Authorization: Bearer <key>'". Exact configured
// secrets are the Redactor's job; this layer only catches unknown keys.
func Redact(s string) string {
	if !strings.Contains(s, "sk-") && !strings.Contains(s, "Bearer ") && !strings.Contains(s, "bearer ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		prefix := 0
		switch {
		case strings.HasPrefix(s[i:], "sk-"):
			prefix = 3
		case strings.HasPrefix(s[i:], "Bearer ") || strings.HasPrefix(s[i:], "bearer "):
			prefix = 7
		}
		if prefix == 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + prefix
		for j < len(s) && isKeyByte(s[j]) {
			j++
		}
		if j-(i+prefix) < minPatternKey {
			b.WriteString(s[i:j])
		} else {
			b.WriteString(s[i : i+prefix])
			b.WriteString("***")
		}
		i = j
	}
	return b.String()
}

func isKeyByte(c byte) bool {
	return c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
