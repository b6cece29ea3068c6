package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"

	"llmrouter/llm"
)

// This file is the Message Batches client: POST /v1/messages/batches with
// one {custom_id, params} per item (params is the body Complete would
// send), GET /v1/messages/batches/{id} until processing_status is "ended",
// then GET /v1/messages/batches/{id}/results (the batch's results_url),
// JSONL with one {custom_id, result} per item.

const batchesPath = "/v1/messages/batches"

type batchRequest struct {
	CustomID string      `json:"custom_id"`
	Params   *msgRequest `json:"params"`
}

type messageBatch struct {
	ID               string `json:"id"`
	Type             string `json:"type"`
	ProcessingStatus string `json:"processing_status"`
	ResultsURL       string `json:"results_url"`
}

type batchResultLine struct {
	CustomID string `json:"custom_id"`
	Result   struct {
		Type    string       `json:"type"` // succeeded, errored, canceled, expired
		Message *msgResponse `json:"message"`
		Error   *errorBody   `json:"error"`
	} `json:"result"`
}

// errorStatus is the HTTP status Anthropic answers each error type with,
// so a per-item error maps like a live one.
var errorStatus = map[string]int{
	"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
	"permission_error": 403, "not_found_error": 404, "request_too_large": 413,
	"rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529,
}

// SubmitBatch creates one Message Batch of items and returns its id.
// Nothing is created upstream when an item cannot be translated.
func (c *Client) SubmitBatch(ctx context.Context, items []llm.BatchItem) (string, error) {
	reqs := make([]batchRequest, 0, len(items))
	for _, it := range items {
		mr, _, err := buildRequest(it.Request, c.maxTokens)
		if err != nil {
			return "", err
		}
		mr.Stream = false
		reqs = append(reqs, batchRequest{CustomID: it.ID, Params: mr})
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return "", &llm.Error{Kind: llm.KindInternal, Message: "encode anthropic batch", Err: err}
	}
	reply, err := c.http.Do(ctx, batchesPath, c.header, body)
	if err != nil {
		return "", err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return "", errorFromReply(c.name, reply.Status, reply.Header, reply.Body)
	}
	var b messageBatch
	if err := json.Unmarshal(reply.Body, &b); err != nil || b.ID == "" {
		return "", &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: "malformed anthropic message batch", Err: err}
	}
	return b.ID, nil
}

// PollBatch reads batch id; once its processing_status is "ended" it
// downloads the results: succeeded items are answers (translated like
// Complete's), errored and canceled items are errors, expired items are
// Expired.
func (c *Client) PollBatch(ctx context.Context, id string) (*llm.BatchStatus, error) {
	path := batchesPath + "/" + url.PathEscape(id)
	reply, err := c.http.Do(ctx, path, c.header, nil)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, errorFromReply(c.name, reply.Status, reply.Header, reply.Body)
	}
	var b messageBatch
	if err := json.Unmarshal(reply.Body, &b); err != nil {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: "malformed anthropic message batch", Err: err}
	}
	if b.ProcessingStatus != "ended" {
		return &llm.BatchStatus{}, nil
	}
	reply, err = c.http.Do(ctx, path+"/results", c.header, nil)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, errorFromReply(c.name, reply.Status, reply.Header, reply.Body)
	}
	st := &llm.BatchStatus{Done: true}
	created := c.now().Unix()
	for _, raw := range bytes.Split(reply.Body, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var l batchResultLine
		if err := json.Unmarshal(raw, &l); err != nil || l.CustomID == "" {
			return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "malformed anthropic batch result", Err: err}
		}
		r := llm.BatchResult{ID: l.CustomID}
		switch l.Result.Type {
		case "succeeded":
			if l.Result.Message == nil {
				r.Err = &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "succeeded batch result without a message"}
			} else {
				r.Response = toResponse(l.Result.Message, "", created)
			}
		case "expired":
			r.Expired = true
		case "canceled":
			r.Err = &llm.Error{Kind: llm.KindCanceled, Provider: c.name, Message: "the provider batch was canceled before this request ran"}
		default:
			r.Err = &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "anthropic batch request errored"}
			if e := l.Result.Error; e != nil && e.Error.Message != "" {
				status, ok := errorStatus[e.Error.Type]
				if !ok {
					status = 500
				}
				r.Err = statusError(c.name, status, nil, e.Error.Message, e.Error.Type, e.RequestID)
			}
		}
		st.Results = append(st.Results, r)
	}
	return st, nil
}
