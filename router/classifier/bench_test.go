package classifier

import (
	"strings"
	"testing"

	"llmrouter/llm"
)

// benchPrompt builds a user request of about n cl100k tokens from the shared
// prompt sets (a mix of prose, numbers and code), or from a fixed paragraph
// when they are absent.
func benchPrompt(tb testing.TB, n int) *llm.Request {
	tb.Helper()
	c, err := New(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var pieces []string
	for _, ds := range loadDatasetsOrNil(tb) {
		for i := 0; i < len(ds.reqs) && i < 40; i++ {
			pieces = append(pieces, ds.reqs[i].Messages[0].Content.Text())
		}
	}
	if len(pieces) == 0 {
		pieces = []string{"Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?\n```python\ndef f(x):\n    return x * 2\n```\n"}
	}
	var b strings.Builder
	for i := 0; ; i++ {
		b.WriteString(pieces[(i*7)%len(pieces)])
		b.WriteString("\n\n")
		req := &llm.Request{Messages: []llm.Message{{Role: "user", Content: llm.TextContent(b.String())}}}
		if c.Classify(req).Tokens >= n {
			return req
		}
	}
}

func loadDatasetsOrNil(tb testing.TB) (out []dataset) {
	defer func() { _ = recover() }()
	t, ok := tb.(*testing.T)
	if !ok {
		return nil
	}
	return loadDatasets(t)
}

func BenchmarkClassify(b *testing.B) {
	c, err := New(DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 500, 2000} {
		req := benchPrompt(b, n)
		b.Run(strings.Join([]string{"tokens", itoa(n)}, "="), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(req)
			}
		})
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10)))
}
