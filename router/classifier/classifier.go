// Package classifier decides the tier (small, medium, large) of a chat
// request sent to an auto alias, from its size and from complexity signals,
// and provides the llm.Completer decorator that applies the decision.
//
// The score is a weighted sum of features (see the Signal* names): size in
// tokens, code, math, multi-step word problems, reasoning cues, proof /
// design requests, constraints, requested length, tools, structured output,
// conversation depth, images, specialist vocabulary; multiple choice and
// easy transformations of a provided text (summarise, translate, extract)
// pull it down. The tier follows from Options.TierThresholds.
package classifier

import (
	"bytes"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"llmrouter/llm"
)

// Decision is the outcome of classifying one request.
type Decision struct {
	Tier    llm.Tier
	Score   float64  // the up score (learned) or the hand score
	Large   float64  // the large head's score (learned); equal to Score with the hand weights
	Tokens  int      // prompt tokens (exact or estimated, per Options.Tokenizer)
	Reasons []string // up to three largest contributions, e.g. "math+0.90"
}

// Classifier is an immutable classification snapshot: build a new one to
// change options. Safe for concurrent use.
type Classifier struct {
	opts    Options
	weights [numSignals]float64
	kw      *keywords
	vocab   *vocabSet
	model   *Model             // nil: the hand weights
	terms   *termTable         // the model's terms; nil with the hand weights
	bpe     *tiktoken.Tiktoken // nil unless Tokenizer is TokenizerCL100K
	log     *slog.Logger
	scans   sync.Pool // *scanner; a scanner is 100-odd bytes of counters

	beforeClassify func(*llm.Request) // tests only: fault injection
}

// bpeSetup guards the tiktoken library's process-wide loader setting.
// tiktoken-go keeps its BPE loader and encoding cache in package variables;
// SetBpeLoader must be called before GetEncoding and must not race with it,
// so the first New that needs the exact tokenizer installs the offline
// loader (vocabulary embedded by tiktoken-go-loader, never downloaded)
// exactly once. This is the only process-wide state of this package, and it
// is forced by the library.
var bpeSetup struct {
	once sync.Once
	enc  *tiktoken.Tiktoken
	err  error
}

func loadCL100K() (*tiktoken.Tiktoken, error) {
	bpeSetup.once.Do(func() {
		tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
		bpeSetup.enc, bpeSetup.err = tiktoken.GetEncoding(TokenizerCL100K)
	})
	return bpeSetup.enc, bpeSetup.err
}

