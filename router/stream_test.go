package router

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
)

func streamReq(model string) *llm.Request {
	r := chatReq(model)
	r.Stream = true
	return r
}

// TestStreamFailsOverBeforeContent: any failure before the first content
// chunk is invisible to the client, who gets one complete answer with one
// role chunk and one completion id.
func TestStreamFailsOverBeforeContent(t *testing.T) {
	const idle = 50 * time.Millisecond
	tests := []struct {
		name    string
		primary func() *fake
		timeout time.Duration // primary's Target.Timeout
		calls   int           // primary's calls
	}{
		{"CutsStreamMidAnswer after the role chunk", func() *fake { return CutsStreamMidAnswer("a", answer, 0) }, 0, 1},
		{"MalformedChunk first", func() *fake { return MalformedChunk("a", answer, 0) }, 0, 1},
		{"StallsMidStream before content", func() *fake { return StallsMidStream("a", answer, 0) }, 0, 1},
		{"HangsBeforeHeaders", func() *fake { return HangsBeforeHeaders("a") }, idle, 1},
		{"SlowFirstToken", func() *fake { return SlowFirstToken("a", answer, time.Minute) }, idle, 1},
		{"AlwaysFails500", func() *fake { return AlwaysFails500("a") }, 0, 2},
		{"RateLimitedWithRetryAfter", func() *fake { return RateLimitedWithRetryAfter("a", time.Minute) }, 0, 1},
		{"RefusesConnections", func() *fake { return RefusesConnections("a") }, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
			a, b := tt.primary(), Answers("b", answer)
			pa := tg("a")
			pa.Timeout = tt.timeout
			pa.StreamIdleTimeout = idle
			r := mustNew(t, testOptions([]Target{pa, tg("b")}, a, b))
			req := streamReq("m")
			start := time.Now()
			st, err := r.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, chunks, err := drain(t, st)
			_ = st.Close()
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v", el)
			}
			if err != nil || got != answer {
				t.Fatalf("client got %q, %v", got, err)
			}
			if a.n() != tt.calls || b.n() != 1 {
				t.Fatalf("calls a=%d (want %d) b=%d", a.n(), tt.calls, b.n())
			}
			roles, ids := 0, map[string]bool{}
			for _, c := range chunks {
				ids[c.ID] = true
				for _, ch := range c.Choices {
					if ch.Delta.Role != "" {
						roles++
					}
					if ch.Delta.Content != nil && *ch.Delta.Content != "" && c.Model != "b-model" {
						t.Fatalf("content chunk reports model %q, want b-model", c.Model)
					}
				}
			}
			if roles != 1 || len(ids) != 1 {
				t.Fatalf("client saw %d role chunks and ids %v", roles, ids)
			}
			last := chunks[len(chunks)-1]
			if last.Usage == nil || len(last.Choices) != 0 {
				t.Fatalf("usage chunk not relayed: %+v", last)
			}
			if m := req.Meta.Values(); m.Provider != "b" || m.Attempts != tt.calls+1 {
				t.Fatalf("meta %+v", m)
			}
		})
	}
}

func TestStreamClientErrorIsNotFailedOver(t *testing.T) {
	defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
	a, b := ContentPolicyReject("a"), Answers("b", answer)
	r := mustNew(t, testOptions([]Target{tg("a"), tg("b")}, a, b))
	_, err := r.Stream(context.Background(), streamReq("m"))
	if e := asLLM(t, err); e.Code != llm.CodeContentFilter || e.Sent {
		t.Fatalf("got %+v", e)
	}
	if a.n() != 1 || b.n() != 0 {
		t.Fatalf("calls a=%d b=%d", a.n(), b.n())
	}
}

