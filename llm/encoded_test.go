package llm

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func encodeChunkLike(id string, created int64) ([]byte, error) {
	return json.Marshal(map[string]any{"id": id, "created": created, "choices": []any{map[string]any{"delta": "created 12 id"}}})
}

func TestTemplateFillsEachClientsIDAndCreated(t *testing.T) {
	tpl, err := NewTemplate(encodeChunkLike)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id      string
		created int64
	}{{"chatcmpl-cache-0a1b", 1770933883}, {"x", 0}, {"", -5}, {"chatcmpl-2", 9223372036854775807}} {
		want, _ := encodeChunkLike(tc.id, tc.created)
		got, ok := tpl.Append([]byte("prefix:"), tc.id, tc.created)
		if !ok || string(got) != "prefix:"+string(want) {
			t.Fatalf("Append(%q, %d) = %q, %v; want prefix:%s", tc.id, tc.created, got, ok, want)
		}
	}
}

func TestTemplateRefusesIDsThatNeedEscaping(t *testing.T) {
	tpl, err := NewTemplate(encodeChunkLike)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`a"b`, `a\b`, "a\nb", "é", "<b>"} {
		if got, ok := tpl.Append([]byte("keep"), id, 1); ok || string(got) != "keep" {
			t.Fatalf("Append(%q) = %q, %v; want the caller to encode", id, got, ok)
		}
	}
}

func TestNewTemplateFailsWhenTheEncodingDoesNotTemplate(t *testing.T) {
	var n atomic.Int64
	tests := map[string]func(string, int64) ([]byte, error){
		// The id is transformed, so no hole can reproduce it.
		"id changed": func(id string, c int64) ([]byte, error) { return []byte(`{"id":"` + strings.ToUpper(id) + `"}`), nil },
		// Not a function of its arguments.
		"not deterministic": func(id string, c int64) ([]byte, error) {
			return []byte(`{"id":"` + id + `","n":` + strconv.FormatInt(n.Add(1), 10) + `}`), nil
		},
		"error": func(string, int64) ([]byte, error) { return nil, strconv.ErrSyntax },
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			if tpl, err := NewTemplate(enc); err == nil {
				t.Fatalf("NewTemplate = %v, want an error", tpl)
			}
		})
	}
}

func TestEncodingsBuildsEachShapeOnce(t *testing.T) {
	var e Encodings
	var calls atomic.Int64
	enc := func(id string, c int64) ([]byte, error) { calls.Add(1); return encodeChunkLike(id, c) }
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, shape := range []string{"a", "b"} {
				if _, ok := e.Template(shape, enc); !ok {
					t.Error("did not template")
				}
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 4 { // two shapes, two encodes each (cut and check)
		t.Fatalf("encode called %d times, want 4", calls.Load())
	}
	bad := func(string, int64) ([]byte, error) { calls.Add(1); return nil, strconv.ErrRange }
	for range 3 {
		if _, ok := e.Template("c", bad); ok {
			t.Fatal("a failing shape templated")
		}
	}
	if calls.Load() != 5 {
		t.Fatalf("a failing shape was retried: %d calls", calls.Load())
	}
}

func TestTemplateAppendDoesNotAllocate(t *testing.T) {
	tpl, err := NewTemplate(encodeChunkLike)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = tpl.Append(buf[:0], "chatcmpl-cache-1", 1770933883) }); n != 0 {
		t.Fatalf("Append allocates %.0f times", n)
	}
}
