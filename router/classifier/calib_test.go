package classifier

import (
	"fmt"
	"os"
	"testing"

	"llmrouter/llm"
)

// TestPrintSplit prints the tier split per shared set (go test -v -run PrintSplit).
func TestPrintSplit(t *testing.T) {
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	verbose := os.Getenv("CLASSIFIER_DUMP")
	for _, ds := range loadDatasets(t) {
		var n [4]int
		for i, r := range ds.reqs {
			d := c.Classify(r)
			n[d.Tier]++
			if verbose == ds.name || verbose == ds.name+":"+d.Tier.String() {
				txt := r.Messages[0].Content.Text()
				if len(txt) > 160 {
					txt = txt[:160]
				}
				fmt.Printf("%d %s %.2f %v %q\n", i, d.Tier, d.Score, d.Reasons, txt)
			}
		}
		tot := float64(len(ds.reqs))
		t.Logf("%-14s small %5.1f%% medium %5.1f%% large %5.1f%%", ds.name, 100*float64(n[llm.TierSmall])/tot, 100*float64(n[llm.TierMedium])/tot, 100*float64(n[llm.TierLarge])/tot)
	}
}
