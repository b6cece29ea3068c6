package embeddings

import (
	"context"
	"errors"

	"llmrouter/llm"
)

// ctxError maps a context error to *llm.Error (KindTimeout or KindCanceled).
func ctxError(err error) *llm.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &llm.Error{Kind: llm.KindTimeout, Message: "embedding deadline exceeded", Err: err}
	}
	return &llm.Error{Kind: llm.KindCanceled, Message: "embedding canceled", Err: err}
}
