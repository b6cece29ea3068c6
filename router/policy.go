package router

import (
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"

	"llmrouter/llm"
)

// errClass is the policy row an attempt's error falls into. The rows, and
// what failover does for each (README "Failover policy"):
//
//	classNotSent      connection refused, dial or write failure: the request
//	                  never reached the provider. Retry the same target up
//	                  to ConnectAttempts (default: once more), then fail over.
//	classSilent       attempt timeout, no first token in time, stream
//	                  stalled, connection lost after the request was sent:
//	                  the provider may be working (and billing). Fail over at
//	                  once; never retried on the same target in the request.
//	classServerError  5xx (not 503/529 with Retry-After) before any byte:
//	                  unbilled. Retry with jittered exponential backoff up to
//	                  MaxAttemptsPerTarget, then fail over.
//	classRetryAfter   429, or 503/529 with Retry-After: unbilled. When the
//	                  wait fits MaxRetryAfterWait and the remaining budget,
//	                  wait and retry the same target (once per request);
//	                  otherwise set it aside for the wait and fail over.
//	classRejected     401/403/404 from the provider (our key or configured
//	                  model is wrong): fail over at once.
//	classContextLength  fail over to a target with a larger ContextWindow.
//	classLocal        local overload (pool full): fail over, not counted.
//	classCanceled     the provider gave up on its own: fail over, not counted.
//	classClient       the client's fault: returned as is, never retried.
type errClass uint8

const (
	classClient errClass = iota
	classNotSent
	classSilent
	classServerError
	classRetryAfter
	classRejected
	classContextLength
	classLocal
	classCanceled
	classInternal
)

var classNames = [...]string{"client", "not_sent", "silent", "server_error", "retry_after", "rejected",
	"context_length", "local_overload", "canceled", "internal"}

func (c errClass) String() string { return classNames[c] }

// classify returns e's policy row. timedOut says the attempt's own
// deadline (not the request's) ended it.
func classify(e *llm.Error, timedOut bool) errClass {
	if timedOut {
		return classSilent
	}
	switch e.Kind {
	case llm.KindTimeout:
		return classSilent
	case llm.KindUpstreamRateLimited:
		return classRetryAfter
	case llm.KindOverloaded, llm.KindNoHealthyProvider:
		return classLocal
	case llm.KindCanceled:
		return classCanceled
	case llm.KindInternal:
		return classInternal
	case llm.KindUpstreamError:
		switch s := e.Status; {
		case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusNotFound:
			return classRejected
		case (s == http.StatusServiceUnavailable || s == 529) && e.RetryAfter > 0:
			return classRetryAfter
		case s >= 500:
			return classServerError
		case s == 0 && notSent(e):
			return classNotSent
		case s == 0:
			// A transport failure after the request may have been sent
			// (reset, closed before the first byte, cut stream): the
			// provider may have started work.
			return classSilent
		}
		return classServerError
	}
	if e.IsContextLength() {
		return classContextLength
	}
	return classClient
}

// notSent reports whether err says the request never reached the
// provider: the dial failed (refused, unreachable, DNS) or writing the
// request failed on a fresh or reused connection.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "write") {
		return true
	}
	var sc *os.SyscallError
	if errors.As(err, &sc) && sc.Syscall == "connect" {
		return true
	}
	return false
}

// breakerFor is what an attempt's class tells the target's breaker.
func breakerFor(c errClass, e error) error {
	switch c {
	case classNotSent, classSilent, classServerError, classRejected:
		return e
	case classRetryAfter, classLocal, classCanceled, classInternal:
		return errNotCounted
	}
	return nil // the client's fault, or context length: the target is healthy
}
