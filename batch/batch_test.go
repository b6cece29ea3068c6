package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
)

// echo is a Completer that answers "echo: <last user text>", fails lines
// whose text contains "reject" with an invalid-request error, and blocks
// (until ctx ends) once block answers were given, when block > 0.
type echo struct {
	calls atomic.Int64
	block int64
}

func (e *echo) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	n := e.calls.Add(1)
	if e.block > 0 && n > e.block {
		<-ctx.Done()
		return nil, llm.AsError(ctx.Err())
	}
	if strings.Contains(req.LastUserText(), "reject") {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Param: "messages", Message: "rejected line"}
	}
	return &llm.Response{ID: "chatcmpl-x", Object: llm.ObjectChatCompletion, Model: req.Model,
		Choices: []llm.Choice{{Message: llm.Message{Role: "assistant", Content: llm.TextContent("echo: " + req.LastUserText())}, FinishReason: llm.FinishStop}},
		Usage:   &llm.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}}, nil
}

func (e *echo) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "no streams in batches"}
}

func inputFile(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("question %d", i)
		if i%50 == 7 {
			text = fmt.Sprintf("reject %d", i)
		}
		body, _ := json.Marshal(map[string]any{"model": "auto", "messages": []map[string]string{{"role": "user", "content": text}}})
		line, _ := json.Marshal(map[string]any{"custom_id": fmt.Sprintf("req-%03d", i), "method": "POST", "url": EndpointChat, "body": json.RawMessage(body)})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func newService(t *testing.T, c llm.Completer, st Store) *Service {
	t.Helper()
	s, err := New(Options{Completer: c, Store: st, Concurrency: 4, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s
}

func waitJob(t *testing.T, s *Service, tenant, id string, done func(*Job) bool) *Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := s.Job(context.Background(), tenant, id)
		if err == nil && done(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not get there: %+v %v", id, j, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobSurvivesRestart: a 200-line job is interrupted by a restart after
// some lines; the next process finishes it. The output has every custom_id
// once, in input order, each with its own answer or error, and no line was
// answered twice.
func TestJobSurvivesRestart(t *testing.T) {
	stores := []struct {
		name string
		make func(t *testing.T) Store
	}{
		{"memory", func(*testing.T) Store { return NewMemStore() }},
		{"postgres", func(t *testing.T) Store {
			db := pgtest.New(t)
			if err := migrations.Apply(context.Background(), db.Pool, db.Schema); err != nil {
				t.Fatal(err)
			}
			return NewPGStore(db.Pool)
		}},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.make(t)
			ctx := context.Background()
			first := &echo{block: 60}
			s1 := newService(t, first, st)
			f, err := s1.CreateFile(ctx, "team-a", "in.jsonl", PurposeBatch, inputFile(200))
			if err != nil {
				t.Fatal(err)
			}
			j, err := s1.CreateJob(ctx, "team-a", CreateParams{InputFileID: f.ID, Endpoint: EndpointChat, CompletionWindow: "24h"})
			if err != nil || j.Status != StatusValidating || j.RequestCounts.Total != 200 {
				t.Fatalf("create: %+v %v", j, err)
			}
			if _, err := s1.Job(ctx, "team-b", j.ID); err == nil {
				t.Fatal("another tenant sees the job")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				ls, _ := st.Lines(ctx, j.ID)
				if len(ls) >= 60 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d lines answered", len(ls))
				}
				time.Sleep(5 * time.Millisecond)
			}
			_ = s1.Close() // the restart: blocked lines are abandoned
			before, _ := st.Lines(ctx, j.ID)

			second := &echo{}
			s2 := newService(t, second, st)
			defer s2.Close()
			j = waitJob(t, s2, "team-a", j.ID, func(j *Job) bool { return j.Status == StatusCompleted })
			if int(second.calls.Load()) != 200-len(before) {
				t.Fatalf("after restart %d calls for %d missing lines", second.calls.Load(), 200-len(before))
			}
			if j.RequestCounts != (RequestCounts{Total: 200, Completed: 196, Failed: 4}) || j.OutputFileID == nil {
				t.Fatalf("counts %+v output %v", j.RequestCounts, j.OutputFileID)
			}
			out, err := s2.FileContent(ctx, "team-a", *j.OutputFileID)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			i := 0
			for sc.Scan() {
				var lr LineResult
				if err := json.Unmarshal(sc.Bytes(), &lr); err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("req-%03d", i); lr.CustomID != want || lr.Response == nil {
					t.Fatalf("line %d: custom_id %q, want %q", i, lr.CustomID, want)
				}
				if i%50 == 7 {
					if lr.Response.StatusCode != 400 || !strings.Contains(string(lr.Response.Body), "rejected line") {
						t.Fatalf("line %d: %d %s", i, lr.Response.StatusCode, lr.Response.Body)
					}
				} else {
					var resp llm.Response
					if lr.Response.StatusCode != 200 || json.Unmarshal(lr.Response.Body, &resp) != nil ||
						resp.Choices[0].Message.Content.Text() != fmt.Sprintf("echo: question %d", i) {
						t.Fatalf("line %d: %d %s", i, lr.Response.StatusCode, lr.Response.Body)
					}
				}
				i++
			}
			if i != 200 {
				t.Fatalf("%d output lines", i)
			}
		})
	}
}

// TestCreateJobErrors: bad parameters and bad lines are refused in the
// OpenAI way; the admission hook can refuse a job.
func TestCreateJobErrors(t *testing.T) {
	ctx := context.Background()
	s, err := New(Options{Completer: &echo{}, Admit: func(_ context.Context, tenant string, lines, tokens int) error {
		if tenant == "poor" {
			return &llm.Error{Kind: llm.KindRateLimited, Message: "budget exceeded"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good, _ := s.CreateFile(ctx, "t", "in.jsonl", PurposeBatch, inputFile(3))
	poorFile, _ := s.CreateFile(ctx, "poor", "in.jsonl", PurposeBatch, inputFile(3))
	bad, _ := s.CreateFile(ctx, "t", "bad.jsonl", PurposeBatch, []byte("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\nnot json\n{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\n"))
	cases := []struct {
		name   string
		tenant string
		p      CreateParams
		kind   llm.Kind
		failed int // > 0: a job in status failed with that many errors
	}{
		{"no file", "t", CreateParams{Endpoint: EndpointChat, CompletionWindow: "24h"}, llm.KindInvalidRequest, 0},
		{"wrong endpoint", "t", CreateParams{InputFileID: good.ID, Endpoint: "/v1/embeddings", CompletionWindow: "24h"}, llm.KindInvalidRequest, 0},
		{"wrong window", "t", CreateParams{InputFileID: good.ID, Endpoint: EndpointChat, CompletionWindow: "1h"}, llm.KindInvalidRequest, 0},
		{"other tenant's file", "u", CreateParams{InputFileID: good.ID, Endpoint: EndpointChat, CompletionWindow: "24h"}, llm.KindUnknownModel, 0},
		{"over budget", "poor", CreateParams{InputFileID: poorFile.ID, Endpoint: EndpointChat, CompletionWindow: "24h"}, llm.KindRateLimited, 0},
		{"bad lines", "t", CreateParams{InputFileID: bad.ID, Endpoint: EndpointChat, CompletionWindow: "24h"}, 0, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := s.CreateJob(ctx, tc.tenant, tc.p)
			if tc.failed > 0 {
				if err != nil || j.Status != StatusFailed || j.Errors == nil || len(j.Errors.Data) != tc.failed {
					t.Fatalf("%+v %v", j, err)
				}
				return
			}
			if e := llm.AsError(err); err == nil || e.Kind != tc.kind {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
		})
	}
}

// TestCancel: a cancelled job stops sending lines and ends cancelled with
// the lines answered so far plus a batch_cancelled error for the rest.
func TestCancel(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore()
	s := newService(t, &echo{block: 10}, st)
	defer s.Close()
	f, _ := s.CreateFile(ctx, "t", "in.jsonl", PurposeBatch, inputFile(40))
	j, err := s.CreateJob(ctx, "t", CreateParams{InputFileID: f.ID, Endpoint: EndpointChat, CompletionWindow: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, s, "t", j.ID, func(j *Job) bool { ls, _ := st.Lines(ctx, j.ID); return len(ls) >= 10 })
	if c, err := s.Cancel(ctx, "t", j.ID); err != nil || c.Status != StatusCancelling {
		t.Fatalf("%+v %v", c, err)
	}
	j = waitJob(t, s, "t", j.ID, func(j *Job) bool { return j.Status == StatusCancelled })
	if j.RequestCounts.Total != 40 || j.RequestCounts.Completed+j.RequestCounts.Failed != 40 || j.RequestCounts.Completed > 10 {
		t.Fatalf("counts %+v", j.RequestCounts)
	}
	if _, err := s.Cancel(ctx, "t", j.ID); err == nil {
		t.Fatal("cancelling a cancelled job must fail")
	}
}

// TestLease: one owner at a time; renewal by the owner; release; an expired
// lease may be taken over.
func TestLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) Store
	}{
		{"memory", func(*testing.T) Store { return NewMemStore() }},
		{"postgres", func(t *testing.T) Store {
			db := pgtest.New(t)
			if err := migrations.Apply(context.Background(), db.Pool, db.Schema); err != nil {
				t.Fatal(err)
			}
			return NewPGStore(db.Pool)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := tc.make(t)
			if err := st.PutJob(ctx, &Job{ID: "batch_1", Tenant: "t", Status: StatusInProgress, CreatedAt: 1}); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				owner string
				ttl   time.Duration
				want  bool
			}{
				{"a", time.Minute, true},
				{"b", time.Minute, false}, // a holds it
				{"a", time.Minute, true},  // renewal
				{"a", 0, true},            // release
				{"b", 50 * time.Millisecond, true},
				{"a", time.Minute, false},
			}
			for i, s := range steps {
				got, err := st.Lease(ctx, "batch_1", s.owner, s.ttl)
				if err != nil || got != s.want {
					t.Fatalf("step %d (%s): %v %v, want %v", i, s.owner, got, err, s.want)
				}
			}
			time.Sleep(100 * time.Millisecond) // b's lease expires
			if got, err := st.Lease(ctx, "batch_1", "a", time.Minute); err != nil || !got {
				t.Fatalf("expired lease not taken over: %v %v", got, err)
			}
		})
	}
}
