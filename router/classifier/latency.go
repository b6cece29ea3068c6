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

// spinSink keeps spin's result live.
var spinSink uint64

// spin does n steps of pure arithmetic: no memory, no calls, no
// allocation.
func spin(n int) {
	x := spinSink | 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink = x
}

// MachineLatency is the baseline for Latency's p99: it calibrates a loop of
// pure arithmetic to take median (about) and returns the p50 and p99 of
// runs timed calls of it. On a shared or virtual machine the p99 of such a
// loop is set by what the machine does to a running thread (interrupts,
// another tenant, the hypervisor), not by the code: a classifier whose p99
// is close to this figure has no tail of its own.
func MachineLatency(median time.Duration, runs int) (p50, p99 time.Duration) {
	if runs < 100 {
		runs = 100
	}
	n := 1 << 10
	for {
		start := time.Now()
		spin(n)
		if d := time.Since(start); d >= 2*time.Millisecond {
			n = int(float64(n) * float64(median) / float64(d))
			break
		}
		n *= 2
	}
	n = max(n, 1)
	d := make([]time.Duration, runs)
	for i := range d {
		start := time.Now()
		spin(n)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[runs/2], d[(runs*99)/100]
}
