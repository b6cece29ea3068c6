package classifier

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
)

// The learned scorer is a logistic regression over two kinds of features,
// computed in the same single pass over the prompt as the hand signals:
//
//   - dense features: the fifteen hand signals (Signal* names) plus a few
//     structure counts and the length of a multiple-choice question
//     (Extra* names), each a number of order 1;
//   - terms: lowercase words ("w:integral"), pairs of consecutive words
//     ("b:which of"), and the last four letters of words of six letters or
//     more ("s:tion", a character n-gram that generalises across word
//     forms). A term's weight is added once per occurrence and the sum is
//     divided by the square root of the prompt's word count, so that long
//     prompts do not win on length alone.
//
// A Model has two heads over the same features. The "up" head scores how
// much a prompt gains from a stronger model than the small one; the "large"
// head scores how likely the medium model is to fail too. Scores are logits,
// or, for a model fitted with hand cuts (FitOptions.HandCuts, the shipped
// one), logits shifted by a constant onto the hand-weight scale.

// Extra dense feature names (beyond the Signal* names).
const (
	ExtraLogTokens  = "log_tokens"   // log2(1+tokens)/12
	ExtraQuestions  = "questions"    // question marks, /5, at most 1
	ExtraNumbers    = "numbers"      // numbers in prose, /10, at most 1
	ExtraChoices    = "choices"      // lettered options seen, /5
	ExtraLongWords  = "long_words"   // share of words of nine letters or more
	ExtraCodeLines  = "code_lines"   // code lines, /20, at most 1
	ExtraMathSyms   = "math_symbols" // operators between operands, /10, at most 1
	ExtraListItems  = "list_items"   // list items, /10, at most 1
	ExtraUserTurns  = "user_turns"   // user turns beyond the first, /5, at most 1
	ExtraCapitalise = "capitalised"  // share of words that start with a capital
	// The choice_* features measure the length of a multiple-choice
	// question (three or more lettered options), less that of a typical
	// one, and are 0 for other prompts: on the MMLU data the length of a
	// question is what carries from the subjects fitted on to unseen ones,
	// and it is learned on, and applied to, such questions only.
	ExtraChoiceTokens = "choice_tokens"      // (log2(1+tokens) - log2(101))/12
	ExtraChoiceOption = "choice_option_len"  // (log2(1+mean bytes of an option line) - log2(21))/8
	ExtraChoiceLong   = "choice_long7_words" // (log2(1+words of 7+ letters) - log2(11))/10
	// ExtraChoiceShared measures how much wording the options share: the
	// share of the distinct words (three letters or more) of the option
	// lines that appear on two or more of them, less 0.2 (typical). Options
	// that differ in a word or two ask for a fine distinction; within most
	// MMLU subjects the strong model gains more on such questions.
	ExtraChoiceShared = "choice_shared_words"
)

var extraNames = [numExtra]string{
	ExtraLogTokens, ExtraQuestions, ExtraNumbers, ExtraChoices, ExtraLongWords,
	ExtraCodeLines, ExtraMathSyms, ExtraListItems, ExtraUserTurns, ExtraCapitalise,
	ExtraChoiceTokens, ExtraChoiceOption, ExtraChoiceLong, ExtraChoiceShared,
}

const (
	numExtra = 14
	numDense = numSignals + numExtra
)

// denseNames are the dense feature names in vector order.
var denseNames = func() [numDense]string {
	var n [numDense]string
	copy(n[:], signalNames[:])
	copy(n[numSignals:], extraNames[:])
	return n
}()

// Head indexes.
const (
	headUp = iota
	headLarge
	numHeads
)

// Label names for ModelFile.Label: what the up head was fitted to predict.
const (
	// LabelGap fits (strong - weak + 1) / 2: the expected gain of the strong
	// model, which is exactly what ranking for the cost-quality curve needs.
	LabelGap = "gap"
	// LabelWeakWrong fits 1 - weak: how likely the small model is to fail.
	LabelWeakWrong = "weak_wrong"
)

