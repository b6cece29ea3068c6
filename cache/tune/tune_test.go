package tune

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"llmrouter/embeddings"
	"llmrouter/llm/llmtest"
)

func TestReadPairs(t *testing.T) {
	in := "# comment\nhow do i x\thow can i x\t1\n\nwhat is 5\twhat is 6\t0\r\nbad line\nA\tB\tyes\n"
	pairs, err := ReadPairs(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 5:") || !strings.Contains(err.Error(), "line 6:") {
		t.Fatalf("err = %v, want lines 5 and 6 reported", err)
	}
	want := []Pair{{"how do i x", "how can i x", true}, {"what is 5", "what is 6", false}}
	if len(pairs) != 2 || pairs[0] != want[0] || pairs[1] != want[1] {
		t.Errorf("pairs = %+v, want %+v", pairs, want)
	}
	if _, err := ReadPairs(strings.NewReader("a\tb\t1\n")); err != nil {
		t.Errorf("good file: %v", err)
	}
}

func TestReadSTSB(t *testing.T) {
	in := "g\tf\t2012\t0001\t5.000\tA man.\tA man!\n" +
		"g\tf\t2012\t0002\t3.800\tA dog.\tA cat.\textra\tcolumns\n" +
		"g\tf\t2012\t0003\t4.000\tX\tY\n" +
		"g\tf\t2012\t0004\tfive\tX\tY\n" +
		"short\tline\n"
	pairs, err := ReadSTSB(strings.NewReader(in), 4)
	if err == nil || !strings.Contains(err.Error(), "line 4:") || !strings.Contains(err.Error(), "line 5:") {
		t.Fatalf("err = %v, want lines 4 and 5 reported", err)
	}
	want := []Pair{{"A man.", "A man!", true}, {"A dog.", "A cat.", false}, {"X", "Y", true}}
	if len(pairs) != len(want) {
		t.Fatalf("pairs = %+v", pairs)
	}
	for i := range want {
		if pairs[i] != want[i] {
			t.Errorf("pair %d = %+v, want %+v", i, pairs[i], want[i])
		}
	}
}

