package classifier

import (
	"math"
	"testing"
)

// TestEstimateWithinTenPercent compares the token estimate with the exact
// cl100k_base count on every prompt of the shared sets: the aggregate within
// 2%, and each prompt of more than 50 tokens within 10%, except for a
// handful (at most 0.5%) of outliers that must still be within 15%
// (prompts made of rare words: Latin taxonomy, code with odd identifiers).
func TestEstimateWithinTenPercent(t *testing.T) {
	enc, err := loadCL100K()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var exactSum, estSum float64
	var long, outside int
	for _, ds := range loadDatasets(t) {
		for i, req := range ds.reqs {
			text := req.Messages[0].Content.Text()
			s := &scanner{kw: c.kw, vocab: c.vocab}
			s.text(text, true)
			est := float64(estimateText(&s.c))
			exact := float64(len(enc.EncodeOrdinary(text)))
			exactSum += exact
			estSum += est
			if exact <= 50 {
				continue
			}
			long++
			rel := math.Abs(est-exact) / exact
			if rel > 0.10 {
				outside++
				t.Logf("%s[%d]: estimate %v, exact %v (%.0f%%)", ds.name, i, est, exact, 100*rel)
			}
			if rel > 0.15 {
				t.Errorf("%s[%d]: estimate %v, exact %v: off by %.0f%%", ds.name, i, est, exact, 100*rel)
			}
		}
	}
	if agg := math.Abs(estSum-exactSum) / exactSum; agg > 0.02 {
		t.Errorf("aggregate estimate %v vs exact %v: off by %.1f%%", estSum, exactSum, 100*agg)
	}
	if float64(outside) > 0.005*float64(long) {
		t.Errorf("%d of %d prompts over 50 tokens are more than 10%% off", outside, long)
	}
	t.Logf("%d prompts over 50 tokens, %d outside 10%%; aggregate %.0f vs %.0f", long, outside, estSum, exactSum)
}