// TestStreamRescueWithoutPrefill: once content reached the client and only
// a non-prefill fallback is left, the answer is regenerated there. When the
// regenerated answer begins with the delivered text (a deterministic
// fallback) the client gets exactly the whole answer once; when it differs
// the stream ends with an error that says so (Sent), never with io.EOF,
// and the original failure stays its cause. No prefill is ever sent.
func TestStreamRescueWithoutPrefill(t *testing.T) {
	w := words(answer)
	partial := strings.Join(w[:3], "")
	other := "The quick red fox naps."
	tests := []struct {
		name     string
		primary  *fake
		fallback string // the fallback's answer
		want     string // what the client gets
		wantErr  bool
	}{
		{"CutsStreamMidAnswer deterministic", CutsStreamMidAnswer("a", answer, 3), answer, answer, false},
		{"StallsMidStream deterministic", StallsMidStream("a", answer, 3), answer, answer, false},
		{"MalformedChunk deterministic", MalformedChunk("a", answer, 3), answer, answer, false},
		{"CutsStreamMidAnswer different answer", CutsStreamMidAnswer("a", answer, 3), other, partial, true},
		{"StallsMidStream shorter answer", StallsMidStream("a", answer, 3), "The quick", partial, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
			b := Answers("b", tt.fallback) // no Prefill
			pa := tg("a")
			pa.StreamIdleTimeout = 50 * time.Millisecond
			o := testOptions([]Target{pa, tg("b")}, tt.primary, b)
			r := mustNew(t, o)
			start := time.Now()
			st, err := r.Stream(context.Background(), streamReq("m"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got, chunks, err := drain(t, st)
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v", el)
			}
			if got != tt.want {
				t.Fatalf("client got %q, want %q", got, tt.want)
			}
			if tt.primary.n() != 1 || b.n() != 1 {
				t.Fatalf("calls a=%d b=%d, want 1 and 1", tt.primary.n(), b.n())
			}
			if last := b.lastReq().Messages; last[len(last)-1].Role == "assistant" {
				t.Fatalf("a non-prefill target was sent a prefill: %+v", last[len(last)-1])
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("want a clean end, got %v", err)
				}
				finishes := 0
				for _, c := range chunks {
					for _, ch := range c.Choices {
						if ch.FinishReason != nil {
							finishes++
						}
					}
				}
				if finishes != 1 {
					t.Fatalf("want one finish_reason, got %d", finishes)
				}
				return
			}
			e := asLLM(t, err)
			if !e.Sent || e.Kind != llm.KindUpstreamError || !strings.Contains(e.Message, "regenerated") {
				t.Fatalf("want a sent upstream error about the regenerated answer, got %+v", e)
			}
			var cause *llm.Error
			if !errors.As(e.Err, &cause) || cause.Provider == "b" {
				t.Fatalf("the cause must be the primary's failure, got %v", e.Err)
			}
			if _, err2 := st.Recv(); err2 != err {
				t.Fatalf("error must be sticky, got %v", err2)
			}
			if h := r.Health()[0]; h.ConsecutiveFailures != 1 {
				t.Fatalf("a broken stream is an upstream failure: %+v", h)
			}
		})
	}
}