func TestEvaluateCounts(t *testing.T) {
	pairs := []Pair{
		{"What is the capital of France?", "what is the capital of france", true}, // sim 1, guard ok
		{"What is 15% of 80?", "What is 15% of 90?", false},                       // guard refuses
		{"write a sorting function", "tell me a joke about cats", false},          // dissimilar
		{"Explain recursion", "Describe how recursive functions work", true},      // lexical miss
	}
	rows, err := Evaluate(context.Background(), embeddings.NewLexical(0), pairs, []float64{-1, 0.99}, true)
	if err != nil {
		t.Fatal(err)
	}
	// at -1 every guarded pair hits: TP 2, FP 1 (the joke), refused 15%-pair is a TN
	if r := rows[0]; r.TP != 2 || r.FP != 1 || r.FN != 0 || r.TN != 1 || r.HitRate != 0.75 {
		t.Errorf("row at -1 = %+v", r)
	}
	if r := rows[1]; r.TP != 1 || r.FP != 0 || r.FN != 1 || r.TN != 2 || r.Precision != 1 || r.Recall != 0.5 {
		t.Errorf("row at 0.99 = %+v", r)
	}
	unguarded, err := Evaluate(context.Background(), embeddings.NewLexical(0), pairs, []float64{-1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if r := unguarded[0]; r.FP != 2 || r.TN != 0 {
		t.Errorf("unguarded row at -1 = %+v", r)
	}
}

func TestRecommend(t *testing.T) {
	row := func(th float64, tp, fp int) Row {
		return Row{Threshold: th, TP: tp, FP: fp, TN: 1000 - tp - fp, Precision: float64(tp) / float64(max(tp+fp, 1)), HitRate: float64(tp+fp) / 1000}
	}
	tests := []struct {
		name    string
		rows    []Row
		minHits int
		want    float64
		outcome Outcome
		seen    int
	}{
		{"loosest precise", []Row{row(0.8, 90, 10), row(0.9, 99, 1), row(0.95, 50, 0)}, 20, 0.9, Recommended, 0},
		{"any order", []Row{row(0.95, 50, 0), row(0.8, 90, 10), row(0.9, 99, 1)}, 20, 0.9, Recommended, 0},
		{"dip above stops the scan", []Row{row(0.8, 200, 1), row(0.9, 90, 10), row(0.95, 50, 0)}, 20, 0.95, Recommended, 0},
		{"min hits raises the bar", []Row{row(0.8, 90, 10), row(0.9, 99, 1), row(0.95, 50, 0)}, 100, 0.9, Recommended, 0},
		{"too few hits", []Row{row(0.9, 5, 0), row(0.95, 3, 0)}, 20, 0.9, TooFewHits, 5},
		{"too few for the default at 0.99", []Row{row(0.9, 60, 0), row(0.95, 30, 0)}, 0, 0.9, TooFewHits, 60},
		{"no hits at all", []Row{row(0.9, 0, 0)}, 20, 0, TooFewHits, 0},
		{"never precise", []Row{row(0.9, 50, 50)}, 20, 0.9, Imprecise, 0},
		{"precise only on few hits above an imprecise row", []Row{row(0.8, 50, 50), row(0.95, 3, 0)}, 20, 0.95, TooFewHits, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Recommend(tt.rows, 0.99, tt.minHits)
			if got.Outcome != tt.outcome || got.Row.Threshold != tt.want || got.Seen != tt.seen {
				t.Errorf("Recommend = %+v; want outcome %v at %v, seen %d", got, tt.outcome, tt.want, tt.seen)
			}
			if tt.outcome == TooFewHits && tt.seen > 0 && got.MorePairs <= 0 {
				t.Errorf("MorePairs = %d, want > 0", got.MorePairs)
			}
		})
	}
	if DefaultMinHits(0.99) != 100 || DefaultMinHits(0.9) != MinHits || DefaultMinHits(0.999) != 1000 {
		t.Errorf("DefaultMinHits: %d %d %d", DefaultMinHits(0.99), DefaultMinHits(0.9), DefaultMinHits(0.999))
	}
}

func TestThresholdsAndWrite(t *testing.T) {
	ts := Thresholds(0.9, 1, 0.05)
	if len(ts) != 3 || ts[0] != 0.9 || ts[2] != 1 {
		t.Fatalf("Thresholds = %v", ts)
	}
	rows := []Row{{Threshold: 0.9, TP: 30, FP: 0, FN: 30, TN: 40, Precision: 1, Recall: 0.5, HitRate: 0.3}, {Threshold: 0.95, FN: 60, TN: 40}}
	var buf bytes.Buffer
	if err := Write(&buf, rows, Recommend(rows, 0.99, 20)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"threshold", "hit ratio", "precision", "0.900", "0.3000", "1.0000", "recommended threshold: 0.900", "-"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The header puts hit ratio right before precision.
	if h := strings.Fields(strings.SplitN(out, "\n", 2)[0]); len(h) < 4 || h[1] != "hit" || h[3] != "precision" {
		t.Errorf("header %v", h)
	}
	buf.Reset()
	if err := Write(&buf, rows, Recommend(rows, 0.99, 100)); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "on 30 hits; 100 are needed") || !strings.Contains(out, "about 234 more labelled pairs") {
		t.Errorf("too-few-hits output:\n%s", out)
	}
}

// datasets returns the shared datasets directory (see llmtest.SharedDir).
func datasets(t *testing.T) string {
	t.Helper()
	return filepath.Join(llmtest.SharedDir(t), "datasets")
}

func readSTSB(t *testing.T, name string) []Pair {
	t.Helper()
	f, err := os.Open(filepath.Join(datasets(t), "stsb", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pairs, err := ReadSTSB(f, DefaultSTSBMinScore)
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

// TestLexicalOnSTSBDev checks properties of the shipped lexical threshold and
// the guard on STS-B dev, not exact figures (they move with tuning).
func TestLexicalOnSTSBDev(t *testing.T) {
	pairs := readSTSB(t, "sts-dev.csv")
	if len(pairs) < 1000 {
		t.Fatalf("only %d dev pairs", len(pairs))
	}
	e := embeddings.NewLexical(0)
	ths := []float64{0.7, embeddings.DefaultLexicalThreshold}
	guarded, err := Evaluate(context.Background(), e, pairs, ths, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Evaluate(context.Background(), e, pairs, ths, false)
	if err != nil {
		t.Fatal(err)
	}
	shipped := guarded[1]
	t.Logf("dev at %.2f with guard: %+v", shipped.Threshold, shipped)
	if shipped.Precision < 0.95 || shipped.Recall <= 0.005 {
		t.Errorf("at the shipped threshold: precision %.3f (want >= 0.95), recall %.4f (want > 0.005)", shipped.Precision, shipped.Recall)
	}
	// the guard removes at least a third of the false hits at a loose
	// threshold, and costs fewer true hits than it removes false ones (in
	// proportion)
	loose, looseNoGuard := guarded[0], plain[0]
	t.Logf("dev at 0.70: guard %+v, no guard %+v", loose, looseNoGuard)
	if removed := 1 - float64(loose.FP)/float64(looseNoGuard.FP); removed < 0.33 {
		t.Errorf("guard removed %.0f%% of false hits at 0.70, want >= 33%%", 100*removed)
	}
	if loose.Precision <= looseNoGuard.Precision {
		t.Errorf("guard did not raise precision at 0.70: %.3f vs %.3f", loose.Precision, looseNoGuard.Precision)
	}
}

// TestShippedThresholdOnSTSBTrain re-derives the calibration: the shipped
// lexical threshold keeps precision >= 0.99 on STS-B train with the guard.
func TestShippedThresholdOnSTSBTrain(t *testing.T) {
	pairs := readSTSB(t, "sts-train.csv")
	rows, err := Evaluate(context.Background(), embeddings.NewLexical(0), pairs, Thresholds(0.80, 1, 0.01), true)
	if err != nil {
		t.Fatal(err)
	}
	rec := Recommend(rows, 0.99, MinHits)
	if !rec.OK() || rec.Row.Threshold > embeddings.DefaultLexicalThreshold {
		t.Errorf("recommended %+v; the shipped %.2f must be at or above it", rec, embeddings.DefaultLexicalThreshold)
	}
}

func BenchmarkEvaluateSTSBDev(b *testing.B) {
	f, err := os.Open(llmtest.Dataset(b, "stsb/sts-dev.csv"))
	if err != nil {
		b.Fatal(err)
	}
	pairs, _ := ReadSTSB(f, DefaultSTSBMinScore)
	f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(context.Background(), embeddings.NewLexical(0), pairs, []float64{0.95}, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecommendOutcomesOnSTSB drives each outcome of Recommend with the
// lexical embedder and the guard on STS-B train: at a target the data can
// show (0.95, 20 hits) a recommendation whose row has the hits and the
// precision asked for; at 0.99 (100 hits needed) "too few hits" with the
// counts, because the lexical embedder keeps that precision only on a few
// dozen near-duplicate pairs; on the pairs labelled different only,
// "imprecise".
func TestRecommendOutcomesOnSTSB(t *testing.T) {
	ctx := context.Background()
	e := embeddings.NewLexical(0)
	ths := Thresholds(0.5, 1, 0.01)
	train := readSTSB(t, "sts-train.csv")
	rows, err := Evaluate(ctx, e, train, ths, true)
	if err != nil {
		t.Fatal(err)
	}

	rec := Recommend(rows, 0.95, 0)
	t.Logf("train at 0.95: %+v", rec)
	if !rec.OK() || rec.Need != MinHits || rec.Row.Hits() < rec.Need || rec.Row.Precision < 0.95 {
		t.Fatalf("train at 0.95: %+v, want a recommendation with >= %d hits", rec, MinHits)
	}
	for _, r := range rows { // the loosest: every stricter row with enough hits is precise too
		if r.Threshold > rec.Row.Threshold && r.Hits() >= rec.Need && r.Precision < 0.95 {
			t.Errorf("row %.2f above the recommendation has precision %.4f", r.Threshold, r.Precision)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, rows, rec); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("recommended threshold: %.3f", rec.Row.Threshold); !strings.Contains(buf.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, buf.String())
	}

	rec = Recommend(rows, 0.99, 0)
	t.Logf("train at 0.99: %+v", rec)
	if rec.Outcome != TooFewHits || rec.Seen == 0 || rec.Seen >= rec.Need || rec.Need != 100 || rec.MorePairs <= 0 || rec.Row.Precision < 0.99 {
		t.Fatalf("train at 0.99: %+v, want too few hits with the counts", rec)
	}
	buf.Reset()
	if err := Write(&buf, rows, rec); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("on %d hits; %d are needed", rec.Seen, rec.Need); !strings.Contains(buf.String(), want) || strings.Contains(buf.String(), "recommended threshold") {
		t.Errorf("output lacks %q or recommends:\n%s", want, buf.String())
	}

	var different []Pair
	for _, p := range train {
		if !p.Same {
			different = append(different, p)
		}
	}
	rows, err = Evaluate(ctx, e, different, ths, true)
	if err != nil {
		t.Fatal(err)
	}
	rec = Recommend(rows, 0.99, 0)
	t.Logf("different only: %+v", rec)
	if rec.Outcome != Imprecise || rec.Row.Hits() < rec.Need || rec.Row.Precision >= 0.99 {
		t.Fatalf("different pairs only: %+v, want imprecise", rec)
	}
}