// New validates o, fills defaults for zero fields and returns a Classifier.
// With Tokenizer TokenizerCL100K the first call loads the embedded
// vocabulary (about 150 ms).
func New(o Options) (*Classifier, error) {
	o, w, err := o.resolve()
	if err != nil {
		return nil, err
	}
	vocab, err := loadVocab()
	if err != nil {
		return nil, err
	}
	c := &Classifier{opts: o, weights: w, vocab: vocab, log: o.Logger, model: o.Model}
	if o.Model != nil {
		c.terms = &o.Model.terms
		c.kw = newKeywords(len(o.Model.file.Terms))
		c.kw.addTerms(c.terms)
	} else {
		c.kw = newKeywords(0)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if o.Tokenizer == TokenizerCL100K {
		if c.bpe, err = loadCL100K(); err != nil {
			return nil, err
		}
	}
	c.scans.New = func() any { return &scanner{kw: c.kw, vocab: c.vocab, terms: c.terms} }
	return c, nil
}

// Options returns the resolved options (defaults filled in). The Weights
// map is a copy.
func (c *Classifier) Options() Options {
	o := c.opts
	o.Weights = make(map[string]float64, len(c.opts.Weights))
	for k, v := range c.opts.Weights {
		o.Weights[k] = v
	}
	return o
}

// Classify scores req and picks its tier. It never fails and is
// deterministic for a given request and Classifier. A nil request gets the
// default tier.
func (c *Classifier) Classify(req *llm.Request) Decision {
	if req == nil {
		return Decision{Tier: c.opts.DefaultTier, Reasons: []string{"empty"}}
	}
	if c.beforeClassify != nil {
		c.beforeClassify(req)
	}
	s := c.scans.Get().(*scanner)
	*s = scanner{kw: c.kw, vocab: c.vocab, terms: c.terms}
	s.ts.reset()
	shape := c.scanRequest(s, req)
	tokens := estimateTokens(&s.c) + s.skipped/4
	if c.bpe != nil {
		tokens = c.exactTokens(req)
	}
	f := c.features(&s.c, shape, tokens)
	if c.model != nil {
		d := c.learnedDecision(s, &f, shape, tokens)
		c.scans.Put(s)
		return d
	}
	c.scans.Put(s)

	var contrib [numSignals]float64
	score := 0.0
	for i := range f {
		contrib[i] = f[i] * c.weights[i]
		score += contrib[i]
	}
	score = math.Round(score*1000) / 1000
	return Decision{Tier: c.tierOf(score), Score: score, Large: score, Tokens: tokens, Reasons: topReasons(&contrib)}
}

// Model returns the learned model, or nil when the hand weights score.
func (c *Classifier) Model() *Model { return c.model }

func (c *Classifier) tierOf(score float64) llm.Tier {
	switch {
	case score < c.opts.TierThresholds[0]:
		return llm.TierSmall
	case score < c.opts.TierThresholds[1]:
		return llm.TierMedium
	}
	return llm.TierLarge
}

// shape is what the request's structure (not its text) says.
type shape struct {
	userTurns   int
	images      int
	tools       int
	toolResults int
	schema      float64
	maxOutput   int
}

// scanRequest feeds every piece of prompt text to s and notes the request's
// structure.
func (c *Classifier) scanRequest(s *scanner, req *llm.Request) shape {
	var sh shape
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case "user":
			sh.userTurns++
		case "tool", "function":
			sh.toolResults++
		}
		if m.Content.Parts == nil {
			c.text(s, m.Content.Str, m.Role != "tool")
		} else {
			for _, p := range m.Content.Parts {
				switch p.Type {
				case "text":
					c.text(s, p.Text, m.Role != "tool")
				case "image_url":
					sh.images++
				}
			}
		}
		for j := range m.ToolCalls {
			c.text(s, m.ToolCalls[j].Function.Name, false)
			c.text(s, m.ToolCalls[j].Function.Arguments, false)
		}
	}
	for i := range req.Tools {
		fn := &req.Tools[i].Function
		c.text(s, fn.Name, false)
		c.text(s, fn.Description, false)
		c.text(s, bytesString(fn.Parameters), false)
	}
	sh.tools = len(req.Tools)
	if rf := req.ResponseFormat; len(rf) > 0 {
		switch {
		case bytes.Contains(rf, []byte(`"json_schema"`)):
			sh.schema = 1
			c.text(s, bytesString(rf), false)
		case bytes.Contains(rf, []byte(`"json_object"`)):
			sh.schema = 0.5
		}
	}
	sh.maxOutput = req.MaxOutputTokens()
	s.optionCounts()
	return sh
}

// text feeds t to s through the window (Options.WindowBytes): a longer
// text is scanned as its head and tail, and the bytes skipped between them
// are counted in s.skipped.
func (c *Classifier) text(s *scanner, t string, signals bool) {
	head, tail, skipped := window(t, c.opts.WindowBytes)
	if skipped == 0 {
		s.text(t, signals)
		return
	}
	s.text(head, signals)
	s.text(tail, signals)
	s.c.messageCount--
	s.skipped += skipped
}

