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
// precision, whatever the target: with fewer, one lucky pair decides the
// figure.
const MinHits = 20

// DefaultMinHits is the fewest hits Recommend asks for at a target
// precision: enough that a single false hit among them would already put
// precision below the target (ceil(1 / (1 - target)): 100 at 0.99, 1000 at
// 0.999), and never fewer than MinHits. A precision measured on fewer hits
// than that cannot show the target is met.
func DefaultMinHits(target float64) int {
	if target >= 1 {
		return 10_000
	}
	n := int(math.Ceil(1/(1-target) - 1e-9))
	return max(n, MinHits)
}

// Outcome is what Recommend concluded.
type Outcome int

const (
	// Recommended: Row is the loosest threshold whose precision, and that
	// of every stricter row with enough hits, stays >= the target, with at
	// least MinHits hits.
	Recommended Outcome = iota
	// TooFewHits: some threshold kept the target precision, but on fewer
	// hits than needed. Row is the loosest such threshold (Seen hits); Need
	// hits would be needed, about MorePairs more labelled pairs like these
	// at its hit rate (0 when it had no hits at all: Row is then zero).
	TooFewHits
	// Imprecise: the strictest threshold with enough hits is already below
	// the target precision (Row); no looser one can do better on these
	// pairs. Raise the threshold range, improve the embedder, or accept a
	// lower target.
	Imprecise
)

// Recommendation is Recommend's answer.
type Recommendation struct {
	Outcome   Outcome
	Row       Row
	Target    float64 // the precision asked for
	Need      int     // the hits a recommendation needs (min hits)
	Seen      int     // TooFewHits: the hits Row had
	MorePairs int     // TooFewHits: about how many more labelled pairs would give Need hits
	Pairs     int     // pairs evaluated (from the rows' counts)
}

// OK reports a recommendation to apply.
func (r Recommendation) OK() bool { return r.Outcome == Recommended }

// Recommend scans rows from the strictest threshold down and returns the
// loosest threshold whose precision stays >= target with at least minHits
// hits (rows with fewer hits are not trusted either way: they neither
// qualify nor stop the scan). minHits <= 0 means DefaultMinHits(target).
// When no row qualifies it says why: too few hits (how many it saw at the
// loosest precise threshold, how many it would need, and about how many
// more pairs that takes) or too imprecise. rows may be in any order.
func Recommend(rows []Row, target float64, minHits int) Recommendation {
	if minHits <= 0 {
		minHits = DefaultMinHits(target)
	}
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b Row) int { return cmpFloat(b.Threshold, a.Threshold) })
	rec := Recommendation{Outcome: TooFewHits, Target: target, Need: minHits}
	if len(rows) > 0 {
		r := rows[0]
		rec.Pairs = r.TP + r.FP + r.FN + r.TN
	}
	var provisional Row
	havePrecise := false
	for _, r := range sorted { // strictest first
		if r.Hits() == 0 {
			continue
		}
		if r.Hits() < minHits {
			if r.Precision >= target {
				provisional, havePrecise = r, true
			}
			continue
		}
		if r.Precision < target {
			if rec.Outcome != Recommended {
				rec.Outcome, rec.Row = Imprecise, r
			}
			break
		}
		rec.Outcome, rec.Row = Recommended, r
	}
	if rec.Outcome == TooFewHits && havePrecise {
		rec.Row, rec.Seen = provisional, provisional.Hits()
		if provisional.HitRate > 0 && rec.Pairs > 0 {
			rec.MorePairs = max(0, int(math.Ceil(float64(minHits)/provisional.HitRate))-rec.Pairs)
		}
	}
	if rec.Outcome == Imprecise && havePrecise {
		// A stricter threshold held the target on too few hits: more data
		// may still show it.
		rec.Outcome, rec.Row, rec.Seen = TooFewHits, provisional, provisional.Hits()
		if provisional.HitRate > 0 && rec.Pairs > 0 {
			rec.MorePairs = max(0, int(math.Ceil(float64(minHits)/provisional.HitRate))-rec.Pairs)
		}
	}
	return rec
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

// Write prints rows as an aligned table, strictest threshold last as given,
// with the hit ratio next to the precision it buys (precision against hit
// ratio), marks the recommended row, and ends with the conclusion: the
// recommended threshold, or how many hits were seen against how many are
// needed, or that no threshold is precise enough.
func Write(w io.Writer, rows []Row, rec Recommendation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\thit ratio\tprecision\thits\trecall\tTP\tFP\tFN\tTN\t\t")
	for _, r := range rows {
		prec := "-"
		if r.Hits() > 0 {
			prec = fmt.Sprintf("%.4f", r.Precision)
		}
		mark := ""
		switch {
		case rec.OK() && r.Threshold == rec.Row.Threshold:
			mark = "<= recommended"
		case rec.Outcome == TooFewHits && rec.Seen > 0 && r.Threshold == rec.Row.Threshold:
			mark = "<= precise, too few hits"
		}
		fmt.Fprintf(tw, "%.3f\t%.4f\t%s\t%d\t%.4f\t%d\t%d\t%d\t%d\t%s\t\n",
			r.Threshold, r.HitRate, prec, r.Hits(), r.Recall, r.TP, r.FP, r.FN, r.TN, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	r := rec.Row
	switch rec.Outcome {
	case Recommended:
		_, err = fmt.Fprintf(w, "recommended threshold: %.3f (hit ratio %.4f, precision %.4f >= %.4g on %d hits, recall %.4f)\n",
			r.Threshold, r.HitRate, r.Precision, rec.Target, r.Hits(), r.Recall)
	case TooFewHits:
		if rec.Seen == 0 {
			_, err = fmt.Fprintf(w, "no recommendation: no threshold kept precision >= %.4g on any hit; %d hits are needed (more pairs, or a wider threshold range)\n",
				rec.Target, rec.Need)
			break
		}
		_, err = fmt.Fprintf(w, "no recommendation yet: threshold %.3f keeps precision %.4f >= %.4g but on %d hits; %d are needed to trust it",
			r.Threshold, r.Precision, rec.Target, rec.Seen, rec.Need)
		if err == nil && rec.MorePairs > 0 {
			_, err = fmt.Fprintf(w, " (about %d more labelled pairs like these, at its hit ratio %.4f)", rec.MorePairs, r.HitRate)
		}
		if err == nil {
			_, err = fmt.Fprintln(w)
		}
	case Imprecise:
		_, err = fmt.Fprintf(w, "no recommendation: the strictest threshold with at least %d hits, %.3f, has precision %.4f < %.4g; no looser threshold does better on these pairs\n",
			rec.Need, r.Threshold, r.Precision, rec.Target)
	}
	return err
}
