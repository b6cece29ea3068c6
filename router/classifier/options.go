package classifier

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"

	"llmrouter/llm"
)

// Tokenizer names accepted in Options.Tokenizer.
const (
	// TokenizerEstimate counts tokens with a one-pass estimator calibrated
	// against cl100k_base (within 10% on the shared prompt sets). It runs in
	// the same pass as the complexity signals and allocates nothing.
	TokenizerEstimate = "estimate"
	// TokenizerCL100K counts tokens exactly with the cl100k_base BPE
	// (vocabulary embedded in the binary). About 1 ms per 1,000 tokens: too
	// slow for the 50 µs classification budget on long prompts.
	TokenizerCL100K = "cl100k_base"
)

// Signal names: the keys of Options.Weights. Each signal is a feature in
// [0, 1] (size may reach 2.5), multiplied by its weight and added to the
// score.
const (
	SignalSize           = "size"            // prompt tokens: 0 at 0, 1 at SmallMaxTokens, 2 at MediumMaxTokens, 2.5 at 4x MediumMaxTokens
	SignalCode           = "code"            // code blocks, code lines, programming vocabulary
	SignalMath           = "math"            // mathematical vocabulary, formulas, LaTeX, math symbols
	SignalWordProblem    = "word_problem"    // several quantities plus a quantitative question (multi-step arithmetic)
	SignalReasoning      = "reasoning"       // multi-step reasoning cues: why, explain, compare, step by step
	SignalHard           = "hard"            // proof, derivation, optimisation, design, architecture requests
	SignalConstraints    = "constraints"     // explicit constraints, list items and questions
	SignalOutputLength   = "output_length"   // requested long output (essay, detailed, max_tokens >= 2000)
	SignalTools          = "tools"           // tool definitions offered or tool results in the conversation
	SignalJSONSchema     = "json_schema"     // structured output: response_format json_schema (1) or json_object (0.5)
	SignalDepth          = "depth"           // conversation depth: 0 for one user turn, 1 from six
	SignalImages         = "images"          // image parts
	SignalDomain         = "domain"          // specialist STEM, law and medicine vocabulary
	SignalMultipleChoice = "multiple_choice" // the answer is one of three or more lettered options
	SignalEasy           = "easy"            // summarise / extract / translate / classify / rewrite a provided text: 0.3 + half the size feature
)

// Options configures a Classifier. The zero value of each field means its
// default (see DefaultOptions).
type Options struct {
	// SmallMaxTokens and MediumMaxTokens shape the size signal: a prompt of
	// SmallMaxTokens tokens scores 1 and one of MediumMaxTokens scores 2
	// (before the size weight). Defaults 500 and 2000.
	SmallMaxTokens, MediumMaxTokens int
	// Weights maps signal names (Signal* constants) to weights. Names left
	// out keep their default weight; an unknown name is an error. A negative
	// weight pulls the score down.
	Weights map[string]float64
	// TierThresholds are the score cut points: score < [0] is small, score <
	// [1] is medium, otherwise large. Default [1.0, 2.0].
	TierThresholds [2]float64
	// DefaultTier is the tier used when classification cannot run (a panic,
	// no classifier). Default medium.
	DefaultTier llm.Tier
	// Tokenizer is TokenizerEstimate (default) or TokenizerCL100K.
	Tokenizer string
	// Logger receives classification failures. Nil discards.
	Logger *slog.Logger
	// WindowBytes bounds how much of each piece of text (a message, a tool
	// schema) the classifier reads: a longer text is read as its first and
	// last WindowBytes/2 bytes, and the bytes in between count toward the
	// size signal as one token per four bytes. So classifying costs
	// O(window), never O(prompt). Default DefaultWindowBytes.
	WindowBytes int
}

// DefaultWindowBytes is Options.WindowBytes when it is zero.
const DefaultWindowBytes = 64 << 10