// window splits a text longer than w into its first and last w/2 bytes
// (cut at UTF-8 boundaries) and the number of bytes between them.
func window(t string, w int) (head, tail string, skipped int) {
	if len(t) <= w {
		return t, "", 0
	}
	h := w / 2
	for h > 0 && !utf8.RuneStart(t[h]) {
		h--
	}
	start := len(t) - w/2
	for start < len(t) && !utf8.RuneStart(t[start]) {
		start++
	}
	return t[:h], t[start:], start - h
}

func (c *Classifier) exactTokens(req *llm.Request) int {
	n := 3 // reply priming
	count := func(t string) {
		head, tail, skipped := window(t, c.opts.WindowBytes)
		if head != "" {
			n += len(c.bpe.EncodeOrdinary(head))
		}
		if tail != "" {
			n += len(c.bpe.EncodeOrdinary(tail))
		}
		n += skipped / 4
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 3
		count(m.Content.Text())
		for j := range m.ToolCalls {
			count(m.ToolCalls[j].Function.Name)
			count(m.ToolCalls[j].Function.Arguments)
		}
	}
	for i := range req.Tools {
		fn := &req.Tools[i].Function
		n += 3
		count(fn.Name)
		count(fn.Description)
		count(bytesString(fn.Parameters))
	}
	if bytes.Contains(req.ResponseFormat, []byte(`"json_schema"`)) {
		count(bytesString(req.ResponseFormat))
	}
	return n
}

// features turns the counts into signal values.
func (c *Classifier) features(k *counts, sh shape, tokens int) [numSignals]float64 {
	var f [numSignals]float64
	small, medium := float64(c.opts.SmallMaxTokens), float64(c.opts.MediumMaxTokens)
	t := float64(tokens)
	switch {
	case t <= small:
		f[sigSize] = t / small
	case t <= medium:
		f[sigSize] = 1 + (t-small)/(medium-small)
	default:
		f[sigSize] = math.Min(2.5, 2+0.25*math.Log2(t/medium))
	}

	fenced := 0.0
	if k.fences >= 2 {
		fenced = 0.5
	}
	f[sigCode] = clamp(fenced + 0.08*float64(k.codeLines) + 0.45*float64(k.kw[catCode]) + 0.02*float64(k.codeSyms))
	f[sigMath] = clamp(0.3*float64(k.kw[catMath]) + 0.15*float64(k.mathSyms) + 0.3*float64(k.latex) + 0.3*float64(k.mathRunes))

	// A word problem's difficulty grows with the quantities it combines: on
	// GSM8K the number of solution steps rises steadily with the count of
	// numbers and number words in the question (2 quantities: ~2 steps, 6:
	// ~4), and small models fail mostly on the many-step ones. So the
	// signal is graded by quantities, plus a little per quantitative cue,
	// instead of saturating at the first few numbers.
	nums := k.proseNumbers + k.kw[catNumWord]
	if nums >= 2 && (k.kw[catQuant] > 0 || k.questions > 0) {
		f[sigWordProblem] = clamp(0.22*float64(nums-1) + 0.06*float64(k.kw[catQuant]))
	}
	// Numbers in a coding task are examples, and numbers in a text to
	// extract from are data: neither is a word problem.
	f[sigWordProblem] *= 1 - f[sigCode]
	if k.kw[catEasy] > 0 {
		f[sigWordProblem] = 0
	}
	f[sigReasoning] = clamp(0.3 * float64(k.kw[catReason]))
	f[sigHard] = clamp(0.6 * float64(k.kw[catHard]))
	extraQ := k.questions - 1
	if extraQ < 0 {
		extraQ = 0
	}
	f[sigConstraints] = clamp(float64(k.kw[catConstraint]+extraQ)/6 + float64(k.listItems)/12)
	long := 0.0
	if sh.maxOutput >= 2000 {
		long = 0.5
	}
	f[sigOutputLength] = clamp(long + 0.35*float64(k.kw[catLength]))
	if sh.tools > 0 || sh.toolResults > 0 {
		f[sigTools] = clamp(0.6 + 0.1*float64(sh.tools+sh.toolResults-1))
	}
	f[sigJSONSchema] = sh.schema
	if sh.userTurns > 1 {
		f[sigDepth] = clamp(float64(sh.userTurns-1) / 5)
	}
	if sh.images > 0 {
		f[sigImages] = clamp(0.6 + 0.2*float64(sh.images-1))
	}
	f[sigDomain] = clamp(0.35 * float64(k.kw[catDomain]))
	if popcount(k.choiceBits) >= 3 {
		f[sigMultipleChoice] = 1
	}
	if k.kw[catEasy] > 0 {
		f[sigEasy] = 0.3 + 0.5*f[sigSize]
	}
	return f
}

