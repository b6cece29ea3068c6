package classifier

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// FitOptions configures Fit. Zero fields take the defaults named.
type FitOptions struct {
	// Folds is the number of group-wise cross-validation folds (whole
	// groups are held out together). Default 7, at most the group count.
	Folds int
	// Lambdas is the grid of L2 strengths for term weights, chosen on
	// held-out folds; 0 is the model without terms. Default {1, 30, 1000}.
	Lambdas []float64
	// SizePriors is the grid of prior weights of choice_tokens
	// (Setting.Size). Default {0, 20, 40}.
	SizePriors []float64
	// SharedPriors is the grid of prior weights of choice_shared_words
	// (Setting.Shared), how much wording the options share. Default
	// {0, 15, 30}.
	SharedPriors []float64
	// FreeLambdas is the grid of L2 pulls of the choice_* features'
	// weights toward their prior (Setting.Free). Default {1, 0.01}.
	FreeLambdas []float64
	// Labels is the grid of up-head labels (LabelGap, LabelWeakWrong).
	// Default {LabelGap} (LabelWeakWrong did worse held out on MMLU).
	Labels []string
	// PriorScales is the grid of scales of the hand weights used as the
	// signals' prior (and starting point), chosen on held-out folds.
	// Default {1, 0.25, 0}. Below 1 the length features dominate; on MMLU
	// that ranks held-out subjects a little better (0.572 at 0.25 against
	// 0.571 at 1) but scales down the signals that carry to prompts MMLU
	// has none of (code, word problems, tools), so make weights pins 1.
	PriorScales []float64
	// Epochs of stochastic gradient descent per fit. Default 6.
	Epochs int
	// MinGroups: a term is a feature only if it occurs in at least this
	// many groups of the training part (terms of one subject do not carry
	// to the next). Default 3.
	MinGroups int
	// MinCount: and in at least this many prompts. Default 5.
	MinCount int
	// Name is recorded in the model file.
	Name string
	// Cuts, if set (two numbers: up, large), are recorded as the model's
	// default thresholds instead of deriving them from DefaultTarget at
	// load time.
	Cuts []float64
	// HandCuts, instead of Cuts, are two thresholds on the hand-weight
	// scale (HandOptions uses 1 and 2). Fit sets each head's bias so that
	// a prompt the fitted features leave alone (no lettered options: the
	// choice_* features are 0) scores (1-prior)*cut + prior*(its hand
	// score), and records the cuts as the thresholds: such prompts split
	// into tiers as the hand weights cut there (the signals' weights stay
	// at the scaled hand weights, denseLambda), and thresholds in a config
	// mean what they mean with the hand weights. The bias is a constant, so
	// the ranking, the curve and the quantiles' order are unchanged.
	HandCuts []float64
	// Progress, if set, receives one line per grid point.
	Progress func(line string)
}

func (o FitOptions) withDefaults() FitOptions {
	if o.Folds == 0 {
		o.Folds = 7
	}
	if len(o.Lambdas) == 0 {
		o.Lambdas = []float64{0, 30, 1000}
	}
	if len(o.SizePriors) == 0 {
		o.SizePriors = []float64{0, 20, 40}
	}
	if len(o.SharedPriors) == 0 {
		o.SharedPriors = []float64{0, 15, 30}
	}
	if len(o.FreeLambdas) == 0 {
		o.FreeLambdas = []float64{1, 0.01}
	}
	if len(o.Labels) == 0 {
		o.Labels = []string{LabelGap}
	}
	if len(o.PriorScales) == 0 {
		o.PriorScales = []float64{1, 0.25, 0}
	}
	if o.Epochs == 0 {
		o.Epochs = 6
	}
	if o.MinGroups == 0 {
		o.MinGroups = 3
	}
	if o.MinCount == 0 {
		o.MinCount = 5
	}
	return o
}

// minGain is how much held-out APGR a grid point must add over the best
// before it to be chosen: the grid runs from simpler to richer (no terms
// first), and a richer model that is no better held out is not worth its
// cost (the MMLU terms add 0.0001).
const minGain = 0.0005

// grid lists the settings Fit tries, in order; see minGain.
func (o FitOptions) grid() []Setting {
	var g []Setting
	for _, label := range o.Labels {
		for _, prior := range o.PriorScales {
			for _, size := range o.SizePriors {
				for _, shared := range o.SharedPriors {
					for _, free := range o.FreeLambdas {
						for _, lambda := range o.Lambdas {
							g = append(g, Setting{Label: label, Prior: prior, Size: size, Shared: shared, Free: free, Lambda: lambda})
						}
					}
				}
			}
		}
	}
	return g
}

