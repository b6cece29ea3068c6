package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"llmrouter/llm"
)

// Limits of one input file, as OpenAI documents them.
const (
	MaxLines     = 50000
	MaxFileBytes = 200 << 20
)

// Options configures a Service.
type Options struct {
	// Completer answers each line: the proxy's whole canonical chain
	// (usage recorder, classifier, cache, coalescer, router), so lines are
	// routed, cached and counted like live requests. Required.
	Completer llm.Completer
	// Store keeps files, jobs and line results. nil means a MemStore.
	Store Store
	// Concurrency bounds the lines of one job in flight at once. Default 8.
	Concurrency int
	// MaxJobs bounds the jobs run at once. Default 4.
	MaxJobs int
	// PollInterval is how often the worker looks for jobs to run (new ones
	// are started at once; polling picks up jobs of a previous process).
	// Default 1 s.
	PollInterval time.Duration
	// LineTimeout bounds one line's answer. Default 2 min.
	LineTimeout time.Duration
	// Admit, when set, is asked at submission whether tenant may run a job
	// of lines requests estimated at tokens input tokens; an error refuses
	// the job with that error (budgets are the governance layer's).
	Admit func(ctx context.Context, tenant string, lines, tokens int) error
	// Logger receives job events; nil discards them.
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Service runs batch jobs. Create it with New, call Start once, and Close
// at shutdown. Safe for concurrent use.
type Service struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	running map[string]context.CancelFunc // job id -> cancel of its run
	wake    chan struct{}

	owner   string // this process's lease owner id
	stop    context.CancelFunc
	base    context.Context
	wg      sync.WaitGroup
	started bool
}

