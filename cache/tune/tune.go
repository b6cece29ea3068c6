// Package tune measures how well an embedder (and the cache guard) separates
// prompt pairs that one cached answer may serve from pairs it must not, and
// recommends a similarity threshold. `llmrouter cache tune` is built on it.
package tune

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"llmrouter/cache/guard"
	"llmrouter/embeddings"
	"llmrouter/llm"
)

// Pair is two prompts and whether one answer serves both.
type Pair struct {
	A, B string
	Same bool
}

// DefaultSTSBMinScore is the STS-B score at or above which a pair counts as
// "the same answer serves both". STS-B scores 5 for paraphrases, 4 for
// "mostly equivalent, unimportant details differ", 3 for "roughly
// equivalent, important information differs". 4.0 keeps every "mostly
// equivalent" pair as positive: a threshold that is precise against these
// labels does not refuse near-paraphrases, while pairs where important
// information differs (below 4) count as false hits.
const DefaultSTSBMinScore = 4.0

// ReadPairs reads the tune file format: one pair per line, tab-separated
// text1, text2, label, where label 1 means the same answer serves both and 0
// means it does not. Blank lines and lines starting with '#' are skipped.
// Every malformed line is reported, with its line number, in one error.
func ReadPairs(r io.Reader) ([]Pair, error) {
	var pairs []Pair
	var bad []string
	err := eachLine(r, func(n int, line string) {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			return
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			bad = append(bad, fmt.Sprintf("line %d: want 3 tab-separated fields, got %d", n, len(f)))
			return
		}
		var same bool
		switch strings.TrimSpace(f[2]) {
		case "1":
			same = true
		case "0":
		default:
			bad = append(bad, fmt.Sprintf("line %d: label must be 0 or 1, got %q", n, f[2]))
			return
		}
		pairs = append(pairs, Pair{A: f[0], B: f[1], Same: same})
	})
	return pairs, joinErrors(err, bad)
}

// ReadSTSB reads STS Benchmark rows (tab-separated: genre, file, year, id,
// score, sentence 1, sentence 2, then sometimes extra columns, which are
// ignored). A pair is Same when its score >= minScore (see
// DefaultSTSBMinScore). Malformed rows are reported with line numbers.
func ReadSTSB(r io.Reader, minScore float64) ([]Pair, error) {
	var pairs []Pair
	var bad []string
	err := eachLine(r, func(n int, line string) {
		if strings.TrimSpace(line) == "" {
			return
		}
		f := strings.Split(line, "\t")
		if len(f) < 7 {
			bad = append(bad, fmt.Sprintf("line %d: want at least 7 tab-separated fields, got %d", n, len(f)))
			return
		}
		score, err := strconv.ParseFloat(strings.TrimSpace(f[4]), 64)
		if err != nil || score < 0 || score > 5 {
			bad = append(bad, fmt.Sprintf("line %d: score %q is not a number in [0, 5]", n, f[4]))
			return
		}
		pairs = append(pairs, Pair{A: f[5], B: f[6], Same: score >= minScore})
	})
	return pairs, joinErrors(err, bad)
}

func eachLine(r io.Reader, f func(n int, line string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		f(n, strings.TrimSuffix(sc.Text(), "\r"))
	}
	return sc.Err()
}

// joinErrors reports a read error, or up to 20 bad lines (and how many more).
func joinErrors(readErr error, bad []string) error {
	if readErr != nil {
		return fmt.Errorf("read pairs: %w", readErr)
	}
	if len(bad) == 0 {
		return nil
	}
	msg := bad
	if len(msg) > 20 {
		msg = append(msg[:20:20], fmt.Sprintf("... and %d more bad lines", len(bad)-20))
	}
	return fmt.Errorf("%d bad lines:\n%s", len(bad), strings.Join(msg, "\n"))
}

// Row is the outcome at one threshold. A pair is a hit when the cosine
// similarity of its two embeddings is >= Threshold and (when the guard is
// used) guard.Check accepts it.
type Row struct {
	Threshold float64
	Precision float64 // TP / (TP + FP); 0 when there are no hits
	Recall    float64 // TP / (TP + FN); 0 when there are no Same pairs
	HitRate   float64 // (TP + FP) / pairs
	TP        int     // hits on Same pairs (correct cache hits)
	FP        int     // hits on different pairs (a wrong answer served)
	FN        int     // misses on Same pairs (a lost hit)
	TN        int     // misses on different pairs
}

// Hits returns TP + FP.
func (r Row) Hits() int { return r.TP + r.FP }

// Thresholds returns from, from+step, ..., up to and including to.
func Thresholds(from, to, step float64) []float64 {
	var ts []float64
	for i := 0; ; i++ {
		t := math.Round((from+float64(i)*step)*1e6) / 1e6
		if t > to+1e-9 {
			return ts
		}
		ts = append(ts, t)
	}
}

