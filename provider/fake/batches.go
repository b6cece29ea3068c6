package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// BatchOptions says how a fake provider batch ends. The zero value answers
// every item as soon as the batch is created.
type BatchOptions struct {
	// Delay is how long a batch stays in progress after its creation.
	Delay time.Duration
	// FailEvery makes every FailEvery-th item of a batch (1-based) fail
	// with a server error; 0 fails none.
	FailEvery int
	// Expire makes each batch expire: its first half of items is answered,
	// the rest expired.
	Expire bool
}

// fakeBatch is one created batch with its outcomes, decided at creation.
type fakeBatch struct {
	id      string
	created time.Time
	items   []fakeItem
}

// fakeItem is one item's outcome: status 200 with body, an error status
// with an error body, or expired.
type fakeItem struct {
	customID string
	status   int
	body     []byte
	expired  bool
}

// batchBook is the state both batch fakes share.
type batchBook struct {
	o       BatchOptions
	inner   fasthttp.RequestHandler
	mu      sync.Mutex
	seq     int
	files   map[string][]byte
	batches map[string]*fakeBatch
	items   int
}

func (b *batchBook) nextID(prefix string) string {
	b.seq++
	return fmt.Sprintf("%s%06d", prefix, b.seq)
}

// Batches returns the number of batches created.
func (b *batchBook) Batches() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.batches)
}

// Items returns the number of items submitted in all batches.
func (b *batchBook) Items() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.items
}

// answer runs one item body through the live fake handler.
func (b *batchBook) answer(orig *fasthttp.RequestCtx, path string, body []byte) (int, []byte) {
	var req fasthttp.Request
	orig.Request.Header.CopyTo(&req.Header)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetRequestURI(path)
	req.SetBody(body)
	var rc fasthttp.RequestCtx
	rc.Init(&req, nil, nil)
	b.inner(&rc)
	return rc.Response.StatusCode(), append([]byte(nil), rc.Response.Body()...)
}

// outcome decides item i (0-based) of n: the live answer, a failure or an
// expiry.
func (b *batchBook) outcome(i, n int, live func() (int, []byte)) fakeItem {
	switch {
	case b.o.Expire && i >= n/2:
		return fakeItem{expired: true}
	case b.o.FailEvery > 0 && (i+1)%b.o.FailEvery == 0:
		return fakeItem{status: 500}
	}
	st, body := live()
	return fakeItem{status: st, body: body}
}

func (b *batchBook) create(items []fakeItem) *fakeBatch {
	fb := &fakeBatch{created: time.Now(), items: items}
	return fb
}

func (fb *fakeBatch) ended(d time.Duration) bool { return time.Since(fb.created) >= d }

// OpenAIBatches is a fake OpenAI Batch API (POST /v1/files, POST
// /v1/batches, GET /v1/batches/{id}, GET /v1/files/{id}/content) in front of
// the OpenAI fake, which answers each item as a live call would. Output
// files hold the 200 lines, error files the failed and expired ones, in
// OpenAI's shapes. Safe for concurrent use.
type OpenAIBatches struct{ batchBook }

// NewOpenAIBatches returns the fake over OpenAI(o).
func NewOpenAIBatches(o OpenAIOptions, b BatchOptions) *OpenAIBatches {
	return &OpenAIBatches{batchBook{o: b, inner: OpenAI(o), files: map[string][]byte{}, batches: map[string]*fakeBatch{}}}
}

// Handler serves the batch routes and passes every other path to the
// OpenAI fake.
func (f *OpenAIBatches) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch {
		case path == "/v1/files" && ctx.IsPost():
			f.upload(ctx)
		case path == "/v1/batches" && ctx.IsPost():
			f.createBatch(ctx)
		case strings.HasPrefix(path, "/v1/batches/") && ctx.IsGet():
			f.retrieve(ctx, strings.TrimPrefix(path, "/v1/batches/"))
		case strings.HasPrefix(path, "/v1/files/") && strings.HasSuffix(path, "/content") && ctx.IsGet():
			f.content(ctx, strings.TrimSuffix(strings.TrimPrefix(path, "/v1/files/"), "/content"))
		default:
			f.inner(ctx)
		}
	}
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, _ := json.Marshal(v)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (f *OpenAIBatches) upload(ctx *fasthttp.RequestCtx) {
	form, err := ctx.MultipartForm()
	if err != nil || len(form.File["file"]) != 1 || len(form.Value["purpose"]) != 1 || form.Value["purpose"][0] != "batch" {
		OpenAIError(ctx, 400, "invalid_request_error", "", "file", "a multipart form with purpose=batch and one file is required")
		return
	}
	fh, err := form.File["file"][0].Open()
	if err != nil {
		OpenAIError(ctx, 400, "invalid_request_error", "", "file", "unreadable file")
		return
	}
	content, _ := io.ReadAll(fh)
	_ = fh.Close()
	f.mu.Lock()
	id := f.nextID("file-fake")
	f.files[id] = content
	f.mu.Unlock()
	writeJSON(ctx, map[string]any{"id": id, "object": "file", "bytes": len(content), "created_at": time.Now().Unix(),
		"filename": form.File["file"][0].Filename, "purpose": "batch", "status": "processed"})
}

