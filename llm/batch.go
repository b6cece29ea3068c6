package llm

// BatchItem is one request of an asynchronous provider batch (OpenAI Batch
// API, Anthropic Message Batches). ID is the caller's key for the item,
// unique within the batch, at most 64 characters of [A-Za-z0-9_-];
// Request.Model is already the upstream model.
type BatchItem struct {
	ID      string
	Request *Request
}

// BatchResult is the outcome of one item of a finished provider batch:
// exactly one of Response (answered), Err (the provider failed this item)
// or Expired (the provider's window closed before it ran) is set.
type BatchResult struct {
	ID       string
	Response *Response
	Err      *Error
	Expired  bool
}

// BatchStatus is a provider batch as polled. Results is set only when Done;
// an item missing from Results got no outcome at all.
type BatchStatus struct {
	Done    bool
	Results []BatchResult
}