// Batch sizes and deadlines of the embedding calls Evaluate makes.
const (
	evalBatch        = 256
	evalBatchTimeout = 60 * time.Second
)

// Evaluate embeds every text of pairs with e (in batches of 256, each with
// a 60 s deadline inside ctx) and returns one Row per threshold, in the
// order given. With useGuard, pairs that guard.Check refuses never hit.
func Evaluate(ctx context.Context, e embeddings.Embedder, pairs []Pair, thresholds []float64, useGuard bool) ([]Row, error) {
	sims, err := Similarities(ctx, e, pairs)
	if err != nil {
		return nil, err
	}
	guardOK := make([]bool, len(pairs))
	for i, p := range pairs {
		guardOK[i] = !useGuard
		if useGuard {
			guardOK[i], _ = guard.Check(p.A, p.B)
		}
	}
	rows := make([]Row, len(thresholds))
	for k, t := range thresholds {
		r := Row{Threshold: t}
		for i, p := range pairs {
			hit := sims[i] >= t && guardOK[i]
			switch {
			case hit && p.Same:
				r.TP++
			case hit:
				r.FP++
			case p.Same:
				r.FN++
			default:
				r.TN++
			}
		}
		if r.Hits() > 0 {
			r.Precision = float64(r.TP) / float64(r.Hits())
		}
		if r.TP+r.FN > 0 {
			r.Recall = float64(r.TP) / float64(r.TP+r.FN)
		}
		if len(pairs) > 0 {
			r.HitRate = float64(r.Hits()) / float64(len(pairs))
		}
		rows[k] = r
	}
	return rows, nil
}

// Similarities returns the cosine similarity of each pair's embeddings.
// Each distinct text is embedded once.
func Similarities(ctx context.Context, e embeddings.Embedder, pairs []Pair) ([]float64, error) {
	index := make(map[string]int)
	var texts []string
	for _, p := range pairs {
		for _, s := range [2]string{p.A, p.B} {
			if _, ok := index[s]; !ok {
				index[s] = len(texts)
				texts = append(texts, s)
			}
		}
	}
	vecs := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += evalBatch {
		batch := texts[start:min(start+evalBatch, len(texts))]
		bctx, cancel := context.WithTimeout(ctx, evalBatchTimeout)
		vs, err := e.Embed(bctx, batch)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("embed with %s: %w", e.Name(), err)
		}
		if len(vs) != len(batch) {
			return nil, &llm.Error{Kind: llm.KindUpstreamError, Message: fmt.Sprintf("embedder %s returned %d vectors for %d texts", e.Name(), len(vs), len(batch))}
		}
		vecs = append(vecs, vs...)
	}
	sims := make([]float64, len(pairs))
	for i, p := range pairs {
		sims[i] = embeddings.Cosine(vecs[index[p.A]], vecs[index[p.B]])
	}
	return sims, nil
}

// MinHits is the fewest hits a row needs before Recommend trusts its
// precision: with fewer, one lucky pair decides the figure.
const MinHits = 20

// Recommend returns the lowest threshold whose row, and every row with a
// higher threshold that has at least MinHits hits, keeps precision >=
// targetPrecision; the row itself must have at least MinHits hits. ok is
// false when no row qualifies (then raise the target data size or accept a
// lower target). rows may be in any order.
func Recommend(rows []Row, targetPrecision float64) (Row, bool) {
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b Row) int { return cmpFloat(b.Threshold, a.Threshold) })
	var best Row
	found := false
	for _, r := range sorted { // highest threshold first
		if r.Hits() < MinHits {
			continue
		}
		if r.Precision < targetPrecision {
			break
		}
		best, found = r, true
	}
	return best, found
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Write prints rows as an aligned table, marking the recommended row with
// "<=" (rec is ignored when ok is false).
func Write(w io.Writer, rows []Row, rec Row, ok bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\tprecision\trecall\thit rate\tTP\tFP\tFN\tTN\t\t")
	for _, r := range rows {
		prec := "-"
		if r.Hits() > 0 {
			prec = fmt.Sprintf("%.4f", r.Precision)
		}
		mark := ""
		if ok && r.Threshold == rec.Threshold {
			mark = "<= recommended"
		}
		fmt.Fprintf(tw, "%.3f\t%s\t%.4f\t%.4f\t%d\t%d\t%d\t%d\t%s\t\n",
			r.Threshold, prec, r.Recall, r.HitRate, r.TP, r.FP, r.FN, r.TN, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !ok {
		_, err := fmt.Fprintf(w, "no threshold reaches the target precision with at least %d hits\n", MinHits)
		return err
	}
	_, err := fmt.Fprintf(w, "recommended threshold: %.3f (precision %.4f, recall %.4f, hit rate %.4f)\n",
		rec.Threshold, rec.Precision, rec.Recall, rec.HitRate)
	return err
}
