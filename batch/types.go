// Package batch serves OpenAI-shaped batch jobs: POST /v1/files,
// POST /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel and
// GET /v1/files/{id}/content. A Service keeps files, jobs and per-line
// results in a Store (Postgres, or memory without a database) and runs each
// job's lines through the same canonical path as live requests (classifier,
// cache, coalescer, router, usage), so every line is routed to the cheapest
// adequate tier and cache hits are answered at once. A background worker
// owned by the Service picks up jobs (also those left running by a previous
// process) and writes the output file, in input order, each line with its
// custom_id.
package batch

import (
	"encoding/json"
	"errors"
)

// Batch statuses, as the OpenAI Batch API names them.
const (
	StatusValidating = "validating"
	StatusFailed     = "failed"
	StatusInProgress = "in_progress"
	StatusFinalizing = "finalizing"
	StatusCompleted  = "completed"
	StatusExpired    = "expired"
	StatusCancelling = "cancelling"
	StatusCancelled  = "cancelled"
)

// Purposes of files.
const (
	PurposeBatch       = "batch"
	PurposeBatchOutput = "batch_output"
)

// EndpointChat is the only endpoint a batch may target.
const EndpointChat = "/v1/chat/completions"

// ErrNotFound is returned by a Store for a missing file or job (or one of
// another tenant).
var ErrNotFound = errors.New("batch: not found")

// File is the OpenAI file object. Tenant is never serialised.
type File struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int    `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
	Tenant    string `json:"-"`
}

// RequestCounts is the batch object's request_counts.
type RequestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

// JobError is one entry of a batch's errors list (a line that failed
// validation).
type JobError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
	Line    *int    `json:"line"`
}

// JobErrors is the batch object's errors field.
type JobErrors struct {
	Object string     `json:"object"`
	Data   []JobError `json:"data"`
}

// Job is the OpenAI batch object. Tenant is never serialised to clients;
// stores keep it beside the object.
type Job struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Endpoint         string            `json:"endpoint"`
	Errors           *JobErrors        `json:"errors"`
	InputFileID      string            `json:"input_file_id"`
	CompletionWindow string            `json:"completion_window"`
	Status           string            `json:"status"`
	OutputFileID     *string           `json:"output_file_id"`
	ErrorFileID      *string           `json:"error_file_id"`
	CreatedAt        int64             `json:"created_at"`
	InProgressAt     *int64            `json:"in_progress_at"`
	ExpiresAt        *int64            `json:"expires_at"`
	FinalizingAt     *int64            `json:"finalizing_at"`
	CompletedAt      *int64            `json:"completed_at"`
	FailedAt         *int64            `json:"failed_at"`
	ExpiredAt        *int64            `json:"expired_at"`
	CancellingAt     *int64            `json:"cancelling_at"`
	CancelledAt      *int64            `json:"cancelled_at"`
	RequestCounts    RequestCounts     `json:"request_counts"`
	Metadata         map[string]string `json:"metadata"`
	Tenant           string            `json:"-"`
}

// active reports a job the worker still has to run.
func (j *Job) active() bool {
	switch j.Status {
	case StatusValidating, StatusInProgress, StatusFinalizing, StatusCancelling:
		return true
	}
	return false
}

// inputLine is one line of an input file.
type inputLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// LineResult is one line of an output file.
type LineResult struct {
	ID       string        `json:"id"`
	CustomID string        `json:"custom_id"`
	Response *LineResponse `json:"response"`
	Error    *LineError    `json:"error"`
}

// LineResponse is the answer to one line: status_code 200 with a chat
// completion body, or an error status with an OpenAI error body.
type LineResponse struct {
	StatusCode int             `json:"status_code"`
	RequestID  string          `json:"request_id"`
	Body       json.RawMessage `json:"body"`
}

// LineError is a line that got no response at all (cancelled, expired).
type LineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
