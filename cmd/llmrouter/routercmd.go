package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"llmrouter/router/classifier"
)

const routerUsage = `usage:
  llmrouter router fit -data FILE [-data FILE ...] -out weights.json [-folds 7] [-lambdas 1,30,1000]
  llmrouter router eval -config FILE -data FILE [-cv] [-markdown]
`

// routerCmd dispatches router fit and router eval.
func routerCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, routerUsage)
		return 2
	}
	switch args[0] {
	case "fit":
		return routerFitCmd(args[1:], stdout, stderr)
	case "eval":
		return routerEvalCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "llmrouter router: unknown command %q\n%s", args[0], routerUsage)
	return 2
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func readLabelledFiles(paths []string) ([]classifier.Labelled, error) {
	var all []classifier.Labelled
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		ex, err := classifier.ReadLabelled(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, ex...)
	}
	return all, nil
}

func parseNumbers(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func parseLambdas(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0) {
			return nil, fmt.Errorf("-lambdas: %q is not a non-negative number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// routerFitCmd fits a learned model with group-wise cross-validation and
// writes it as JSON.
func routerFitCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmrouter router fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var data multiFlag
	fs.Var(&data, "data", "labelled JSONL (repeatable): prompt|messages, weak_correct|weak_score, strong_correct|strong_score, subject")
	out := fs.String("out", "", "where to write the model JSON")
	folds := fs.Int("folds", 7, "cross-validation folds; whole subjects are held out together")
	lambdas := fs.String("lambdas", "", "comma-separated L2 grid for term weights; 0 fits without terms (default 0,30,1000)")
	label := fs.String("label", "", "fix the up-head label (gap or weak_wrong) instead of choosing it on held-out folds")
	priors := fs.String("priors", "", "comma-separated grid of hand-weight prior scales (default 1,0.25,0)")
	sizes := fs.String("sizes", "", "comma-separated grid of prior weights of choice_tokens, the length of a multiple-choice question (default 0,20,40)")
	shareds := fs.String("shared", "", "comma-separated grid of prior weights of choice_shared_words, how much wording the options of a multiple-choice question share (default 0,15,30)")
	frees := fs.String("free", "", "comma-separated grid of L2 pulls of the choice_* features' weights toward their prior (default 1,0.01)")
	name := fs.String("name", "custom", "model name recorded in the file")
	minGroups := fs.Int("min-groups", 0, "a term must occur in this many groups (default 3)")
	epochs := fs.Int("epochs", 0, "SGD epochs per fit (default 6)")
	cuts := fs.String("cuts", "", "record these two thresholds (up,large) as the model's defaults, or hand:UP,LARGE: put the scores on the hand-weight scale (prompts without lettered options score as with the hand weights) and record UP and LARGE (otherwise they come from the target keep_quality 0.95, large_share 0.05 on the curve)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(data) == 0 || *out == "" {
		fmt.Fprint(stderr, "llmrouter router fit: -data and -out are required\n"+routerUsage)
		return 2
	}
	grid, err := parseLambdas(*lambdas)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 2
	}
	pgrid, err := parseLambdas(*priors)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 2
	}
	fgrid, err := parseLambdas(*frees)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 2
	}
	sgrid, err := parseLambdas(*sizes)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 2
	}
	shgrid, err := parseLambdas(*shareds)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 2
	}
	ex, err := readLabelledFiles(data)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 1
	}
	o := classifier.FitOptions{Folds: *folds, Lambdas: grid, PriorScales: pgrid, FreeLambdas: fgrid, SizePriors: sgrid, SharedPriors: shgrid, Name: *name, MinGroups: *minGroups, Epochs: *epochs, Progress: func(l string) { fmt.Fprintln(stderr, l) }}
	if *label != "" {
		o.Labels = []string{*label}
	}
	if h, ok := strings.CutPrefix(*cuts, "hand:"); ok {
		var err error
		o.HandCuts, err = parseNumbers(h)
		if err != nil || len(o.HandCuts) != 2 {
			fmt.Fprintf(stderr, "llmrouter router fit: -cuts hand:UP,LARGE: want two numbers on the hand-weight scale\n")
			return 2
		}
	} else if *cuts != "" {
		var err error
		o.Cuts, err = parseNumbers(*cuts)
		if err != nil || len(o.Cuts) != 2 {
			fmt.Fprintf(stderr, "llmrouter router fit: -cuts: want two numbers up,large\n")
			return 2
		}
	}
	m, curve, err := classifier.Fit(ex, o)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 1
	}
	b, err := json.MarshalIndent(m.File(), "", " ")
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "llmrouter router fit: %v\n", err)
		return 1
	}
	rep := m.File().Fit
	fmt.Fprintf(stdout, "fitted %d prompts, %d groups, %d folds: %s, %d terms; wrote %s\n",
		rep.Examples, rep.Groups, rep.Folds, strings.TrimSpace(rep.Setting.String()), len(m.File().Terms), *out)
	fmt.Fprintln(stdout, "held-out (whole groups unseen by the fit):")
	weak, strong := make([]float64, len(ex)), make([]float64, len(ex))
	for i, e := range ex {
		weak[i], strong[i] = e.Weak, e.Strong
	}
	random, _ := classifier.RandomCurve(weak, strong)
	curves := []classifier.NamedCurve{{Name: "fitted (held-out)", Curve: curve}, {Name: "random", Curve: random}}
	if err := classifier.WriteCurves(stdout, curves, false); err != nil {
		return 1
	}
	for _, t := range []classifier.Target{{KeepQuality: 0.95}, {KeepQuality: 0.9}, {StrongShare: 0.4}} {
		th, err := m.Thresholds(t)
		if err != nil {
			continue
		}
		share, _ := m.StrongShareFor(t)
		kept, _ := curve.At(share)
		fmt.Fprintf(stdout, "target %s: %.0f%% above small, %.1f%% of strong quality kept (held-out), up threshold %.3f\n",
			targetString(t), 100*share, 100*kept, th[0])
	}
	return 0
}