// FitReport records how a model was fitted and its held-out figures.
type FitReport struct {
	Examples int         `json:"examples"`
	Groups   int         `json:"groups"`
	Folds    int         `json:"folds"`
	Setting              // the chosen grid point
	Epochs   int         `json:"epochs"`
	Grid     []GridPoint `json:"grid"`
	// HeldOutAPGR is the chosen setting's APGR on held-out groups.
	HeldOutAPGR float64 `json:"held_out_apgr"`
	MinGroups   int     `json:"min_groups"`
	MinCount    int     `json:"min_count"`
}

// GridPoint is one setting tried and its held-out APGR.
type GridPoint struct {
	Setting
	APGR    float64 `json:"apgr"`
	Share95 float64 `json:"share_at_95_quality"`
}

// sample is one prompt's features for fitting.
type sample struct {
	x     [numDense]float64
	norm  float64 // 1/sqrt(words)
	terms []int32 // global term ids, one per occurrence
	weak  float64
	str   float64
	group int
}

// fitData is the featurised data set.
type fitData struct {
	s      []sample
	keys   []string // term id -> key
	groups []string
}

// featurise scans every prompt once with the hand classifier, recording
// terms.
func featurise(ex []Labelled) (*fitData, error) {
	c, err := New(HandOptions())
	if err != nil {
		return nil, err
	}
	d := &fitData{}
	ids := map[string]int32{}
	gids := map[string]int{}
	for _, e := range ex {
		if !(e.Weak >= 0 && e.Weak <= 1 && e.Strong >= 0 && e.Strong <= 1) {
			return nil, errors.New("fit: qualities must be in [0, 1]")
		}
		var sm sample
		s := &scanner{kw: c.kw, vocab: c.vocab}
		s.rec = func(key string) {
			id, ok := ids[key]
			if !ok {
				id = int32(len(d.keys))
				ids[key] = id
				d.keys = append(d.keys, key)
			}
			sm.terms = append(sm.terms, id)
		}
		sh := c.scanRequest(s, e.Req)
		tokens := estimateTokens(&s.c) + s.skipped/4
		f := c.features(&s.c, sh, tokens)
		sm.x = denseFeatures(&f, &s.c, sh, tokens)
		sm.norm = 1 / math.Sqrt(float64(max(s.c.words, 1)))
		sm.weak, sm.str = e.Weak, e.Strong
		g, ok := gids[e.Group]
		if !ok {
			g = len(d.groups)
			gids[e.Group] = g
			d.groups = append(d.groups, e.Group)
		}
		sm.group = g
		d.s = append(d.s, sm)
	}
	return d, nil
}

// allowed marks the terms that occur in at least minGroups groups and
// minCount prompts among the samples in idx.
func (d *fitData) allowed(idx []int, minGroups, minCount int) []bool {
	byGroup := slices.Clone(idx)
	sort.SliceStable(byGroup, func(a, b int) bool { return d.s[byGroup[a]].group < d.s[byGroup[b]].group })
	count := make([]int32, len(d.keys))
	groups := make([]int32, len(d.keys))
	lastDoc := make([]int32, len(d.keys))
	lastGroup := make([]int32, len(d.keys))
	for i := range lastDoc {
		lastDoc[i], lastGroup[i] = -1, -1
	}
	for _, i := range byGroup {
		s := &d.s[i]
		for _, t := range s.terms {
			if lastDoc[t] != int32(i) {
				lastDoc[t] = int32(i)
				count[t]++
			}
			if lastGroup[t] != int32(s.group) {
				lastGroup[t] = int32(s.group)
				groups[t]++
			}
		}
	}
	ok := make([]bool, len(d.keys))
	for t := range ok {
		ok[t] = int(groups[t]) >= minGroups && int(count[t]) >= minCount
	}
	return ok
}

// head is one fitted logistic regression.
type head struct {
	bias  float64
	dense [numDense]float64
	terms []float64         // by global term id
	mean  [numDense]float64 // the training means of the dense features
}

