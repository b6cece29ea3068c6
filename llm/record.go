package llm

import "time"

// RequestRecord is one row of the request log: what happened to one request
// and why. The proxy fills it when the request ends, from the request, its
// Meta and the answer. It holds no prompt text unless the key opted in
// (Prompt, already cut and redacted).
type RequestRecord struct {
	Time      time.Time `json:"time"` // when the request arrived
	RequestID string    `json:"request_id"`
	TraceID   string    `json:"trace_id,omitempty"`
	Tenant    string    `json:"tenant"`
	// KeyID names the client key without revealing it: the first 12 hex
	// digits of its SHA-256 digest ("" when auth is off).
	KeyID string `json:"key_id,omitempty"`
	// API is the wire API the client spoke: "chat", "completions",
	// "embeddings", ...
	API           string    `json:"api"`
	Model         string    `json:"model"` // as requested
	Stream        bool      `json:"stream"`
	Tier          string    `json:"tier,omitempty"`
	Score         float64   `json:"score"`
	Reasons       []string  `json:"reasons,omitempty"`
	Cache         string    `json:"cache,omitempty"`
	Similarity    float64   `json:"similarity,omitempty"`
	Attempts      []Attempt `json:"attempts,omitempty"`
	Provider      string    `json:"provider,omitempty"`
	UpstreamModel string    `json:"upstream_model,omitempty"`
	InputTokens   int       `json:"input_tokens"`
	OutputTokens  int       `json:"output_tokens"`
	CostUSD       float64   `json:"cost_usd"`
	BaselineUSD   float64   `json:"baseline_cost_usd"`
	SavedUSD      float64   `json:"saved_usd"`
	Status        int       `json:"status"`
	ErrorKind     string    `json:"error_kind,omitempty"`
	TTFTMillis    float64   `json:"ttft_ms,omitempty"`
	LatencyMillis float64   `json:"latency_ms"`
	Prompt        string    `json:"prompt,omitempty"`
}
