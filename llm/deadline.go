package llm

import (
	"context"
	"time"
)

type headerDeadlineKey struct{}

// WithHeaderDeadline returns a child of ctx that carries t: a provider
// must stop waiting for a call's response headers at t, even though ctx
// itself may live longer (a stream's body outlives its first-token
// deadline). The router uses it for Target first-token timeouts, because
// an HTTP client blocked on headers does not notice ctx being cancelled.
func WithHeaderDeadline(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, headerDeadlineKey{}, t)
}

// HeaderDeadline returns the deadline set by WithHeaderDeadline, if any.
func HeaderDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(headerDeadlineKey{}).(time.Time)
	return t, ok
}
