package sse

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"llmrouter/llm/llmtest"
)

type ev struct{ name, data, id string }

func readAll(t testing.TB, r *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data), e.ID})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ev
		err  error
	}{
		{"openai blocks", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []ev{{"", `{"a":1}`, ""}, {"", "[DONE]", ""}}, io.EOF},
		{"named events", "event: ping\ndata: {\"type\": \"ping\"}\n\n", []ev{{"ping", `{"type": "ping"}`, ""}}, io.EOF},
		{"multi-line data", "data: a\ndata: b\ndata:\ndata:  c\n\n", []ev{{"", "a\nb\n\n c", ""}}, io.EOF},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []ev{{"", "x", ""}, {"", "y", ""}}, io.EOF},
		{"cr only", "data: x\r\rdata: y\r\r", []ev{{"", "x", ""}, {"", "y", ""}}, io.EOF},
		{"comments skipped", ": keep-alive\n\n:x\ndata: z\n\n", []ev{{"", "z", ""}}, io.EOF},
		{"event without data is dropped", "event: a\n\ndata: b\n\n", []ev{{"", "b", ""}}, io.EOF},
		{"id persists", "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n", []ev{{"", "a", "1"}, {"", "b", "1"}, {"", "c", "2"}}, io.EOF},
		{"field without colon", "data\n\n", []ev{{"", "", ""}}, io.EOF},
		{"retry and unknown ignored", "retry: 10\nfoo: bar\ndata: q\n\n", []ev{{"", "q", ""}}, io.EOF},
		{"no final blank line", "data: [DONE]\n", []ev{{"", "[DONE]", ""}}, io.EOF},
		{"cut mid-line", "data: a\n\ndata: {\"x", []ev{{"", "a", ""}}, io.ErrUnexpectedEOF},
		{"empty", "", nil, io.EOF},
		{"name reset between events", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1", ""}, {"", "2", ""}}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "onebyte"} {
				var src io.Reader = strings.NewReader(tt.in)
				if mode == "onebyte" {
					src = iotest.OneByteReader(src)
				}
				got, err := readAll(t, NewReader(src, 1024))
				if !errors.Is(err, tt.err) {
					t.Fatalf("%s: err = %v, want %v", mode, err, tt.err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s: got %q, want %q", mode, got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("%s: event %d = %q, want %q", mode, i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", 200) + "\n\n"
	if _, err := readAll(t, NewReader(strings.NewReader(long), 100)); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: err = %v, want ErrLineTooLong", err)
	}
	// Many short data lines that add up past the limit.
	many := strings.Repeat("data: 0123456789\n", 20) + "\n"
	if _, err := readAll(t, NewReader(strings.NewReader(many), 100)); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("large event: err = %v, want ErrEventTooLarge", err)
	}
	// Errors are sticky.
	r := NewReader(strings.NewReader(long), 100)
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 != err2 {
		t.Fatalf("error not sticky: %v then %v", err1, err2)
	}
	// A line exactly at the limit is fine.
	exact := "data:" + strings.Repeat("y", 95) + "\n\n"
	got, err := readAll(t, NewReader(strings.NewReader(exact), 100))
	if err != io.EOF || len(got) != 1 || len(got[0].data) != 95 {
		t.Fatalf("exact limit: got %d events, err %v", len(got), err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom)), 0)
	got, err := readAll(t, r)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	// Data and error in the same Read.
	r = NewReader(iotest.DataErrReader(strings.NewReader("data: a\n\ndata: b\n\n")), 0)
	got, err = readAll(t, r)
	if err != io.EOF || len(got) != 2 {
		t.Fatalf("data+err: got %v, %v", got, err)
	}
}

// TestReaderFixtures parses every recorded stream and checks the framing
// facts the fixtures README lists.
func TestReaderFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(llmtest.SharedDir(t), "fixtures", "*", "*.sse"))
	if len(files) == 0 {
		t.Fatal("no .sse fixtures in shared/fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, NewReader(bytes.NewReader(b), 0))
			if err != io.EOF {
				t.Fatalf("err = %v", err)
			}
			if len(got) == 0 {
				t.Fatal("no events")
			}
			for _, e := range got {
				if e.data == "" {
					t.Fatalf("empty data in %q", e)
				}
			}
			if strings.Contains(f, "/openai/") && got[len(got)-1].data != "[DONE]" {
				t.Fatalf("openai stream does not end with [DONE]: %q", got[len(got)-1])
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), 64)
	f.Add([]byte("event: x\r\ndata: a\r\ndata: b\r\n\r\n: c\rid: 7\n\n"), 8)
	f.Add([]byte("data:"+strings.Repeat("z", 300)+"\n\n"), 100)
	files, _ := filepath.Glob(filepath.Join(llmtest.SharedDir(f), "fixtures", "*", "*.sse"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, 512)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = limit%4096 + 1
		if limit <= 0 {
			limit += 4096
		}
		r := NewReader(bytes.NewReader(in), limit)
		for i := 0; ; i++ {
			e, err := r.Next()
			if err != nil {
				if err == ErrLineTooLong || err == ErrEventTooLarge || err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				t.Fatalf("unexpected error %v", err)
			}
			if len(e.Data) > limit {
				t.Fatalf("event of %d bytes over limit %d", len(e.Data), limit)
			}
			if i > len(in) {
				t.Fatalf("more events (%d) than input bytes (%d)", i, len(in))
			}
		}
		if cap(r.line) > 2*limit+64 || cap(r.data) > 2*limit+64 {
			t.Fatalf("buffers grew past the bound: line %d data %d limit %d", cap(r.line), cap(r.data), limit)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	in, err := os.ReadFile(llmtest.Fixture(b, "openai/chat-stream-parallel-tool-calls.sse"))
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	br := bytes.NewReader(in)
	for b.Loop() {
		br.Reset(in)
		r := NewReader(br, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// TestReleaseReturnsTheBufferAndEndsTheReader: after Release the Reader
// holds no buffer (it pins nothing) and Next fails with ErrReleased.
func TestReleaseReturnsTheBufferAndEndsTheReader(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n\ndata: b\n\n"), 0)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("Next = %q, %v", ev.Data, err)
	}
	r.Release()
	r.Release() // idempotent
	if r.buf != nil || r.pooled != nil || r.data != nil || r.line != nil {
		t.Fatal("a released Reader still holds buffers")
	}
	if _, err := r.Next(); err != ErrReleased {
		t.Fatalf("Next after Release = %v, want ErrReleased", err)
	}
	// The pooled buffer serves the next Reader whole.
	r2 := NewReader(strings.NewReader("data: "+strings.Repeat("x", 5000)+"\n\n"), 0)
	if ev, err := r2.Next(); err != nil || len(ev.Data) != 5000 {
		t.Fatalf("Next = %d bytes, %v", len(ev.Data), err)
	}
}
