package llm

import (
	"fmt"
	"runtime/debug"
)

// PanicError is the cause of an *Error made from a recovered panic: the
// panic value and the stack of the goroutine that panicked. Its text is for
// logs only; clients see "internal error".
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns "panic: <value>".
func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Recovered turns the value of recover() into a KindInternal *Error whose
// Err is a *PanicError carrying v and the current stack. Call it from the
// deferred function that recovered, so the stack is the panicking one.
func Recovered(v any) *Error {
	return &Error{Kind: KindInternal, Message: "internal error", Err: &PanicError{Value: v, Stack: debug.Stack()}}
}
