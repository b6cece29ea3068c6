package batch

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"llmrouter/llm"
)

// Upstream lets a Service send a job's lines to the providers' own batch
// APIs (OpenAI Batch API, Anthropic Message Batches: about half price,
// answered within 24 hours) instead of one by one. Each line not yet
// answered is classified and looked up in the cache; a hit is answered at
// once; the rest are grouped per chosen target (provider and upstream
// model) and each group is submitted as one provider batch when the
// provider has a batch API, or sent through Options.Completer (the live
// path, Concurrency at a time) when it has none. Every func must be safe
// for concurrent use.
type Upstream struct {
	// Classify returns req with its tier decided, as the live classifier
	// would (it may return req itself for a pinned model). Required.
	Classify func(req *llm.Request) *llm.Request
	// Lookup answers a classified req from the cache without calling
	// anything upstream, reporting the outcome in req.Meta; false on a
	// miss. nil: no cache.
	Lookup func(ctx context.Context, req *llm.Request) (*llm.Response, bool)
	// Save stores an answer made through a provider batch in the cache.
	// nil: not stored.
	Save func(ctx context.Context, req *llm.Request, provider string, resp *llm.Response)
	// Resolve returns the target a classified req would be sent to first,
	// without calling it. Required.
	Resolve func(req *llm.Request) (Target, error)
	// Batcher returns the batch API of a provider, or nil when it has none
	// (or it is turned off for that provider). Required.
	Batcher func(provider string) Batcher
	// Record records the usage of a line answered without Completer: a
	// cache hit (batch false) or an answer of a provider batch (batch true:
	// priced with the batch discount). nil: not recorded.
	Record func(req *llm.Request, resp *llm.Response, batch bool)
	// PollInterval is the longest wait between two polls of the submitted
	// provider batches: polling starts at Options.PollInterval (or this,
	// if shorter) and doubles up to it. Default 30 s.
	PollInterval time.Duration
	// CallTimeout bounds one submit or poll call. Default 2 min.
	CallTimeout time.Duration
}

// Target is where a classified request would go: the provider's name and
// the upstream model.
type Target struct {
	Provider string
	Model    string
}

// Batcher is a provider's asynchronous batch API. SubmitBatch creates one
// provider batch of items and returns its id; PollBatch returns its
// status, with every item's result once it ended. Implementations must be
// safe for concurrent use and honour ctx.
type Batcher interface {
	SubmitBatch(ctx context.Context, items []llm.BatchItem) (string, error)
	PollBatch(ctx context.Context, id string) (*llm.BatchStatus, error)
}

func (u *Upstream) setDefaults() {
	if u.PollInterval <= 0 {
		u.PollInterval = 30 * time.Second
	}
	if u.CallTimeout <= 0 {
		u.CallTimeout = 2 * time.Minute
	}
}

// itemID is the custom_id of line idx in a provider batch (providers limit
// custom ids to 64 characters of [A-Za-z0-9_-]; clients' ids may not fit).
func itemID(idx int) string { return "line-" + strconv.Itoa(idx) }

func itemIndex(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "line-"))
	return n, err == nil && strings.HasPrefix(id, "line-")
}

// request decodes line l of job j as a classified request; a line that
// does not decode gives nil (the live path answers it with its error).
func (s *Service) request(j *Job, l inputLine) *llm.Request {
	req := &llm.Request{Tenant: j.Tenant, RequestID: newID("req_"), Meta: &llm.Meta{}}
	if llm.DecodeRequest(l.Body, req) != nil {
		return nil
	}
	return s.o.Upstream.Classify(req)
}

// group is the lines bound for one target.
type group struct {
	t    Target
	b    Batcher
	idxs []int
}

// runUpstream answers every line without a stored result: cache hits at
// once, provider-batch lines by submitting them (once: recorded
// submissions are polled, never submitted again), the rest live. It
// returns when every line has a result, ctx ends, or the job's window
// closes.
func (s *Service) runUpstream(ctx context.Context, j *Job, lines []inputLine, done map[int][]byte) error {
	up := s.o.Upstream
	subs, err := s.o.Store.Submissions(ctx, j.ID)
	if err != nil {
		return err
	}
	submitted := map[int]bool{}
	for _, sub := range subs {
		for _, i := range sub.Lines {
			submitted[i] = true
		}
	}
	groups := map[Target]*group{}
	reqs := map[int]*llm.Request{}
	var live []int
	for i, l := range lines {
		if _, ok := done[i]; ok || submitted[i] {
			continue
		}
		req := s.request(j, l)
		if req == nil {
			live = append(live, i)
			continue
		}
		if up.Lookup != nil {
			if resp, ok := up.Lookup(ctx, req); ok {
				if err := s.putAnswer(ctx, j, i, l.CustomID, req, resp, "", false); err != nil {
					return err
				}
				continue
			}
		}
		t, err := up.Resolve(req)
		var b Batcher
		if err == nil {
			b = up.Batcher(t.Provider)
		}
		if b == nil {
			live = append(live, i)
			continue
		}
		g := groups[t]
		if g == nil {
			g = &group{t: t, b: b}
			groups[t] = g
		}
		g.idxs = append(g.idxs, i)
		reqs[i] = req
	}
	keys := make([]Target, 0, len(groups))
	for t := range groups {
		keys = append(keys, t)
	}
	sort.Slice(keys, func(a, b int) bool {
		return keys[a].Provider < keys[b].Provider || keys[a].Provider == keys[b].Provider && keys[a].Model < keys[b].Model
	})
	for _, t := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		g := groups[t]
		sub, err := s.submit(ctx, j, g, reqs)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("batch: provider batch submission failed; sending its lines live", "batch", j.ID,
				"provider", t.Provider, "model", t.Model, "lines", len(g.idxs), "err", err)
			live = append(live, g.idxs...)
			continue
		}
		subs = append(subs, *sub)
	}
	sort.Ints(live)
	liveErr := make(chan error, 1)
	go func() { liveErr <- s.runLive(ctx, j, lines, live) }()
	perr := s.poll(ctx, j, lines, subs)
	if lerr := <-liveErr; lerr != nil {
		return lerr
	}
	return perr
}

