package classifier

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
)

// dataset is one shared prompt set as requests, in file order.
type dataset struct {
	name  string
	lines [][]byte
	reqs  []*llm.Request
}

// loadDatasets reads the shared prompt sets, skipping the test when they
// are not there.
func loadDatasets(t testing.TB) []dataset {
	t.Helper()
	files := []struct{ name, file string }{
		{"gsm8k", "gsm8k_train_first1000.jsonl"},
		{"humaneval", "humaneval.jsonl"},
		{"mt_bench", "mt_bench_questions.jsonl"},
		{"self_instruct", "self_instruct_seed_tasks.jsonl"},
	}
	var out []dataset
	for _, f := range files {
		fh, err := os.Open(llmtest.Dataset(t, "prompts/"+f.file))
		if err != nil {
			t.Fatalf("shared prompt set: %v", err)
		}
		ds := dataset{name: f.name}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, maxLine)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			_, req, err := parseLine(line)
			if err != nil {
				t.Fatalf("%s: %v", f.file, err)
			}
			ds.lines = append(ds.lines, line)
			ds.reqs = append(ds.reqs, req)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		out = append(out, ds)
	}
	return out
}

// parseLineFields returns a line's request and its "category" field.
func parseLineFields(line []byte) (*llm.Request, string, error) {
	fields, req, err := parseLine(line)
	if err != nil {
		return nil, "", err
	}
	var cat string
	if raw, ok := fields["category"]; ok {
		_ = json.Unmarshal(raw, &cat)
	}
	return req, cat, nil
}