func targetString(t classifier.Target) string {
	if t.StrongShare != 0 {
		return fmt.Sprintf("strong_share %.2f", t.StrongShare)
	}
	return fmt.Sprintf("keep_quality %.2f", t.KeepQuality)
}

// routerEvalCmd prints the cost-quality curve of the configured classifier
// on labelled data, next to the hand weights, a size-only router and a
// random one.
func routerEvalCmd(args []string, stdout, stderr io.Writer) int {
	var data multiFlag
	var cv, markdown bool
	cfg, _, code := loadFlagConfig("router eval", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&data, "data", "labelled JSONL (repeatable)")
		fs.BoolVar(&cv, "cv", false, "also refit the learned model on the other subject-wise folds and score each fold with the model that never saw it (the honest figure on data the shipped model was fitted on)")
		fs.BoolVar(&markdown, "markdown", false, "print a Markdown table")
	})
	if cfg == nil {
		return code
	}
	if len(data) == 0 {
		fmt.Fprint(stderr, "llmrouter router eval: -data is required\n"+routerUsage)
		return 2
	}
	ex, err := readLabelledFiles(data)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	opts, err := classifierOptions(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
		return 1
	}
	conf, err := classifier.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
		return 1
	}
	hand, err := classifier.New(classifier.HandOptions())
	if err != nil {
		fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
		return 1
	}
	weak, strong := classifier.QualityOf(ex)
	var curves []classifier.NamedCurve
	add := func(name string, scores []float64) error {
		c, err := classifier.NewCurve(scores, weak, strong)
		if err != nil {
			return err
		}
		curves = append(curves, classifier.NamedCurve{Name: name, Curve: c})
		return nil
	}
	confScores := classifier.Scores(conf, ex)
	model := conf.Model()
	name := "configured (hand weights)"
	if model != nil {
		name = "configured (" + model.File().Name + ")"
	}
	if err := add(name, confScores); err != nil {
		fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
		return 1
	}
	if cv && model != nil {
		rep := model.File().Fit
		scores, err := classifier.HeldOutScores(ex, rep.Setting, classifier.FitOptions{Folds: rep.Folds, Epochs: rep.Epochs, MinGroups: rep.MinGroups, MinCount: rep.MinCount})
		if err != nil {
			fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
			return 1
		}
		if err := add("learned, held-out subjects", scores); err != nil {
			fmt.Fprintf(stderr, "llmrouter router eval: %v\n", err)
			return 1
		}
	}
	if model != nil {
		_ = add("hand weights", classifier.Scores(hand, ex))
	}
	_ = add("size only", classifier.SizeScores(hand, ex))
	random, _ := classifier.RandomCurve(weak, strong)
	curves = append(curves, classifier.NamedCurve{Name: "random", Curve: random})
	fmt.Fprintf(stdout, "%d prompts: weak model quality %.3f, strong %.3f\n", len(ex), curves[0].Curve.Weak, curves[0].Curve.Strong)
	if err := classifier.WriteCurves(stdout, curves, markdown); err != nil {
		return 1
	}
	if !markdown {
		_ = classifier.WriteCurvePoints(stdout, curves)
	}
	// Where the configured thresholds sit on the configured curve.
	above := 0
	for i := range ex {
		if conf.Classify(ex[i].Req).Tier.String() != "small" {
			above++
		}
	}
	share := float64(above) / float64(len(ex))
	kept, pgr := curves[0].Curve.At(share)
	th := conf.Options().TierThresholds
	fmt.Fprintf(stdout, "configured thresholds [%.3f, %.3f]: %.1f%% of these prompts above small, %.1f%% of strong quality kept (PGR %.2f)\n",
		th[0], th[1], 100*share, 100*kept, pgr)
	return 0
}
