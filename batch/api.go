package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"llmrouter/llm"
)

// Content types of API answers.
const (
	ContentTypeJSON  = "application/json"
	ContentTypeJSONL = "application/jsonl"
)

// Serve answers one Files or Batches API request of an authenticated
// tenant: POST /v1/files (multipart/form-data with purpose and file),
// GET /v1/files/{id}, GET /v1/files/{id}/content, POST /v1/batches,
// GET /v1/batches/{id} and POST /v1/batches/{id}/cancel. It returns the
// answer's content type and body (status 200), or an error (*llm.Error)
// that the caller maps to its wire shape. body must not be retained by the
// caller's framework after Serve returns; Serve copies what it keeps.
func (s *Service) Serve(ctx context.Context, tenant, method, path, contentType string, body []byte) (string, []byte, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "v1" {
		return "", nil, notFound(path)
	}
	want := func(m string) error {
		if method != m {
			return &llm.Error{Kind: llm.KindInvalidRequest, Message: "method " + method + " not allowed on " + path + "; use " + m}
		}
		return nil
	}
	var out any
	var err error
	switch {
	case parts[1] == "files" && len(parts) == 2:
		if err = want("POST"); err == nil {
			out, err = s.upload(ctx, tenant, contentType, body)
		}
	case parts[1] == "files" && len(parts) == 3:
		if err = want("GET"); err == nil {
			var f *File
			f, _, err = s.o.Store.File(ctx, tenant, parts[2])
			if err != nil {
				err = lookupError(err, "file", parts[2])
			}
			out = f
		}
	case parts[1] == "files" && len(parts) == 4 && parts[3] == "content":
		if err = want("GET"); err != nil {
			return "", nil, err
		}
		b, err := s.FileContent(ctx, tenant, parts[2])
		if err != nil {
			return "", nil, err
		}
		return ContentTypeJSONL, b, nil
	case parts[1] == "batches" && len(parts) == 2:
		if err = want("POST"); err == nil {
			var p CreateParams
			if jerr := json.Unmarshal(body, &p); jerr != nil {
				return "", nil, invalid("", "request body is not a valid JSON object")
			}
			out, err = s.CreateJob(ctx, tenant, p)
		}
	case parts[1] == "batches" && len(parts) == 3:
		if err = want("GET"); err == nil {
			out, err = s.Job(ctx, tenant, parts[2])
		}
	case parts[1] == "batches" && len(parts) == 4 && parts[3] == "cancel":
		if err = want("POST"); err == nil {
			out, err = s.Cancel(ctx, tenant, parts[2])
		}
	default:
		return "", nil, notFound(path)
	}
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", nil, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer", Err: err}
	}
	return ContentTypeJSON, b, nil
}

func notFound(path string) error {
	return &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "unknown url: " + path}
}

// upload reads a multipart/form-data upload: a purpose field and a file part.
func (s *Service) upload(ctx context.Context, tenant, contentType string, body []byte) (*File, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, invalid("", "POST /v1/files takes multipart/form-data with 'purpose' and 'file'")
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var purpose, filename string
	var content []byte
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, invalid("", "malformed multipart body")
		}
		b, err := io.ReadAll(io.LimitReader(p, MaxFileBytes+1))
		if err != nil {
			return nil, invalid("", "malformed multipart body")
		}
		switch p.FormName() {
		case "purpose":
			purpose = strings.TrimSpace(string(b))
		case "file":
			filename, content = p.FileName(), b
		}
	}
	if content == nil {
		return nil, invalid("file", "you must provide a file")
	}
	if filename == "" {
		filename = "upload.jsonl"
	}
	return s.CreateFile(ctx, tenant, filename, purpose, content)
}