// ModelFile is the JSON form of a fitted model (llmrouter router fit -out).
type ModelFile struct {
	Version int    `json:"version"` // 1
	Name    string `json:"name"`
	Label   string `json:"label"` // LabelGap or LabelWeakWrong
	// Bias and Dense are per head: "up" and "large".
	Bias  map[string]float64            `json:"bias"`
	Dense map[string]map[string]float64 `json:"dense"`
	// Terms maps "w:word", "b:word word" or "s:suffix" to [up, large].
	Terms map[string][2]float64 `json:"terms"`
	// Quantiles are the scores of each head at percentiles 0..100 of the
	// training prompts (in-sample), used to turn a share into a threshold.
	Quantiles map[string][]float64 `json:"quantiles"`
	// Curve is the held-out (subject-wise cross-validated) cost-quality
	// curve at strong shares 0, 1%, ..., 100%: the quality kept relative to
	// the strong model, used to turn a quality target into a share.
	Curve []float64 `json:"curve"`
	// Thresholds, when present, are the model's default cut points [up,
	// large], used when the configuration sets neither thresholds nor a
	// target. Without them DefaultTarget applies.
	Thresholds []float64 `json:"thresholds,omitempty"`
	// Fit records how the model was fitted and its held-out figures.
	Fit FitReport `json:"fit"`
}

// Model is a parsed, immutable learned scorer. Safe for concurrent use.
type Model struct {
	file  ModelFile
	bias  [numHeads]float64
	dense [numHeads][numDense]float64
	terms termTable
}

// termTable maps term hashes to weights (open addressing; 0 = empty).
type termTable struct {
	hashes []uint64
	w      [][numHeads]float32
	names  []string
	mask   uint64
}

func (t *termTable) find(h uint64) int {
	if len(t.hashes) == 0 {
		return -1
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		switch t.hashes[i] {
		case h:
			return int(i)
		case 0:
			return -1
		}
	}
}

// sufSalt tells a suffix term's hash from a word's.
const sufSalt uint64 = 0x2545f4914f6cdd1d

// suffixLen is the character n-gram length of suffix terms, taken from
// words of at least suffixMinWord letters.
const (
	suffixLen     = 4
	suffixMinWord = 6
)

func suffixHash(s string) uint64 { return finishHash(wordHash(s) ^ sufSalt) }

// termHash returns the hash the scanner computes for a term key.
func termHash(key string) (uint64, error) {
	kind, body, ok := strings.Cut(key, ":")
	if !ok || body == "" {
		return 0, fmt.Errorf("term %q: want w:word, b:word word or s:suffix", key)
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !(c >= 'a' && c <= 'z') && !(kind == "b" && c == ' ') {
			return 0, fmt.Errorf("term %q: lowercase ASCII letters only", key)
		}
	}
	switch kind {
	case "w":
		return wordHash(body), nil
	case "b":
		a, b, ok := strings.Cut(body, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return 0, fmt.Errorf("term %q: a pair is two words", key)
		}
		return pairHash(wordHash(a), wordHash(b)), nil
	case "s":
		if len(body) != suffixLen {
			return 0, fmt.Errorf("term %q: a suffix has %d letters", key, suffixLen)
		}
		return suffixHash(body), nil
	}
	return 0, fmt.Errorf("term %q: unknown kind %q", key, kind)
}

var headNames = [numHeads]string{"up", "large"}

// ParseModel validates a model file and builds its lookup tables.
func ParseModel(data []byte) (*Model, error) {
	var f ModelFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("classifier model: %w", err)
	}
	return newModel(f)
}

