package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"llmrouter/provider/fake"
)

func TestLoadgenAgainstProxy(t *testing.T) {
	up := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{}))
	_, base := startApp(t, `
auth: {mode: none}
providers:
  - {name: up, type: openai, base_url: "`+up.URL+`/v1"}
cache: {exact: {enabled: true}}
`+oneUpstreamTiers("up", "gpt-4o-mini"), nil)
	f := filepath.Join(t.TempDir(), "p.jsonl")
	lines := `{"prompt":"hello"}
{"question":"what is 2+2?"}
{"turns":["tell me a joke","another"]}
{"instruction":"name a colour"}
{"messages":[{"role":"user","content":"hi"}],"model":"auto"}
`
	if err := os.WriteFile(f, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := run([]string{"loadgen", "-url", base, "-rate", "0", "-concurrency", "3", "-requests", "25", "-duration", "20s", f}, nil, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "sent 25 ok 25") {
		t.Fatalf("code %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, bad := range [][]string{{"loadgen", "-concurrency", "0", f}, {"loadgen", "-stream", "2", f}} {
		if code := run(bad, nil, &out, &errb); code != 2 {
			t.Errorf("%v: code %d", bad, code)
		}
	}
	if defaultPromptFiles() == nil {
		t.Error("the shared prompt sets were not found")
	}
}