// centred is the score without the bias, with the dense features centred
// on the training means: what held-out folds are ranked by. A fold model's
// bias and its dense weights times the means are constants of that fold
// (the base rate of the subjects it was fitted on), and pooling folds
// ranked by them would rank whole held-out folds against each other by an
// artifact of the split: a fold whose held-out subjects gain much from the
// strong model is fitted on subjects that gain less, and so gets a lower
// bias. The shipped model is one model; only its ranking matters.
func (h *head) centred(s *sample) float64 {
	return h.score(s) - h.bias - dot(&h.dense, &h.mean)
}

func dot(a, b *[numDense]float64) float64 {
	z := 0.0
	for j := range a {
		z += a[j] * b[j]
	}
	return z
}

func (h *head) score(s *sample) float64 {
	z := h.bias
	for j, v := range s.x {
		z += h.dense[j] * v
	}
	t := 0.0
	for _, id := range s.terms {
		t += h.terms[id]
	}
	return z + t*s.norm
}

// Setting is one point of Fit's grid: the hyper-parameters chosen on
// held-out folds.
type Setting struct {
	Label string `json:"label"`
	// Lambda is the L2 strength of the term weights; 0 leaves the terms out.
	Lambda float64 `json:"lambda"`
	// Prior scales the hand weights, the prior the signals' weights are
	// pulled to (strongly: see denseLambda).
	Prior float64 `json:"prior_scale"`
	// Size is the prior weight of choice_tokens.
	Size float64 `json:"size_prior"`
	// Shared is the prior weight of choice_shared_words (the other
	// choice_* features' prior is 0).
	Shared float64 `json:"shared_prior"`
	// Free is the L2 pull (per prompt) of the choice_* features' weights toward
	// their prior: small lets the data set them, 1 keeps the prior.
	Free float64 `json:"free_lambda"`
}

func (st Setting) String() string {
	terms := fmt.Sprintf("lambda %-6g", st.Lambda)
	if st.Lambda == 0 {
		terms = "no terms    "
	}
	return fmt.Sprintf("label %-10s prior %-5g size %-4g shared %-4g free %-6g %s", st.Label, st.Prior, st.Size, st.Shared, st.Free, terms)
}

// hyper are the fitting hyper-parameters of one head.
type hyper struct {
	Setting
	epochs int
}

// handPrior is the dense prior: the hand weights, scaled, for the signals;
// 0 for the extra features. Signals that do not vary in the training data
// keep their prior weight; the data moves the others little (denseLambda).
func handPrior(scale, size, shared float64) [numDense]float64 {
	var p [numDense]float64
	w := defaultWeights()
	for i, n := range signalNames {
		p[i] = scale * w[n]
	}
	p[numSignals+10] = size   // ExtraChoiceTokens
	p[numSignals+13] = shared // ExtraChoiceShared
	return p
}

// denseLambda is the L2 pull (per prompt) of the signals' weights toward
// the prior. Strong: on subject-wise held-out folds of the MMLU data,
// signal weights learned freely from 24 subjects transfer worse to the 4
// unseen ones than the prior does (held-out APGR 0.546 at 0.01 against
// 0.557 at 1), and the signals are what carries to prompts unlike MMLU
// (code, word problems, chat).
const denseLambda = 1.0

// freeDense marks the dense features whose weights the data sets (pulled
// toward their prior, Setting.Size and Setting.Shared or 0, by
// Setting.Free); the others keep their prior. They are the multiple-choice
// features: on subject-wise held-out folds of the MMLU data, a question's
// length and how much wording its options share are what carry from the
// subjects fitted on to unseen ones, while counts such as questions,
// numbers or capitalised words, fitted freely, rank unseen subjects worse
// than leaving them out.
var freeDense = func() [numDense]bool {
	var f [numDense]bool
	for i, n := range denseNames {
		switch n {
		case ExtraChoiceTokens, ExtraChoiceOption, ExtraChoiceLong:
			f[i] = true
		}
	}
	return f
}()