// LoadModel reads a model file written by llmrouter router fit.
func LoadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("classifier model: %w", err)
	}
	m, err := ParseModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func newModel(f ModelFile) (*Model, error) {
	if f.Version != 1 {
		return nil, fmt.Errorf("classifier model: version %d, want 1", f.Version)
	}
	m := &Model{file: f}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	index := map[string]int{}
	for i, n := range denseNames {
		index[n] = i
	}
	for h, hn := range headNames {
		b := f.Bias[hn]
		if !finite(b) {
			return nil, fmt.Errorf("classifier model: bias %s is not finite", hn)
		}
		m.bias[h] = b
		for name, v := range f.Dense[hn] {
			i, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("classifier model: unknown dense feature %q", name)
			}
			if !finite(v) {
				return nil, fmt.Errorf("classifier model: weight %s.%s is not finite", hn, name)
			}
			m.dense[h][i] = v
		}
		if q := f.Quantiles[hn]; len(q) != 101 || !sort.Float64sAreSorted(q) {
			return nil, fmt.Errorf("classifier model: quantiles.%s must be 101 increasing scores", hn)
		}
	}
	if n := len(f.Thresholds); n != 0 && (n != 2 || !finite(f.Thresholds[0]) || !finite(f.Thresholds[1])) {
		return nil, errors.New("classifier model: thresholds must be two finite numbers")
	}
	if len(f.Curve) != 101 {
		return nil, errors.New("classifier model: curve must have 101 points (shares 0..100%)")
	}
	size := 16
	for size < 2*len(f.Terms) {
		size *= 2
	}
	t := termTable{hashes: make([]uint64, size), w: make([][numHeads]float32, size), names: make([]string, size), mask: uint64(size - 1)}
	for key, w := range f.Terms {
		h, err := termHash(key)
		if err != nil {
			return nil, fmt.Errorf("classifier model: %w", err)
		}
		if !finite(w[0]) || !finite(w[1]) {
			return nil, fmt.Errorf("classifier model: term %q weight is not finite", key)
		}
		i := h & t.mask
		for t.hashes[i] != 0 && t.hashes[i] != h {
			i = (i + 1) & t.mask
		}
		if t.hashes[i] == h {
			return nil, fmt.Errorf("classifier model: term %q collides with %q", key, t.names[i])
		}
		t.hashes[i], t.names[i] = h, key
		t.w[i] = [numHeads]float32{float32(w[0]), float32(w[1])}
	}
	m.terms = t
	return m, nil
}

// File returns the model's JSON form. The maps are shared: do not modify.
func (m *Model) File() ModelFile { return m.file }

// Target is what the learned scorer's thresholds are derived from. Set at
// most one of KeepQuality and StrongShare; LargeShare sets the large cut.
type Target struct {
	// KeepQuality is the share of the strong model's quality to keep, in
	// (0, 1]: the small|medium cut is placed at the smallest strong share
	// whose held-out quality reaches it.
	KeepQuality float64
	// StrongShare is the share of prompts, in [0, 1], to send above small.
	StrongShare float64
	// LargeShare is the share of prompts, in [0, 1], that the large head
	// ranks hardest (the medium model likely fails too); they go to large
	// when they are above small. Default 0.05.
	LargeShare float64
}

// DefaultTarget is the target used when neither thresholds nor a target are
// configured.
func DefaultTarget() Target { return Target{KeepQuality: 0.95, LargeShare: 0.05} }

// StrongShareFor returns the strong share that t asks for on the model's
// held-out curve.
func (m *Model) StrongShareFor(t Target) (float64, error) {
	switch {
	case t.KeepQuality != 0 && t.StrongShare != 0:
		return 0, errors.New("classifier target: set keep_quality or strong_share, not both")
	case t.StrongShare != 0:
		if !(t.StrongShare >= 0 && t.StrongShare <= 1) {
			return 0, fmt.Errorf("classifier target: strong_share %v must be in [0, 1]", t.StrongShare)
		}
		return t.StrongShare, nil
	case t.KeepQuality != 0:
		if !(t.KeepQuality > 0 && t.KeepQuality <= 1) {
			return 0, fmt.Errorf("classifier target: keep_quality %v must be in (0, 1]", t.KeepQuality)
		}
		return shareForKept(m.file.Curve, t.KeepQuality), nil
	}
	return 0, errors.New("classifier target: set keep_quality or strong_share")
}

// shareForKept returns the smallest share (grid of 1%) whose kept quality
// on curve reaches q; 1 when none does.
func shareForKept(curve []float64, q float64) float64 {
	for i, k := range curve {
		if k >= q-1e-12 {
			return float64(i) / float64(len(curve)-1)
		}
	}
	return 1
}

// DefaultThresholds returns the thresholds used when the configuration
// sets neither thresholds nor a target: the model file's, else those of
// DefaultTarget.
func (m *Model) DefaultThresholds() ([2]float64, error) {
	if t := m.file.Thresholds; len(t) == 2 {
		return [2]float64{t[0], t[1]}, nil
	}
	return m.Thresholds(DefaultTarget())
}