// DefaultOptions returns the shipped configuration, calibrated on the shared
// prompt sets (MT-Bench, Self-Instruct seeds, HumanEval, GSM8K).
func DefaultOptions() Options {
	return Options{
		SmallMaxTokens:  500,
		MediumMaxTokens: 2000,
		Weights:         defaultWeights(),
		TierThresholds:  [2]float64{1.0, 2.0},
		DefaultTier:     llm.TierMedium,
		Tokenizer:       TokenizerEstimate,
	}
}

func defaultWeights() map[string]float64 {
	return map[string]float64{
		SignalSize:           1.0,
		SignalCode:           1.2,
		SignalMath:           0.9,
		SignalWordProblem:    1.3,
		SignalReasoning:      0.6,
		SignalHard:           1.1,
		SignalConstraints:    0.5,
		SignalOutputLength:   0.4,
		SignalTools:          0.8,
		SignalJSONSchema:     0.5,
		SignalDepth:          0.5,
		SignalImages:         0.8,
		SignalDomain:         0.8,
		SignalMultipleChoice: -0.2,
		SignalEasy:           -1.0,
	}
}

// signalNames lists the signals in the fixed order used for scoring and for
// breaking ties between reasons.
var signalNames = [numSignals]string{
	SignalSize, SignalCode, SignalMath, SignalWordProblem, SignalReasoning, SignalHard,
	SignalConstraints, SignalOutputLength, SignalTools, SignalJSONSchema, SignalDepth,
	SignalImages, SignalDomain, SignalMultipleChoice, SignalEasy,
}

const (
	sigSize = iota
	sigCode
	sigMath
	sigWordProblem
	sigReasoning
	sigHard
	sigConstraints
	sigOutputLength
	sigTools
	sigJSONSchema
	sigDepth
	sigImages
	sigDomain
	sigMultipleChoice
	sigEasy
	numSignals
)

// resolve fills defaults and validates.
func (o Options) resolve() (Options, [numSignals]float64, error) {
	var w [numSignals]float64
	d := DefaultOptions()
	if o.SmallMaxTokens == 0 {
		o.SmallMaxTokens = d.SmallMaxTokens
	}
	if o.MediumMaxTokens == 0 {
		o.MediumMaxTokens = d.MediumMaxTokens
	}
	if o.SmallMaxTokens < 0 || o.MediumMaxTokens <= o.SmallMaxTokens {
		return o, w, fmt.Errorf("classifier: token thresholds must satisfy 0 < small (%d) < medium (%d)", o.SmallMaxTokens, o.MediumMaxTokens)
	}
	if o.TierThresholds == [2]float64{} {
		o.TierThresholds = d.TierThresholds
	}
	if o.WindowBytes <= 0 {
		o.WindowBytes = DefaultWindowBytes
	}
	if !(o.TierThresholds[0] < o.TierThresholds[1]) || math.IsNaN(o.TierThresholds[0]) || math.IsNaN(o.TierThresholds[1]) {
		return o, w, fmt.Errorf("classifier: tier thresholds must be increasing, got %v", o.TierThresholds)
	}
	if o.DefaultTier == llm.TierUnset {
		o.DefaultTier = d.DefaultTier
	}
	if o.DefaultTier > llm.TierLarge {
		return o, w, fmt.Errorf("classifier: invalid default tier %d", o.DefaultTier)
	}
	switch o.Tokenizer {
	case "":
		o.Tokenizer = d.Tokenizer
	case TokenizerEstimate, TokenizerCL100K:
	default:
		return o, w, fmt.Errorf("classifier: unknown tokenizer %q (want %q or %q)", o.Tokenizer, TokenizerEstimate, TokenizerCL100K)
	}
	dw := defaultWeights()
	var unknown []string
	for name, v := range o.Weights {
		if _, ok := dw[name]; !ok {
			unknown = append(unknown, name)
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return o, w, fmt.Errorf("classifier: weight %q is not a finite number", name)
		}
		dw[name] = v
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return o, w, fmt.Errorf("classifier: unknown signal weights %s (known: %s)", strings.Join(unknown, ", "), strings.Join(signalNames[:], ", "))
	}
	for i, name := range signalNames {
		w[i] = dw[name]
	}
	o.Weights = dw
	return o, w, nil
}