// TestStreamNoDoneMarkerAfterFinishIsClean: an upstream that delivered the
// finish_reason and then closed without [DONE] ends cleanly for the client,
// with no other target asked; one that ends without any finish_reason is
// never presented as complete.
func TestStreamNoDoneMarkerAfterFinishIsClean(t *testing.T) {
	defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
	a, b := NoDoneMarker("a", answer), Answers("b", "WRONG")
	r := mustNew(t, testOptions([]Target{tg("a"), tg("b")}, a, b))
	st, err := r.Stream(context.Background(), streamReq("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _, err := drain(t, st)
	if err != nil || got != answer {
		t.Fatalf("client got %q, %v; want the whole answer and a clean end", got, err)
	}
	if a.n() != 1 || b.n() != 0 {
		t.Fatalf("calls a=%d b=%d", a.n(), b.n())
	}
	if h := r.Health()[0]; h.ConsecutiveFailures != 0 {
		t.Fatalf("a complete answer is a success: %+v", h)
	}

	// io.EOF without a finish_reason, mid-answer, with nothing to rescue on.
	eof := &fake{name: "e", stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
		return newScript(ctx, req.Model, words(answer)[:3], endEOFNoFinish, nil), nil
	}}
	r2 := mustNew(t, testOptions([]Target{tg("e")}, eof))
	st2, err := r2.Stream(context.Background(), streamReq("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, _, err := drain(t, st2); !asLLM(t, err).Sent {
		t.Fatalf("a stream without finish_reason must end with a sent error, got %v", err)
	}
}

// TestStreamContinuesOnPrefillTarget: a mid-answer cut or stall continues on
// a prefill-capable target; the client sees one complete, correct answer.
func TestStreamContinuesOnPrefillTarget(t *testing.T) {
	tests := []struct {
		name    string
		primary *fake
	}{
		{"CutsStreamMidAnswer", CutsStreamMidAnswer("a", answer, 4)},
		{"StallsMidStream", StallsMidStream("a", answer, 4)},
		{"MalformedChunk", MalformedChunk("a", answer, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
			noPrefill := Answers("b", "WRONG")
			cont := ContinuesPrefill("c", answer)
			pa := tg("a")
			pa.StreamIdleTimeout = 50 * time.Millisecond
			pc := tg("c")
			pc.Prefill = true
			r := mustNew(t, testOptions([]Target{pa, tg("b"), pc}, tt.primary, noPrefill, cont))
			req := streamReq("m")
			st, err := r.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			got, chunks, err := drain(t, st)
			if err != nil || got != answer {
				t.Fatalf("client got %q, %v; want the whole answer", got, err)
			}
			if tt.primary.n() != 1 || noPrefill.n() != 0 || cont.n() != 1 {
				t.Fatalf("calls a=%d b=%d c=%d", tt.primary.n(), noPrefill.n(), cont.n())
			}
			sent := cont.lastReq()
			last := sent.Messages[len(sent.Messages)-1]
			if last.Role != "assistant" || last.Content.Text() != strings.Join(words(answer)[:4], "") || sent.Model != "c-model" {
				t.Fatalf("continuation request: model %s, last message %+v", sent.Model, last)
			}
			roles, finishes := 0, 0
			for _, c := range chunks {
				if c.ID != chunks[0].ID {
					t.Fatalf("completion id changed mid-stream: %s vs %s", c.ID, chunks[0].ID)
				}
				for _, ch := range c.Choices {
					if ch.Delta.Role != "" {
						roles++
					}
					if ch.FinishReason != nil {
						finishes++
					}
				}
			}
			if roles != 1 || finishes != 1 {
				t.Fatalf("roles %d finishes %d", roles, finishes)
			}
			if lc := chunks[len(chunks)-1]; lc.Usage == nil || lc.Model != "c-model" {
				t.Fatalf("last chunk should be c's usage: %+v", lc)
			}
			if m := req.Meta.Values(); m.Provider != "c" || m.Attempts != 2 {
				t.Fatalf("meta %+v", m)
			}
		})
	}
}

func TestStreamCloseUnblocksRecv(t *testing.T) {
	defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
	a := StallsMidStream("a", answer, 2)
	r := mustNew(t, testOptions([]Target{tg("a")}, a))
	st, err := r.Stream(context.Background(), streamReq("m"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // role + 2 words
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := st.Recv()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = st.Close()
	_ = st.Close() // idempotent
	select {
	case err := <-errc:
		if e := asLLM(t, err); e.Kind != llm.KindCanceled {
			t.Fatalf("want canceled after Close, got %v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
	if h := r.Health()[0]; h.ConsecutiveFailures != 0 {
		t.Fatalf("a client's close is not a provider failure: %+v", h)
	}
}

func TestStreamCallerCancelEndsStream(t *testing.T) {
	defer goleak.VerifyNone(t, append(leakOptions(), goleak.IgnoreCurrent())...)
	a := StallsMidStream("a", answer, 2)
	r := mustNew(t, testOptions([]Target{tg("a"), tg("a")}, a))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := r.Stream(ctx, streamReq("m"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	time.AfterFunc(30*time.Millisecond, cancel)
	_, _, err = drain(t, st)
	if e := asLLM(t, err); e.Kind != llm.KindCanceled || !e.Sent {
		t.Fatalf("want canceled (sent) error, got %+v", e)
	}
}
