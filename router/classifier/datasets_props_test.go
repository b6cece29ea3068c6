package classifier

import (
	"bytes"
	"testing"

	"llmrouter/llm"
)

// TestSharedSetSplits asserts properties of the shipped defaults on the
// shared prompt sets, not exact figures: multi-step math word problems and
// coding problems go above small, simple instructions stay small, and the
// mixed set sends at most 60% above small.
func TestSharedSetSplits(t *testing.T) {
	c := newDefault(t)
	above := map[string]float64{}
	var mixedAbove, mixedTotal float64
	for _, ds := range loadDatasets(t) {
		var n [llm.TierLarge + 1]float64
		for _, r := range ds.reqs {
			n[c.Classify(r).Tier]++
		}
		total := float64(len(ds.reqs))
		above[ds.name] = (n[llm.TierMedium] + n[llm.TierLarge]) / total
		t.Logf("%-14s small %5.1f%%  medium %5.1f%%  large %5.1f%%", ds.name,
			100*n[llm.TierSmall]/total, 100*n[llm.TierMedium]/total, 100*n[llm.TierLarge]/total)
		// The mixed set: each kind weighs the same, whatever its file size.
		mixedAbove += above[ds.name]
		mixedTotal++
	}
	checks := []struct {
		name string
		ok   bool
		msg  string
	}{
		{"gsm8k", above["gsm8k"] >= 0.45 && above["gsm8k"] <= 0.80, "between 45% and 80% of grade-school word problems above small (the harder ones: see TestWordProblemsByDifficulty)"},
		{"humaneval", above["humaneval"] >= 0.90, "at least 90% of coding problems at medium or large"},
		{"self_instruct", above["self_instruct"] <= 0.20, "at least 80% of simple instructions small"},
		{"mt_bench", above["mt_bench"] >= 0.20 && above["mt_bench"] <= 0.70, "MT-Bench split between small and above"},
		{"mixed", mixedAbove/mixedTotal <= 0.60, "at most 60% above small across the four kinds"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: want %s; got %.0f%% above small (mixed %.0f%%)", ch.name, ch.msg, 100*above[ch.name], 100*mixedAbove/mixedTotal)
		}
	}
}

// TestMTBenchByCategory checks the kind of task decides: math, coding and
// reasoning questions go up more often than writing, roleplay and
// humanities.
func TestMTBenchByCategory(t *testing.T) {
	c := newDefault(t)
	for _, ds := range loadDatasets(t) {
		if ds.name != "mt_bench" {
			continue
		}
		up := map[string][2]int{}
		for i, r := range ds.reqs {
			_, fields, err := parseLineFields(ds.lines[i])
			if err != nil {
				t.Fatal(err)
			}
			cat := fields
			v := up[cat]
			v[1]++
			if c.Classify(r).Tier > llm.TierSmall {
				v[0]++
			}
			up[cat] = v
		}
		share := func(cats ...string) float64 {
			var a, n int
			for _, c := range cats {
				a += up[c][0]
				n += up[c][1]
			}
			return float64(a) / float64(n)
		}
		hard, soft := share("math", "coding"), share("writing", "roleplay", "humanities")
		if hard < 0.7 || soft > 0.3 {
			t.Errorf("math+coding above small %.0f%% (want >= 70%%), writing+roleplay+humanities %.0f%% (want <= 30%%)", 100*hard, 100*soft)
		}
	}
}

// TestWordProblemsByDifficulty checks that the grade-school math sent above
// small is the harder part: GSM8K answers record their calculation steps
// (<<...>>), and small models fail mostly on the many-step problems.
func TestWordProblemsByDifficulty(t *testing.T) {
	c := newDefault(t)
	for _, ds := range loadDatasets(t) {
		if ds.name != "gsm8k" {
			continue
		}
		var easyUp, easyN, hardUp, hardN float64
		for i, r := range ds.reqs {
			steps := bytes.Count(ds.lines[i], []byte("<<"))
			up := c.Classify(r).Tier > llm.TierSmall
			switch {
			case steps <= 2:
				easyN++
				if up {
					easyUp++
				}
			case steps >= 4:
				hardN++
				if up {
					hardUp++
				}
			}
		}
		t.Logf("gsm8k: %.0f%% of <=2-step problems above small, %.0f%% of >=4-step", 100*easyUp/easyN, 100*hardUp/hardN)
		if hardUp/hardN < 0.80 {
			t.Errorf("only %.0f%% of >=4-step word problems go above small; want >= 80%%", 100*hardUp/hardN)
		}
		if easyUp/easyN > 0.55 {
			t.Errorf("%.0f%% of <=2-step word problems go above small; want <= 55%%", 100*easyUp/easyN)
		}
		if hardUp/hardN-easyUp/easyN < 0.35 {
			t.Errorf("the classifier barely tells hard from easy word problems: %.0f%% vs %.0f%%", 100*hardUp/hardN, 100*easyUp/easyN)
		}
		return
	}
	t.Fatal("gsm8k dataset not loaded")
}
