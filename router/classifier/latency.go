package classifier

import (
	"slices"
	"time"

	"llmrouter/llm"
)

// Latency classifies req runs times (at least 100) and returns the median
// and 99th-percentile wall time of one Classify call. It is meant for
// benchmark reports (make bench), not for tests: timings depend on the
// machine and its load.
func Latency(c *Classifier, req *llm.Request, runs int) (p50, p99 time.Duration) {
	if runs < 100 {
		runs = 100
	}
	for i := 0; i < runs/10; i++ { // warm up pools and caches
		c.Classify(req)
	}
	d := make([]time.Duration, runs)
	for i := range d {
		start := time.Now()
		c.Classify(req)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[runs/2], d[(runs*99)/100]
}
