package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"llmrouter/llm/llmtest"
)

// TestCacheTuneReportsHitRatioAndOutcomes runs `llmrouter cache tune` on
// STS-B train with the default (lexical) config: the table puts the hit
// ratio next to the precision; a target the data supports is recommended
// (exit 0); at 0.99 the default -min-hits (100) is not reached, and it says
// how many hits it saw and how many it needs (exit 1); -min-hits lowers
// that bar.
func TestCacheTuneReportsHitRatioAndOutcomes(t *testing.T) {
	pairs := llmtest.Dataset(t, "stsb/sts-train.csv")
	tune := func(extra ...string) (int, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"cache", "tune", "-config", "../../configs/default.yaml", "--stsb", "--pairs", pairs, "-from", "0.85"}, extra...)
		code := run(args, strings.NewReader(""), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	code, out := tune("-precision", "0.95")
	if code != 0 || !regexp.MustCompile(`recommended threshold: 0\.\d{3} \(hit ratio 0\.\d{4}, precision (0\.9[5-9]|1\.0)\d* >= 0\.95 on \d+ hits`).MatchString(out) {
		t.Fatalf("at 0.95: exit %d\n%s", code, out)
	}
	if !regexp.MustCompile(`threshold\s+hit ratio\s+precision\s+hits`).MatchString(out) {
		t.Errorf("table header lacks threshold, hit ratio, precision, hits:\n%s", out)
	}

	code, out = tune("-precision", "0.99")
	m := regexp.MustCompile(`no recommendation yet: threshold 0\.\d{3} keeps precision \S+ >= 0\.99 but on (\d+) hits; 100 are needed`).FindStringSubmatch(out)
	if code != 1 || m == nil || strings.Contains(out, "recommended threshold") {
		t.Fatalf("at 0.99: exit %d\n%s", code, out)
	}

	code, out = tune("-precision", "0.99", "-min-hits", "20")
	if code != 0 || !strings.Contains(out, "recommended threshold:") {
		t.Fatalf("at 0.99 with -min-hits 20: exit %d\n%s", code, out)
	}

	if code, out := tune("-precision", "1.5"); code != 2 {
		t.Fatalf("-precision 1.5: exit %d\n%s", code, out)
	}
}
