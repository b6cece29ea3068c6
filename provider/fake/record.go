package fake

import (
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"
)

// Recorded is a copy of one request a fake handler received.
type Recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Recorder keeps copies of the requests a handler received. A nil
// *Recorder records nothing. Safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	reqs []Recorded
}

func (r *Recorder) record(ctx *fasthttp.RequestCtx) {
	if r == nil {
		return
	}
	rec := Recorded{Method: string(ctx.Method()), Path: string(ctx.Path()), Header: http.Header{},
		Body: append([]byte(nil), ctx.PostBody()...)}
	for k, v := range ctx.Request.Header.All() {
		rec.Header.Add(string(k), string(v))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
}

// Requests returns copies of the recorded requests, oldest first.
func (r *Recorder) Requests() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.reqs...)
}

// Last returns the most recent request, or the zero Recorded.
func (r *Recorder) Last() Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return Recorded{}
	}
	return r.reqs[len(r.reqs)-1]
}