// fitHead fits one head by AdaGrad SGD on the samples in idx with labels
// y(s) in [0, 1].
func fitHead(d *fitData, idx []int, allowed []bool, y func(*sample) float64, hp hyper) head {
	lambda, epochs := hp.Lambda, hp.epochs
	prior := handPrior(hp.Prior, hp.Size, hp.Shared)
	var dl [numDense]float64
	for j := range dl {
		dl[j] = denseLambda
		if freeDense[j] {
			dl[j] = hp.Free
		}
	}
	if lambda == 0 {
		allowed = make([]bool, len(d.keys))
	}
	// The dense features are centred on their training means while fitting,
	// so that the bias, not the weight of a feature that is about constant
	// (a length measure in a set of similar prompts), absorbs the base
	// rate; the means are folded into the bias at the end.
	var mean [numDense]float64
	for _, i := range idx {
		for j, v := range d.s[i].x {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(max(len(idx), 1))
	}
	h := head{dense: prior, terms: make([]float64, len(d.keys))}
	var gDense [numDense]float64
	gTerms := make([]float64, len(d.keys))
	gBias := 0.0
	const lr, eps = 0.2, 1e-8
	rng := rand.New(rand.NewPCG(7, 11))
	order := slices.Clone(idx)
	for ep := 0; ep < epochs; ep++ {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, i := range order {
			s := &d.s[i]
			z := h.bias
			for j, v := range s.x {
				z += h.dense[j] * (v - mean[j])
			}
			t := 0.0
			for _, id := range s.terms {
				if allowed[id] {
					t += h.terms[id]
				}
			}
			z += t * s.norm
			g := 1/(1+math.Exp(-z)) - y(s)
			gBias += g * g
			h.bias -= lr * g / math.Sqrt(gBias+eps)
			for j, v := range s.x {
				gj := g*(v-mean[j]) + dl[j]*(h.dense[j]-prior[j])
				if gj == 0 {
					continue
				}
				gDense[j] += gj * gj
				h.dense[j] -= lr * gj / math.Sqrt(gDense[j]+eps)
			}
			for _, id := range s.terms {
				if !allowed[id] {
					continue
				}
				gt := g*s.norm + lambda*h.terms[id]
				gTerms[id] += gt * gt
				h.terms[id] -= lr * gt / math.Sqrt(gTerms[id]+eps)
			}
		}
	}
	for id, ok := range allowed {
		if !ok {
			h.terms[id] = 0
		}
	}
	h.mean = mean
	h.bias -= dot(&h.dense, &mean)
	return h
}

func labelFunc(label string) (func(*sample) float64, error) {
	switch label {
	case LabelGap:
		return func(s *sample) float64 { return (s.str - s.weak + 1) / 2 }, nil
	case LabelWeakWrong:
		return func(s *sample) float64 { return 1 - s.weak }, nil
	}
	return nil, fmt.Errorf("fit: unknown label %q (want %q or %q)", label, LabelGap, LabelWeakWrong)
}

func strongWrong(s *sample) float64 { return 1 - s.str }

// folds assigns groups to k folds, largest groups first, each to the
// currently smallest fold (deterministic).
func (d *fitData) folds(k int) ([][]int, error) {
	if len(d.groups) < 2 {
		return nil, errors.New("fit: cross-validation needs at least two groups (subject, group or category)")
	}
	k = min(k, len(d.groups))
	size := make([]int, len(d.groups))
	for _, s := range d.s {
		size[s.group]++
	}
	order := make([]int, len(d.groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		if size[order[a]] != size[order[b]] {
			return size[order[a]] > size[order[b]]
		}
		return d.groups[order[a]] < d.groups[order[b]]
	})
	fold := make([]int, len(d.groups))
	load := make([]int, k)
	for _, g := range order {
		f := 0
		for j := range load {
			if load[j] < load[f] {
				f = j
			}
		}
		fold[g] = f
		load[f] += size[g]
	}
	out := make([][]int, k)
	for i, s := range d.s {
		out[fold[s.group]] = append(out[fold[s.group]], i)
	}
	return out, nil
}

// heldOut returns each prompt's up-head score from the fold model that did
// not see its group.
func (d *fitData) heldOut(folds [][]int, hp hyper, o FitOptions) ([]float64, error) {
	y, err := labelFunc(hp.Label)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(d.s))
	for f, test := range folds {
		var train []int
		for g, part := range folds {
			if g != f {
				train = append(train, part...)
			}
		}
		allowed := d.allowed(train, o.MinGroups, o.MinCount)
		h := fitHead(d, train, allowed, y, hp)
		for _, i := range test {
			scores[i] = h.centred(&d.s[i])
		}
	}
	return scores, nil
}

func (d *fitData) labels() (weak, strong []float64) {
	weak = make([]float64, len(d.s))
	strong = make([]float64, len(d.s))
	for i, s := range d.s {
		weak[i], strong[i] = s.weak, s.str
	}
	return weak, strong
}

