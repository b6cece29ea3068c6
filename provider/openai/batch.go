package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// This file is the OpenAI Batch API client: upload a JSONL input file
// (POST /files, purpose "batch"), create a batch over it (POST /batches,
// endpoint /v1/chat/completions, completion_window 24h), poll it
// (GET /batches/{id}) and, once it is terminal, download its output and
// error files (GET /files/{id}/content).

// batchLine is one line of a batch input file.
type batchLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// batchObject is the part of the batch object the client reads.
type batchObject struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	OutputFileID *string `json:"output_file_id"`
	ErrorFileID  *string `json:"error_file_id"`
}

// batchResultLine is one line of an output or error file.
type batchResultLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// SubmitBatch uploads items as one input file and creates a batch over it,
// returning the provider's batch id. Each item's body is what Complete
// would send. Nothing is created upstream when an item cannot be encoded.
func (c *Client) SubmitBatch(ctx context.Context, items []llm.BatchItem) (string, error) {
	var file bytes.Buffer
	for _, it := range items {
		r2 := *it.Request
		r2.Stream = false
		r2.StreamOptions = nil
		body, err := r2.MarshalJSON()
		if err != nil {
			return "", &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot encode request", Err: err}
		}
		line, _ := json.Marshal(batchLine{CustomID: it.ID, Method: "POST", URL: "/v1/chat/completions", Body: body})
		file.Write(line)
		file.WriteByte('\n')
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "llmrouter_batch.jsonl")
	_, _ = fw.Write(file.Bytes())
	_ = mw.Close()
	ct := mw.FormDataContentType()
	reply, err := c.t.Do(ctx, "/files", func(h *fasthttp.RequestHeader) {
		c.setHeaders(h)
		h.SetContentType(ct)
	}, form.Bytes())
	if err != nil {
		return "", err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return "", c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var f struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(reply.Body, &f); err != nil || f.ID == "" {
		return "", c.malformed(reply.Status, "file upload", err)
	}
	create, _ := json.Marshal(map[string]string{"input_file_id": f.ID, "endpoint": "/v1/chat/completions", "completion_window": "24h"})
	reply, err = c.t.Do(ctx, "/batches", c.setHeaders, create)
	if err != nil {
		return "", err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return "", c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var b batchObject
	if err := json.Unmarshal(reply.Body, &b); err != nil || b.ID == "" {
		return "", c.malformed(reply.Status, "batch create", err)
	}
	return b.ID, nil
}

// PollBatch reads batch id. While it runs the status is not Done. Once it
// is completed, expired, cancelled or failed, the output file's lines are
// answers, the error file's lines are per-item errors, and an error line
// with code batch_expired (or, for an expired batch, any item without a
// line) is Expired.
func (c *Client) PollBatch(ctx context.Context, id string) (*llm.BatchStatus, error) {
	reply, err := c.t.Do(ctx, "/batches/"+url.PathEscape(id), c.setHeaders, nil)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var b batchObject
	if err := json.Unmarshal(reply.Body, &b); err != nil {
		return nil, c.malformed(reply.Status, "batch", err)
	}
	switch b.Status {
	case "completed", "expired", "cancelled", "failed":
	default:
		return &llm.BatchStatus{}, nil
	}
	st := &llm.BatchStatus{Done: true}
	for _, fid := range []*string{b.OutputFileID, b.ErrorFileID} {
		if fid == nil || *fid == "" {
			continue
		}
		if err := c.readResults(ctx, *fid, st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readResults appends the results of file fid to st.
func (c *Client) readResults(ctx context.Context, fid string, st *llm.BatchStatus) error {
	reply, err := c.t.Do(ctx, "/files/"+url.PathEscape(fid)+"/content", c.setHeaders, nil)
	if err != nil {
		return err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return c.statusError(reply.Status, reply.Header, reply.Body)
	}
	for _, raw := range bytes.Split(reply.Body, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var l batchResultLine
		if err := json.Unmarshal(raw, &l); err != nil || l.CustomID == "" {
			return c.malformed(reply.Status, "batch result line", err)
		}
		st.Results = append(st.Results, c.result(&l))
	}
	return nil
}

// result translates one output or error line.
func (c *Client) result(l *batchResultLine) llm.BatchResult {
	r := llm.BatchResult{ID: l.CustomID}
	switch {
	case l.Error != nil && l.Error.Code == "batch_expired":
		r.Expired = true
	case l.Error != nil:
		r.Err = &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Code: l.Error.Code, Message: strings.ToLower(l.Error.Message)}
	case l.Response == nil:
		r.Err = &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "batch result line without a response"}
	case l.Response.StatusCode < 200 || l.Response.StatusCode > 299:
		r.Err = c.statusError(l.Response.StatusCode, nil, l.Response.Body)
	default:
		var resp llm.Response
		if err := json.Unmarshal(l.Response.Body, &resp); err != nil {
			r.Err = &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "malformed upstream response", Err: err}
		} else {
			r.Response = &resp
		}
	}
	return r
}

func (c *Client) malformed(status int, what string, err error) *llm.Error {
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: status,
		Message: fmt.Sprintf("malformed upstream %s", what), Err: err}
}