// Thresholds derives [small|medium on the up head, large cut on the large
// head] from t.
func (m *Model) Thresholds(t Target) ([2]float64, error) {
	share, err := m.StrongShareFor(t)
	if err != nil {
		return [2]float64{}, err
	}
	ls := t.LargeShare
	if ls == 0 {
		ls = DefaultTarget().LargeShare
	}
	if !(ls >= 0 && ls <= 1) {
		return [2]float64{}, fmt.Errorf("classifier target: large_share %v must be in [0, 1]", ls)
	}
	return [2]float64{quantileAbove(m.file.Quantiles["up"], share), quantileAbove(m.file.Quantiles["large"], ls)}, nil
}

// quantileAbove returns the score above which about share of the training
// prompts lie (interpolated between percentiles). Share 0 gives +Inf (no
// prompt above), share 1 gives -Inf.
func quantileAbove(q []float64, share float64) float64 {
	switch {
	case share <= 0:
		return math.Inf(1)
	case share >= 1:
		return math.Inf(-1)
	}
	p := (1 - share) * 100
	i := int(p)
	frac := p - float64(i)
	if i >= 100 {
		return q[100]
	}
	return q[i] + frac*(q[i+1]-q[i])
}

//go:embed weights/default.json
var defaultModelJSON []byte

var defaultModel struct {
	once sync.Once
	m    *Model
	err  error
}

// DefaultModel returns the shipped model, fitted on the shared MMLU routing
// data by make weights and embedded in the binary.
func DefaultModel() (*Model, error) {
	defaultModel.once.Do(func() {
		defaultModel.m, defaultModel.err = ParseModel(defaultModelJSON)
	})
	return defaultModel.m, defaultModel.err
}

// denseFeatures builds the dense vector from the hand signals and counts.
func denseFeatures(f *[numSignals]float64, k *counts, sh shape, tokens int) [numDense]float64 {
	var x [numDense]float64
	copy(x[:numSignals], f[:])
	words := float64(max(k.words, 1))
	e := x[numSignals:]
	e[0] = math.Log2(1+float64(tokens)) / 12
	e[1] = clamp(float64(k.questions) / 5)
	e[2] = clamp(float64(k.proseNumbers) / 10)
	e[3] = float64(popcount(k.choiceBits)) / 5
	e[4] = float64(k.wordLen[4]+k.wordLen[5]+k.wordLen[6]) / words
	e[5] = clamp(float64(k.codeLines) / 20)
	e[6] = clamp(float64(k.mathSyms) / 10)
	e[7] = clamp(float64(k.listItems) / 10)
	e[8] = clamp(float64(max(sh.userTurns-1, 0)) / 5)
	e[9] = math.Min(1, float64(k.capWords)/words)
	if popcount(k.choiceBits) >= 3 {
		e[10] = (math.Log2(1+float64(tokens)) - math.Log2(101)) / 12
		if k.optionLines > 0 {
			e[11] = (math.Log2(1+float64(k.optionBytes)/float64(k.optionLines)) - math.Log2(21)) / 8
		}
		e[12] = (math.Log2(1+float64(k.wordLen[3]+k.wordLen[4]+k.wordLen[5]+k.wordLen[6])) - math.Log2(11)) / 10
		if k.optionWords > 0 {
			e[13] = float64(k.sharedWords)/float64(k.optionWords) - 0.2
		}
	}
	return x
}

// termScan accumulates term weights during a scan.
type termScan struct {
	sum [numHeads]float64
	top [3]int32 // term table slots with the largest |up weight| seen, -1 for none
}

func (ts *termScan) reset() {
	*ts = termScan{top: [3]int32{-1, -1, -1}}
}

// add adds the weights of the term in table slot i.
func (ts *termScan) add(t *termTable, i int) {
	w := t.w[i]
	ts.sum[headUp] += float64(w[headUp])
	ts.sum[headLarge] += float64(w[headLarge])
	a := math.Abs(float64(w[headUp]))
	if last := ts.top[len(ts.top)-1]; last >= 0 && a <= math.Abs(float64(t.w[last][headUp])) {
		return // cannot enter the top (or is in it already)
	}
	for j := range ts.top {
		if ts.top[j] == int32(i) {
			return
		}
	}
	for j := range ts.top {
		if ts.top[j] < 0 || a > math.Abs(float64(t.w[ts.top[j]][headUp])) {
			copy(ts.top[j+1:], ts.top[j:len(ts.top)-1])
			ts.top[j] = int32(i)
			return
		}
	}
}

// termRecorder receives every term occurrence during a scan (fitting only).
type termRecorder func(key string)