// HeldOutScores returns each prompt's score from a model fitted with st on
// the other cross-validation folds: what Fit's held-out figures are
// computed from.
func HeldOutScores(ex []Labelled, st Setting, o FitOptions) ([]float64, error) {
	o = o.withDefaults()
	d, err := featurise(ex)
	if err != nil {
		return nil, err
	}
	folds, err := d.folds(o.Folds)
	if err != nil {
		return nil, err
	}
	return d.heldOut(folds, hyper{Setting: st, epochs: o.Epochs}, o)
}

// Fit chooses the label and the term L2 strength by group-wise
// cross-validation (best held-out APGR), fits both heads on all of ex with
// them, and returns the model with its held-out curve.
func Fit(ex []Labelled, o FitOptions) (*Model, Curve, error) {
	o = o.withDefaults()
	d, err := featurise(ex)
	if err != nil {
		return nil, Curve{}, err
	}
	folds, err := d.folds(o.Folds)
	if err != nil {
		return nil, Curve{}, err
	}
	weak, strong := d.labels()
	rep := FitReport{Examples: len(d.s), Groups: len(d.groups), Folds: len(folds), Epochs: o.Epochs, MinGroups: o.MinGroups, MinCount: o.MinCount, HeldOutAPGR: -1}
	var best Curve
	for _, st := range o.grid() {
		scores, err := d.heldOut(folds, hyper{Setting: st, epochs: o.Epochs}, o)
		if err != nil {
			return nil, Curve{}, err
		}
		c, err := NewCurve(scores, weak, strong)
		if err != nil {
			return nil, Curve{}, fmt.Errorf("fit: %w", err)
		}
		rep.Grid = append(rep.Grid, GridPoint{Setting: st, APGR: round4(c.APGR), Share95: round4(c.ShareForKept(0.95))})
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("%s held-out APGR %.4f, 95%% quality at %.1f%% above small", st, c.APGR, 100*c.ShareForKept(0.95)))
		}
		if c.APGR > rep.HeldOutAPGR+minGain {
			rep.HeldOutAPGR, rep.Setting, best = c.APGR, st, c
		}
	}
	rep.HeldOutAPGR = round4(rep.HeldOutAPGR)
	all := make([]int, len(d.s))
	for i := range all {
		all[i] = i
	}
	allowed := d.allowed(all, o.MinGroups, o.MinCount)
	y, _ := labelFunc(rep.Label)
	hp := hyper{Setting: rep.Setting, epochs: o.Epochs}
	up := fitHead(d, all, allowed, y, hp)
	large := fitHead(d, all, allowed, strongWrong, hp)
	if len(o.HandCuts) == 2 {
		// Put the scores on the hand-weight scale: a prompt the fitted
		// features leave alone scores (1-prior)*cut + prior*(hand score),
		// so it is above a head's cut exactly when its hand score is.
		up.bias = (1 - rep.Prior) * o.HandCuts[0]
		large.bias = (1 - rep.Prior) * o.HandCuts[1]
	}
	f := ModelFile{
		Version: 1, Name: o.Name, Label: rep.Label,
		Bias:      map[string]float64{"up": round4(up.bias), "large": round4(large.bias)},
		Dense:     map[string]map[string]float64{"up": {}, "large": {}},
		Terms:     map[string][2]float64{},
		Quantiles: map[string][]float64{},
		Curve:     make([]float64, 101),
		Fit:       rep,
	}
	for j, n := range denseNames {
		f.Dense["up"][n] = round4(up.dense[j])
		f.Dense["large"][n] = round4(large.dense[j])
	}
	for id, ok := range allowed {
		if !ok {
			continue
		}
		a, b := round4(up.terms[id]), round4(large.terms[id])
		if math.Abs(a) >= 0.002 || math.Abs(b) >= 0.002 {
			f.Terms[d.keys[id]] = [2]float64{a, b}
		}
	}
	for hn, h := range map[string]*head{"up": &up, "large": &large} {
		sc := make([]float64, len(d.s))
		for i := range d.s {
			sc[i] = h.score(&d.s[i])
		}
		sort.Float64s(sc)
		q := make([]float64, 101)
		for p := range q {
			q[p] = round4(sc[min(len(sc)-1, p*(len(sc)-1)/100)])
		}
		f.Quantiles[hn] = q
	}
	for p := range f.Curve {
		f.Curve[p] = round4(best.Kept[p])
	}
	f.Thresholds = o.Cuts
	if len(o.HandCuts) == 2 {
		f.Thresholds = slices.Clone(o.HandCuts)
	}
	m, err := newModel(f)
	if err != nil {
		return nil, Curve{}, err
	}
	return m, best, nil
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