func (f *OpenAIBatches) createBatch(ctx *fasthttp.RequestCtx) {
	var p struct {
		InputFileID      string `json:"input_file_id"`
		Endpoint         string `json:"endpoint"`
		CompletionWindow string `json:"completion_window"`
	}
	if json.Unmarshal(ctx.PostBody(), &p) != nil || p.Endpoint != "/v1/chat/completions" || p.CompletionWindow != "24h" {
		OpenAIError(ctx, 400, "invalid_request_error", "", "", "input_file_id, endpoint /v1/chat/completions and completion_window 24h are required")
		return
	}
	f.mu.Lock()
	content, ok := f.files[p.InputFileID]
	f.mu.Unlock()
	if !ok {
		OpenAIError(ctx, 404, "invalid_request_error", "", "input_file_id", "no such file")
		return
	}
	var lines []struct {
		CustomID string          `json:"custom_id"`
		URL      string          `json:"url"`
		Body     json.RawMessage `json:"body"`
	}
	for _, raw := range bytes.Split(bytes.TrimSpace(content), []byte("\n")) {
		var l struct {
			CustomID string          `json:"custom_id"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if json.Unmarshal(raw, &l) != nil || l.CustomID == "" {
			OpenAIError(ctx, 400, "invalid_request_error", "invalid_json_line", "", "the input file has an invalid line")
			return
		}
		lines = append(lines, l)
	}
	items := make([]fakeItem, len(lines))
	for i, l := range lines {
		items[i] = f.outcome(i, len(lines), func() (int, []byte) { return f.answer(ctx, l.URL, l.Body) })
		items[i].customID = l.CustomID
	}
	f.mu.Lock()
	fb := f.create(items)
	fb.id = f.nextID("batch_fake")
	f.batches[fb.id] = fb
	f.items += len(items)
	obj := f.object(fb, p.InputFileID)
	f.mu.Unlock()
	writeJSON(ctx, obj)
}

// object is the batch object of fb, with output and error files once it
// ended.
func (f *OpenAIBatches) object(fb *fakeBatch, input string) map[string]any {
	obj := map[string]any{"id": fb.id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": input,
		"completion_window": "24h", "status": "in_progress", "created_at": fb.created.Unix(),
		"output_file_id": nil, "error_file_id": nil, "errors": nil,
		"request_counts": map[string]int{"total": len(fb.items), "completed": 0, "failed": 0}}
	if !fb.ended(f.o.Delay) {
		return obj
	}
	var out, errs bytes.Buffer
	completed, failed := 0, 0
	for i, it := range fb.items {
		line := map[string]any{"id": fmt.Sprintf("batch_req_%s_%d", fb.id, i), "custom_id": it.customID, "response": nil, "error": nil}
		switch {
		case it.expired:
			line["error"] = map[string]string{"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}
		case it.status == 500:
			line["response"] = map[string]any{"status_code": 500, "request_id": fmt.Sprintf("req_%d", i),
				"body": map[string]any{"error": map[string]any{"message": "The server had an error processing your request.", "type": "server_error", "param": nil, "code": nil}}}
		default:
			line["response"] = map[string]any{"status_code": it.status, "request_id": fmt.Sprintf("req_%d", i), "body": json.RawMessage(it.body)}
		}
		b, _ := json.Marshal(line)
		w := &errs
		if !it.expired && it.status == 200 {
			w = &out
			completed++
		} else {
			failed++
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	outID, errID := fb.id+"_output", fb.id+"_errors"
	f.files[outID], f.files[errID] = out.Bytes(), errs.Bytes()
	obj["status"] = "completed"
	if f.o.Expire {
		obj["status"] = "expired"
	}
	if out.Len() > 0 {
		obj["output_file_id"] = outID
	}
	if errs.Len() > 0 {
		obj["error_file_id"] = errID
	}
	obj["request_counts"] = map[string]int{"total": len(fb.items), "completed": completed, "failed": failed}
	return obj
}

func (f *OpenAIBatches) retrieve(ctx *fasthttp.RequestCtx, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fb, ok := f.batches[id]
	if !ok {
		OpenAIError(ctx, 404, "invalid_request_error", "", "", "No batch found with id '"+id+"'.")
		return
	}
	writeJSON(ctx, f.object(fb, ""))
}

func (f *OpenAIBatches) content(ctx *fasthttp.RequestCtx, id string) {
	f.mu.Lock()
	b, ok := f.files[id]
	f.mu.Unlock()
	if !ok {
		OpenAIError(ctx, 404, "invalid_request_error", "", "", "No such File object: "+id)
		return
	}
	ctx.SetContentType("application/jsonl")
	ctx.SetBody(b)
}

// AnthropicBatches is a fake Anthropic Message Batches API (POST
// /v1/messages/batches, GET /v1/messages/batches/{id}, GET
// /v1/messages/batches/{id}/results) in front of the Anthropic fake, which
// answers each item as a live call would. Safe for concurrent use.
type AnthropicBatches struct{ batchBook }

// NewAnthropicBatches returns the fake over Anthropic(o).
func NewAnthropicBatches(o AnthropicOptions, b BatchOptions) *AnthropicBatches {
	return &AnthropicBatches{batchBook{o: b, inner: Anthropic(o), files: map[string][]byte{}, batches: map[string]*fakeBatch{}}}
}

// Handler serves the batch routes and passes every other path to the
// Anthropic fake.
func (f *AnthropicBatches) Handler() fasthttp.RequestHandler {
	const prefix = "/v1/messages/batches"
	return func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch {
		case path == prefix && ctx.IsPost():
			f.createBatch(ctx)
		case strings.HasPrefix(path, prefix+"/") && strings.HasSuffix(path, "/results") && ctx.IsGet():
			f.results(ctx, strings.TrimSuffix(strings.TrimPrefix(path, prefix+"/"), "/results"))
		case strings.HasPrefix(path, prefix+"/") && ctx.IsGet():
			f.retrieve(ctx, strings.TrimPrefix(path, prefix+"/"))
		default:
			f.inner(ctx)
		}
	}
}

func (f *AnthropicBatches) createBatch(ctx *fasthttp.RequestCtx) {
	var p struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if json.Unmarshal(ctx.PostBody(), &p) != nil || len(p.Requests) == 0 {
		anthropicError(ctx, 400, "invalid_request_error", "requests: a non-empty list is required", "req_fake_batch")
		return
	}
	items := make([]fakeItem, len(p.Requests))
	for i, r := range p.Requests {
		if r.CustomID == "" || len(r.CustomID) > 64 {
			anthropicError(ctx, 400, "invalid_request_error", fmt.Sprintf("requests.%d.custom_id: invalid", i), "req_fake_batch")
			return
		}
		items[i] = f.outcome(i, len(p.Requests), func() (int, []byte) { return f.answer(ctx, "/v1/messages", r.Params) })
		items[i].customID = r.CustomID
	}
	f.mu.Lock()
	fb := f.create(items)
	fb.id = f.nextID("msgbatch_fake")
	f.batches[fb.id] = fb
	f.items += len(items)
	f.mu.Unlock()
	writeJSON(ctx, f.object(ctx, fb))
}

func (f *AnthropicBatches) object(ctx *fasthttp.RequestCtx, fb *fakeBatch) map[string]any {
	counts := map[string]int{"processing": len(fb.items), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
	obj := map[string]any{"id": fb.id, "type": "message_batch", "processing_status": "in_progress",
		"created_at": fb.created.UTC().Format(time.RFC3339), "expires_at": fb.created.Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"ended_at": nil, "cancel_initiated_at": nil, "archived_at": nil, "results_url": nil, "request_counts": counts}
	if !fb.ended(f.o.Delay) {
		return obj
	}
	counts["processing"] = 0
	for _, it := range fb.items {
		switch {
		case it.expired:
			counts["expired"]++
		case it.status == 200:
			counts["succeeded"]++
		default:
			counts["errored"]++
		}
	}
	obj["processing_status"] = "ended"
	obj["ended_at"] = time.Now().UTC().Format(time.RFC3339)
	obj["results_url"] = "http://" + string(ctx.Host()) + "/v1/messages/batches/" + fb.id + "/results"
	return obj
}

func (f *AnthropicBatches) retrieve(ctx *fasthttp.RequestCtx, id string) {
	f.mu.Lock()
	fb, ok := f.batches[id]
	f.mu.Unlock()
	if !ok {
		anthropicError(ctx, 404, "not_found_error", "batch not found", "req_fake_batch")
		return
	}
	writeJSON(ctx, f.object(ctx, fb))
}

func (f *AnthropicBatches) results(ctx *fasthttp.RequestCtx, id string) {
	f.mu.Lock()
	fb, ok := f.batches[id]
	f.mu.Unlock()
	if !ok || !fb.ended(f.o.Delay) {
		anthropicError(ctx, 404, "not_found_error", "results are not available", "req_fake_batch")
		return
	}
	var out bytes.Buffer
	for _, it := range fb.items {
		var res any
		switch {
		case it.expired:
			res = map[string]string{"type": "expired"}
		case it.status == 200:
			res = map[string]any{"type": "succeeded", "message": json.RawMessage(it.body)}
		case it.status == 500:
			res = map[string]any{"type": "errored", "error": map[string]any{"type": "error",
				"error": map[string]string{"type": "api_error", "message": "Internal server error"}}}
		default:
			var eb json.RawMessage = it.body
			res = map[string]any{"type": "errored", "error": eb}
		}
		b, _ := json.Marshal(map[string]any{"custom_id": it.customID, "result": res})
		out.Write(b)
		out.WriteByte('\n')
	}
	ctx.SetContentType("application/binary")
	ctx.SetBody(out.Bytes())
}