// submit sends group g as one provider batch and records it. The record
// is written with its own short deadline even when ctx ends meanwhile, so
// that an accepted batch is never forgotten (and paid for twice).
func (s *Service) submit(ctx context.Context, j *Job, g *group, reqs map[int]*llm.Request) (*Submission, error) {
	items := make([]llm.BatchItem, len(g.idxs))
	for k, i := range g.idxs {
		r2 := *reqs[i]
		r2.Model = g.t.Model
		items[k] = llm.BatchItem{ID: itemID(i), Request: &r2}
	}
	sctx, cancel := context.WithTimeout(ctx, s.o.Upstream.CallTimeout)
	id, err := g.b.SubmitBatch(sctx, items)
	cancel()
	if err != nil {
		return nil, err
	}
	sub := &Submission{UpstreamID: id, Provider: g.t.Provider, Model: g.t.Model, Lines: g.idxs, CreatedAt: s.now()}
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = s.o.Store.PutSubmission(pctx, j.ID, sub)
		cancel()
		if err == nil || attempt == 4 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		// Returning the error would send the lines live as well: stop the
		// run instead; the lines are resubmitted only after a restart.
		s.log.Error("batch: could not record an accepted provider batch; its lines may be billed twice if the job is resumed",
			"batch", j.ID, "provider", g.t.Provider, "upstream_batch", id, "err", err)
		return nil, context.Canceled
	}
	s.log.Info("batch: lines submitted to a provider batch", "batch", j.ID, "provider", g.t.Provider,
		"model", g.t.Model, "upstream_batch", id, "lines", len(g.idxs))
	return sub, nil
}

