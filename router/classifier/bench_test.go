package classifier

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
)

// benchPrompt builds a one-message request of about n cl100k tokens by
// concatenating prompts of the shared sets (prose, numbers and code mixed).
func benchPrompt(tb testing.TB, c *Classifier, n int) *llm.Request {
	tb.Helper()
	var pieces []string
	for _, ds := range loadDatasets(tb) {
		for i := 0; i < len(ds.reqs) && i < 40; i++ {
			pieces = append(pieces, ds.reqs[i].Messages[0].Content.Text())
		}
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

// BenchmarkClassify measures Classify on prompts of about 100, 500 and
// 2,000 tokens with the default (estimating) tokenizer.
func BenchmarkClassify(b *testing.B) {
	c, err := New(DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 500, 2000} {
		req := benchPrompt(b, c, n)
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(req)
			}
		})
	}
}

// BenchmarkClassifyExactBPE is the same with the exact cl100k_base
// tokenizer, for comparison.
func BenchmarkClassifyExactBPE(b *testing.B) {
	c, err := New(Options{Tokenizer: TokenizerCL100K})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 2000} {
		req := benchPrompt(b, c, n)
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(req)
			}
		})
	}
}

// BenchmarkClassifyLatency reports the p50 and p99 latency of Classify by
// prompt size as benchmark metrics (make bench puts them in BENCHMARKS.md).
// Benchmarks assert nothing about time.
func BenchmarkClassifyLatency(b *testing.B) {
	c, hand := scorers(b)
	for _, n := range []int{100, 500, 2000} {
		req := benchPrompt(b, c, n)
		b.Run(fmt.Sprintf("hand/tokens=%d", n), func(b *testing.B) {
			var p50, p99 time.Duration
			for b.Loop() {
				p50, p99 = Latency(hand, req, 2000)
			}
			b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
		})
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			var p50, p99, m99 time.Duration
			for b.Loop() {
				p50, p99 = Latency(c, req, 2000)
				_, m99 = MachineLatency(p50, 2000)
			}
			b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
			// The p99 of a pure arithmetic loop with the same median, timed
			// the same way in the same run: what the machine adds.
			b.ReportMetric(float64(m99.Nanoseconds())/1e3, "machine-p99-µs")
		})
	}
}

// TestClassifyAllocs locks the allocation count of Classify, learned and
// hand scorers, by prompt size: the reasons (one slice and one string
// holding all three) and nothing that grows with the prompt.
func TestClassifyAllocs(t *testing.T) {
	learned, hand := scorers(t)
	for _, n := range []int{100, 500, 2000} {
		req := benchPrompt(t, learned, n)
		for name, c := range map[string]*Classifier{"learned": learned, "hand": hand} {
			c.Classify(req) // warm the scanner pool
			if got := testing.AllocsPerRun(50, func() { c.Classify(req) }); got > 3 {
				t.Errorf("%s, %d tokens: Classify allocates %v times per call, want <= 3 (2 measured)", name, n, got)
			}
		}
	}
}

// scorers returns a classifier with the default (learned) scorer and one
// with the hand weights.
func scorers(tb testing.TB) (learned, hand *Classifier) {
	tb.Helper()
	learned, err := New(DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	hand, err = New(HandOptions())
	if err != nil {
		tb.Fatal(err)
	}
	return learned, hand
}