// topReasons formats the three largest contributions by magnitude, largest
// first; ties keep signal order.
func topReasons(contrib *[numSignals]float64) []string {
	return topContrib(contrib[:], func(i int) string { return signalNames[i] })
}

// formatReasons formats "name+0.12" for each index in idx, largest first,
// in one string allocation and one slice.
func formatReasons(idx []int, name func(int) string, contrib []float64) []string {
	if len(idx) == 0 {
		return []string{}
	}
	var buf [192]byte
	var ends [3]int
	b := buf[:0]
	for k, i := range idx {
		b = append(b, name(i)...)
		if contrib[i] >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendFloat(b, contrib[i], 'f', 2, 64)
		ends[k] = len(b)
	}
	all := string(b)
	out := make([]string, len(idx))
	start := 0
	for k := range out {
		out[k] = all[start:ends[k]]
		start = ends[k]
	}
	return out
}

func clamp(v float64) float64 {
	if v > 1 {
		return 1
	}
	if v < 0 {
		return 0
	}
	return v
}

func popcount(b uint8) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

// learnedDecision scores a finished scan with the learned model: the up
// head against the first threshold decides small, then the large head
// against the second decides medium or large.
func (c *Classifier) learnedDecision(s *scanner, f *[numSignals]float64, sh shape, tokens int) Decision {
	m := c.model
	x := denseFeatures(f, &s.c, sh, tokens)
	norm := 1 / math.Sqrt(float64(max(s.c.words, 1)))
	var contrib [numDense + 3]float64
	up, large := m.bias[headUp], m.bias[headLarge]
	for i := range x {
		contrib[i] = x[i] * m.dense[headUp][i]
		up += contrib[i]
		large += x[i] * m.dense[headLarge][i]
	}
	up += s.ts.sum[headUp] * norm
	large += s.ts.sum[headLarge] * norm
	for j, k := range s.ts.top {
		if k >= 0 {
			contrib[numDense+j] = float64(m.terms.w[k][headUp]) * norm
		}
	}
	tier := llm.TierSmall
	if up >= c.opts.TierThresholds[0] {
		tier = llm.TierMedium
		if large >= c.opts.TierThresholds[1] {
			tier = llm.TierLarge
		}
	}
	name := func(i int) string {
		if i < numDense {
			return denseNames[i]
		}
		return m.terms.names[s.ts.top[i-numDense]]
	}
	return Decision{Tier: tier, Score: math.Round(up*1000) / 1000, Large: math.Round(large*1000) / 1000, Tokens: tokens, Reasons: topContrib(contrib[:], name)}
}

// topContrib formats the three largest contributions by magnitude, largest
// first; ties keep index order.
func topContrib(contrib []float64, name func(int) string) []string {
	var idx [3]int
	n := 0
	for i := range contrib {
		a := math.Abs(contrib[i])
		if a < 0.005 {
			continue
		}
		j := n
		if n < 3 {
			n++
		} else if a <= math.Abs(contrib[idx[2]]) {
			continue
		} else {
			j = 2
		}
		for j > 0 && math.Abs(contrib[idx[j-1]]) < a {
			idx[j] = idx[j-1]
			j--
		}
		idx[j] = i
	}
	return formatReasons(idx[:n], name, contrib)
}