// New returns a Service for o.
func New(o Options) (*Service, error) {
	if o.Completer == nil {
		return nil, errors.New("batch: a Completer is required")
	}
	if o.Store == nil {
		o.Store = NewMemStore()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.LineTimeout <= 0 {
		o.LineTimeout = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, log: log, running: map[string]context.CancelFunc{}, wake: make(chan struct{}, 1), owner: newID("worker-")}
	s.base, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Start launches the worker goroutine; it runs until Close.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.loop()
}

// Close stops the worker and every running job and waits for them. Lines
// in flight are abandoned unrecorded and run again by the next process;
// finished lines are already stored.
func (s *Service) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

func (s *Service) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	for {
		s.startJobs()
		select {
		case <-s.base.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startJobs starts active jobs that are not running, up to MaxJobs.
func (s *Service) startJobs() {
	ctx, cancel := context.WithTimeout(s.base, 10*time.Second)
	jobs, err := s.o.Store.ActiveJobs(ctx)
	cancel()
	if err != nil {
		if s.base.Err() == nil {
			s.log.Warn("batch: listing jobs failed; retrying", "err", err)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		if len(s.running) >= s.o.MaxJobs || s.base.Err() != nil {
			return
		}
		if _, ok := s.running[j.ID]; ok {
			continue
		}
		lctx, lcancel := context.WithTimeout(s.base, 5*time.Second)
		mine, err := s.o.Store.Lease(lctx, j.ID, s.owner, leaseTTL)
		lcancel()
		if err != nil || !mine {
			continue // another replica runs it (or the store is down: next pass)
		}
		jctx, jcancel := context.WithCancel(s.base)
		s.running[j.ID] = jcancel
		s.wg.Add(1)
		go func(j *Job) {
			defer s.wg.Done()
			defer func() {
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = s.o.Store.Lease(rctx, j.ID, s.owner, 0)
				rcancel()
				s.mu.Lock()
				delete(s.running, j.ID)
				s.mu.Unlock()
				jcancel()
				s.kick()
			}()
			stopRenew := s.renew(jctx, jcancel, j.ID)
			defer stopRenew()
			if err := s.run(jctx, j); err != nil && s.base.Err() == nil {
				s.log.Warn("batch: job run interrupted; it will be resumed", "batch", j.ID, "err", err)
			}
		}(j)
	}
}

// leaseTTL is how long a job stays claimed without renewal: a replica that
// dies hands its jobs over after that long.
const leaseTTL = 30 * time.Second

// renew keeps job's lease while its run goes on, renewing every third of
// leaseTTL; a lost lease (another replica took the job) cancels the run.
// The returned func stops it and waits for its goroutine.
func (s *Service) renew(ctx context.Context, cancelRun context.CancelFunc, jobID string) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				mine, err := s.o.Store.Lease(lctx, jobID, s.owner, leaseTTL)
				cancel()
				if err == nil && !mine {
					s.log.Warn("batch: lost the job's lease to another replica; stopping", "batch", jobID)
					cancelRun()
					return
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

func (s *Service) now() int64 { return s.o.Now().Unix() }

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateFile stores an uploaded file for tenant.
func (s *Service) CreateFile(ctx context.Context, tenant, filename, purpose string, content []byte) (*File, error) {
	if purpose != PurposeBatch {
		return nil, invalid("purpose", "purpose must be 'batch' (this proxy stores batch input files only)")
	}
	if len(content) == 0 {
		return nil, invalid("file", "the file is empty")
	}
	if len(content) > MaxFileBytes {
		return nil, invalid("file", "the file is larger than "+strconv.Itoa(MaxFileBytes)+" bytes")
	}
	f := &File{ID: newID("file-"), Object: "file", Bytes: len(content), CreatedAt: s.now(), Filename: filename,
		Purpose: purpose, Status: "processed", Tenant: tenant}
	if err := s.o.Store.PutFile(ctx, f, content); err != nil {
		return nil, storeError(err)
	}
	return f, nil
}

// FileContent returns tenant's file id's content.
func (s *Service) FileContent(ctx context.Context, tenant, id string) ([]byte, error) {
	_, b, err := s.o.Store.File(ctx, tenant, id)
	if err != nil {
		return nil, lookupError(err, "file", id)
	}
	return b, nil
}

// CreateParams is the body of POST /v1/batches.
type CreateParams struct {
	InputFileID      string            `json:"input_file_id"`
	Endpoint         string            `json:"endpoint"`
	CompletionWindow string            `json:"completion_window"`
	Metadata         map[string]string `json:"metadata"`
}

// CreateJob validates p and the input file's lines and queues the job. A
// file with bad lines gives a job in status failed with one error per bad
// line, as the OpenAI API does.
func (s *Service) CreateJob(ctx context.Context, tenant string, p CreateParams) (*Job, error) {
	switch {
	case p.InputFileID == "":
		return nil, invalid("input_file_id", "you must provide an input_file_id")
	case p.Endpoint != EndpointChat:
		return nil, invalid("endpoint", "endpoint must be '"+EndpointChat+"' (the only batch endpoint this proxy serves)")
	case p.CompletionWindow != "24h":
		return nil, invalid("completion_window", "completion_window must be '24h'")
	case len(p.Metadata) > 16:
		return nil, invalid("metadata", "at most 16 metadata pairs")
	}
	f, content, err := s.o.Store.File(ctx, tenant, p.InputFileID)
	if err != nil {
		return nil, lookupError(err, "file", p.InputFileID)
	}
	if f.Purpose != PurposeBatch {
		return nil, invalid("input_file_id", "the input file's purpose must be 'batch'")
	}
	lines, errs := parseInput(content)
	now := s.now()
	exp := now + 24*3600
	j := &Job{ID: newID("batch_"), Object: "batch", Endpoint: p.Endpoint, InputFileID: p.InputFileID,
		CompletionWindow: p.CompletionWindow, Status: StatusValidating, CreatedAt: now, ExpiresAt: &exp,
		Metadata: p.Metadata, Tenant: tenant, RequestCounts: RequestCounts{Total: len(lines)}}
	if len(errs) > 0 {
		j.Status, j.FailedAt = StatusFailed, &now
		j.Errors = &JobErrors{Object: "list", Data: errs}
		j.RequestCounts = RequestCounts{}
	} else if s.o.Admit != nil {
		tokens := 0
		for _, l := range lines {
			tokens += len(l.Body)/4 + 1
		}
		if err := s.o.Admit(ctx, tenant, len(lines), tokens); err != nil {
			return nil, err
		}
	}
	if err := s.o.Store.PutJob(ctx, j); err != nil {
		return nil, storeError(err)
	}
	s.kick()
	return j, nil
}

// Job returns tenant's job id.
func (s *Service) Job(ctx context.Context, tenant, id string) (*Job, error) {
	j, err := s.o.Store.Job(ctx, tenant, id)
	if err != nil {
		return nil, lookupError(err, "batch", id)
	}
	return j, nil
}

// Cancel asks tenant's job id to stop: it goes to cancelling, lines not yet
// answered are not sent, and the worker ends it as cancelled with an output
// file of the lines already answered. Cancelling a finished job is an
// error, as in the OpenAI API.
func (s *Service) Cancel(ctx context.Context, tenant, id string) (*Job, error) {
	j, err := s.o.Store.Job(ctx, tenant, id)
	if err != nil {
		return nil, lookupError(err, "batch", id)
	}
	switch j.Status {
	case StatusCancelling:
		return j, nil
	case StatusValidating, StatusInProgress, StatusFinalizing:
	default:
		return nil, invalid("", "cannot cancel a batch with status '"+j.Status+"'")
	}
	now := s.now()
	j.Status, j.CancellingAt = StatusCancelling, &now
	if err := s.o.Store.PutJob(ctx, j); err != nil {
		return nil, storeError(err)
	}
	s.mu.Lock()
	if cancel, ok := s.running[id]; ok {
		cancel() // the run stops sending lines; the next pass finishes it
	}
	s.mu.Unlock()
	s.kick()
	return j, nil
}

// parseInput splits a JSONL input file into lines and validates each.
func parseInput(content []byte) ([]inputLine, []JobError) {
	var lines []inputLine
	var errs []JobError
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64<<10), MaxFileBytes)
	n := 0
	bad := func(code, msg string) {
		line := n
		errs = append(errs, JobError{Code: code, Message: msg, Line: &line})
	}
	for sc.Scan() {
		n++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if len(lines) >= MaxLines {
			bad("too_many_requests", "a batch holds at most "+strconv.Itoa(MaxLines)+" requests")
			break
		}
		var l inputLine
		if err := json.Unmarshal(raw, &l); err != nil {
			bad("invalid_json_line", "this line is not a valid JSON object")
			continue
		}
		var req llm.Request
		switch {
		case l.CustomID == "":
			bad("missing_required_parameter", "custom_id is required")
		case seen[l.CustomID]:
			bad("duplicate_custom_id", "the custom_id '"+l.CustomID+"' appears more than once")
		case l.Method != "POST":
			bad("invalid_method", "method must be 'POST'")
		case l.URL != EndpointChat:
			bad("mismatched_endpoint", "url must be '"+EndpointChat+"', the batch's endpoint")
		case llm.DecodeRequest(l.Body, &req) != nil:
			bad("invalid_request", "body is not a valid chat completions request: "+llm.DecodeRequest(l.Body, &req).Error())
		case req.Model == "" || len(req.Messages) == 0:
			bad("invalid_request", "body needs a model and at least one message")
		case req.Stream:
			bad("invalid_request", "stream is not allowed in a batch")
		}
		seen[l.CustomID] = true
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		bad("invalid_file", "the file could not be read as JSONL: "+err.Error())
	}
	if len(lines) == 0 && len(errs) == 0 {
		bad("empty_file", "the input file has no requests")
	}
	return lines, errs
}

// run processes job j until every line has a stored result, then writes
// the output file and finishes the job. Canceled ctx stops it early (the
// job stays active and is resumed, or finished as cancelled).
func (s *Service) run(ctx context.Context, j *Job) error {
	_, content, err := s.o.Store.File(ctx, j.Tenant, j.InputFileID)
	if err != nil {
		return fmt.Errorf("input file: %w", err)
	}
	lines, _ := parseInput(content) // validated at creation
	if j.Status == StatusValidating {
		now := s.now()
		j.Status, j.InProgressAt = StatusInProgress, &now
		if err := s.o.Store.PutJob(ctx, j); err != nil {
			return err
		}
	}
	done, err := s.o.Store.Lines(ctx, j.ID)
	if err != nil {
		return err
	}
	expired := j.ExpiresAt != nil && s.now() >= *j.ExpiresAt
	if j.Status == StatusInProgress && !expired {
		if err := s.runLines(ctx, j, lines, done); err != nil && ctx.Err() == nil {
			return err
		}
	}
	if ctx.Err() != nil {
		// Cancel() or Close() interrupted the run: finish only a cancel.
		cur, err := s.o.Store.Job(s.base, j.Tenant, j.ID)
		if err != nil || cur.Status != StatusCancelling {
			return ctx.Err()
		}
		fctx, cancel := context.WithTimeout(s.base, 30*time.Second)
		defer cancel()
		ctx = fctx
	}
	cur, err := s.o.Store.Job(ctx, j.Tenant, j.ID)
	if err != nil {
		return err
	}
	if done, err = s.o.Store.Lines(ctx, j.ID); err != nil {
		return err
	}
	return s.finish(ctx, cur, lines, done, expired)
}

// Store returns the Service's store.
func (s *Service) Store() Store { return s.o.Store }

// runLines answers every line without a stored result, Concurrency at a
// time, storing each result as soon as it exists.
func (s *Service) runLines(ctx context.Context, j *Job, lines []inputLine, done map[int][]byte) error {
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, l := range lines {
		if _, ok := done[i]; ok {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int, l inputLine) {
			defer wg.Done()
			defer func() { <-sem }()
			res, ok := s.answer(ctx, j, l)
			if !ok {
				return // interrupted: not recorded, run again later
			}
			if err := s.o.Store.PutLine(ctx, j.ID, i, res); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(i, l)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// answer runs one line through the Completer and encodes its output line.
// It reports false when ctx ended first (the line must be run again).
func (s *Service) answer(ctx context.Context, j *Job, l inputLine) ([]byte, bool) {
	reqID := newID("req_")
	req := &llm.Request{Tenant: j.Tenant, RequestID: reqID, Meta: &llm.Meta{}}
	out := LineResult{ID: newID("batch_req_"), CustomID: l.CustomID}
	if err := llm.DecodeRequest(l.Body, req); err != nil {
		out.Response = errorResponse(reqID, llm.AsError(err))
	} else {
		lctx, cancel := context.WithTimeout(ctx, s.o.LineTimeout)
		resp, err := s.o.Completer.Complete(lctx, req)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, false
		}
		if err != nil {
			out.Response = errorResponse(reqID, llm.AsError(err))
		} else {
			body, merr := json.Marshal(resp)
			if merr != nil {
				out.Response = errorResponse(reqID, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer"})
			} else {
				out.Response = &LineResponse{StatusCode: 200, RequestID: reqID, Body: body}
			}
		}
	}
	b, _ := json.Marshal(&out)
	return b, true
}

// finish writes the output file (every answered line, in input order) and
// the job's final status.
func (s *Service) finish(ctx context.Context, j *Job, lines []inputLine, done map[int][]byte, expired bool) error {
	now := s.now()
	cancelled := j.Status == StatusCancelling
	var buf bytes.Buffer
	counts := RequestCounts{Total: len(lines)}
	for i, l := range lines {
		res, ok := done[i]
		if !ok {
			code, msg := "batch_cancelled", "the batch was cancelled before this request was sent"
			if expired {
				code, msg = "batch_expired", "the batch expired before this request was sent"
			}
			res, _ = json.Marshal(&LineResult{ID: newID("batch_req_"), CustomID: l.CustomID, Error: &LineError{Code: code, Message: msg}})
			counts.Failed++
		} else {
			var lr LineResult
			if json.Unmarshal(res, &lr) == nil && lr.Response != nil && lr.Response.StatusCode == 200 {
				counts.Completed++
			} else {
				counts.Failed++
			}
		}
		buf.Write(res)
		buf.WriteByte('\n')
	}
	f := &File{ID: newID("file-"), Object: "file", Bytes: buf.Len(), CreatedAt: now, Filename: j.ID + "_output.jsonl",
		Purpose: PurposeBatchOutput, Status: "processed", Tenant: j.Tenant}
	if err := s.o.Store.PutFile(ctx, f, buf.Bytes()); err != nil {
		return err
	}
	j.OutputFileID = &f.ID
	j.RequestCounts = counts
	j.FinalizingAt = &now
	switch {
	case cancelled:
		j.Status, j.CancelledAt = StatusCancelled, &now
	case expired:
		j.Status, j.ExpiredAt = StatusExpired, &now
	default:
		j.Status, j.CompletedAt = StatusCompleted, &now
	}
	if err := s.o.Store.PutJob(ctx, j); err != nil {
		return err
	}
	s.log.Info("batch: job finished", "batch", j.ID, "tenant", j.Tenant, "status", j.Status,
		"completed", counts.Completed, "failed", counts.Failed)
	return nil
}
