package llm

import "context"

// Completer answers chat completion requests. Provider clients, the router,
// the cache and the coalescer all implement it and wrap one another.
//
// Implementations must be safe for concurrent use. They must not keep req, or
// anything reachable from it, after the call returns (Stream: after the
// returned Stream is closed), and must not modify req except through
// req.Meta's setters and copies they own.
type Completer interface {
	// Complete returns one whole answer. Errors should be *Error.
	Complete(ctx context.Context, req *Request) (*Response, error)
	// Stream starts a streamed answer. Implementations read the first
	// upstream event before returning, so a failure before any byte could
	// reach the client is returned here as an error (and may be failed over)
	// rather than from the first Recv. ctx bounds the whole stream.
	Stream(ctx context.Context, req *Request) (Stream, error)
}

// Stream is a pull-based sequence of chunks, like sql.Rows.
//
// Recv returns the next chunk, or io.EOF after the last one. Any other error
// ends the stream: the answer is incomplete and must never be presented as a
// clean finish. Recv must not be called concurrently with itself.
//
// Close releases the upstream connection. It is idempotent, safe to call
// from another goroutine while Recv blocks, and makes a blocked Recv return.
// A stream closed before io.EOF must not return its connection to a pool in a
// half-read state.
type Stream interface {
	Recv() (*Chunk, error)
	Close() error
}

// Embedder is the optional capability of answering embeddings requests,
// found by type assertion on a Completer.
type Embedder interface {
	Embed(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// ModelLister is the optional capability of listing the public model names a
// Completer accepts (aliases plus "auto"), found by type assertion.
type ModelLister interface {
	Models() []string
}