// runLive answers lines idxs through Completer, Concurrency at a time,
// storing each result as soon as it exists.
func (s *Service) runLive(ctx context.Context, j *Job, lines []inputLine, idxs []int) error {
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, i := range idxs {
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
			if err := s.putLine(ctx, j.ID, i, res); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(i, lines[i])
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// pollGrace is how long after the job's window closed provider batches are
// still polled for the lines they answered (a provider batch created
// during the window may end a little after it).
const pollGrace = time.Hour

// poll polls subs until each has ended and its lines are stored, ctx ends,
// or pollGrace after the job's window closed (the lines still pending are
// then reported as expired by finish). The wait between polls doubles from
// Options.PollInterval up to Upstream.PollInterval. A failing poll is
// retried at the next interval.
func (s *Service) poll(ctx context.Context, j *Job, lines []inputLine, subs []Submission) error {
	up := s.o.Upstream
	pending := append([]Submission(nil), subs...)
	wait := min(s.o.PollInterval, up.PollInterval)
	for len(pending) > 0 {
		done, err := s.o.Store.Lines(ctx, j.ID)
		if err != nil {
			return err
		}
		var next []Submission
		for _, sub := range pending {
			if allDone(sub.Lines, done) {
				continue
			}
			b := up.Batcher(sub.Provider)
			if b == nil {
				s.log.Warn("batch: provider batch of a provider no longer configured with a batch API; sending its lines live",
					"batch", j.ID, "provider", sub.Provider, "upstream_batch", sub.UpstreamID)
				if err := s.runLive(ctx, j, lines, missing(sub.Lines, done)); err != nil {
					return err
				}
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, up.CallTimeout)
			st, err := b.PollBatch(pctx, sub.UpstreamID)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("batch: polling a provider batch failed; retrying", "batch", j.ID,
					"provider", sub.Provider, "upstream_batch", sub.UpstreamID, "err", err)
				next = append(next, sub)
				continue
			}
			if !st.Done {
				next = append(next, sub)
				continue
			}
			if err := s.collect(ctx, j, lines, &sub, st, done); err != nil {
				return err
			}
		}
		pending = next
		if len(pending) == 0 {
			return nil
		}
		if j.ExpiresAt != nil && s.now() >= *j.ExpiresAt+int64(pollGrace/time.Second) {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, up.PollInterval)
	}
	return nil
}

func allDone(idxs []int, done map[int][]byte) bool {
	for _, i := range idxs {
		if _, ok := done[i]; !ok {
			return false
		}
	}
	return true
}

func missing(idxs []int, done map[int][]byte) []int {
	var out []int
	for _, i := range idxs {
		if _, ok := done[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// collect stores the results of an ended provider batch: answers (usage
// recorded at the batch price, saved in the cache), per-line errors, and
// expired lines, which are sent live once when the job's window is still
// open for at least LineTimeout and reported as batch_expired otherwise. Lines already stored (a restart
// polled the batch again) are skipped, so nothing is recorded twice.
func (s *Service) collect(ctx context.Context, j *Job, lines []inputLine, sub *Submission, st *llm.BatchStatus, done map[int][]byte) error {
	mine := make(map[int]bool, len(sub.Lines))
	for _, i := range sub.Lines {
		mine[i] = true
	}
	got := map[int]bool{}
	var expired []int
	for _, r := range st.Results {
		i, ok := itemIndex(r.ID)
		if !ok || !mine[i] || got[i] {
			continue
		}
		got[i] = true
		if _, ok := done[i]; ok {
			continue
		}
		switch {
		case r.Expired:
			expired = append(expired, i)
		case r.Response != nil:
			req := s.request(j, lines[i])
			if req == nil {
				req = &llm.Request{Tenant: j.Tenant, Meta: &llm.Meta{}}
			}
			req.Meta.Update(func(v *llm.MetaValues) { v.Provider, v.Model, v.Cache = sub.Provider, r.Response.Model, llm.CacheMiss })
			if r.Response.Model == "" {
				r.Response.Model = sub.Model
			}
			if err := s.putAnswer(ctx, j, i, lines[i].CustomID, req, r.Response, sub.Provider, true); err != nil {
				return err
			}
		default:
			e := r.Err
			if e == nil {
				e = &llm.Error{Kind: llm.KindUpstreamError, Provider: sub.Provider, Message: "the provider batch gave no answer for this request"}
			}
			if err := s.putError(ctx, j, i, lines[i].CustomID, e); err != nil {
				return err
			}
		}
	}
	for _, i := range sub.Lines {
		if _, ok := done[i]; !ok && !got[i] {
			if err := s.putError(ctx, j, i, lines[i].CustomID, &llm.Error{Kind: llm.KindUpstreamError, Provider: sub.Provider,
				Message: "the provider batch returned no result for this request"}); err != nil {
				return err
			}
		}
	}
	if len(expired) == 0 {
		return nil
	}
	if j.ExpiresAt == nil || s.now()+int64(s.o.LineTimeout/time.Second) < *j.ExpiresAt {
		s.log.Info("batch: provider batch lines expired; sending them live once", "batch", j.ID,
			"provider", sub.Provider, "upstream_batch", sub.UpstreamID, "lines", len(expired))
		return s.runLive(ctx, j, lines, expired)
	}
	for _, i := range expired {
		b, _ := json.Marshal(&LineResult{ID: newID("batch_req_"), CustomID: lines[i].CustomID,
			Error: &LineError{Code: "batch_expired", Message: "this request could not be executed before the completion window expired"}})
		if err := s.putLine(ctx, j.ID, i, b); err != nil {
			return err
		}
	}
	return nil
}

// putAnswer stores resp as line i's answer and records its usage; an
// answer of a provider batch (viaBatch) is also saved in the cache.
func (s *Service) putAnswer(ctx context.Context, j *Job, i int, customID string, req *llm.Request, resp *llm.Response, provider string, viaBatch bool) error {
	body, err := json.Marshal(resp)
	if err != nil {
		return s.putError(ctx, j, i, customID, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer"})
	}
	reqID := req.RequestID
	if reqID == "" {
		reqID = newID("req_")
	}
	b, _ := json.Marshal(&LineResult{ID: newID("batch_req_"), CustomID: customID,
		Response: &LineResponse{StatusCode: 200, RequestID: reqID, Body: body}})
	if err := s.putLine(ctx, j.ID, i, b); err != nil {
		return err
	}
	up := s.o.Upstream
	if up.Record != nil {
		up.Record(req, resp, viaBatch)
	}
	if viaBatch && up.Save != nil {
		up.Save(ctx, req, provider, resp)
	}
	return nil
}

// putError stores e as line i's error response.
func (s *Service) putError(ctx context.Context, j *Job, i int, customID string, e *llm.Error) error {
	b, _ := json.Marshal(&LineResult{ID: newID("batch_req_"), CustomID: customID, Response: errorResponse(newID("req_"), e)})
	return s.putLine(ctx, j.ID, i, b)
}

// putLine stores a line's result even when ctx ended meanwhile (a restart
// or a cancel): an answer that exists, and was paid for, is never dropped
// to be asked again. It has its own short deadline.
func (s *Service) putLine(ctx context.Context, jobID string, i int, b []byte) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.o.Store.PutLine(pctx, jobID, i, b)
}
