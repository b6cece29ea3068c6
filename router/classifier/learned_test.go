package classifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
)

func TestCurve(t *testing.T) {
	// Four prompts: only #2 gains from the strong model.
	weak := []float64{1, 1, 0, 1}
	strong := []float64{1, 1, 1, 1}
	tests := []struct {
		name     string
		scores   []float64
		apgr     float64
		share95  float64 // share to keep 95% of strong quality
		sharePGR float64 // share to recover the whole gap
	}{
		{"perfect", []float64{0, 0.1, 0.9, 0.2}, 0.875, 0.25, 0.25},
		{"worst", []float64{0.9, 0.8, 0, 0.7}, 0.125, 1, 1},
		{"all tied is random", []float64{1, 1, 1, 1}, 0.5, 1, 1}, // whole prompts: 3 of 4 up keep only 93.75%
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCurve(tt.scores, weak, strong)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(c.APGR-tt.apgr) > 1e-9 {
				t.Errorf("APGR %v, want %v", c.APGR, tt.apgr)
			}
			if got := c.ShareForKept(0.95); math.Abs(got-tt.share95) > 1e-9 {
				t.Errorf("share for 95%% quality %v, want %v", got, tt.share95)
			}
			if got := c.ShareForPGR(1); math.Abs(got-tt.sharePGR) > 1e-9 {
				t.Errorf("share for full PGR %v, want %v", got, tt.sharePGR)
			}
			if c.Kept[0] != 0.75 || c.Kept[100] != 1 {
				t.Errorf("kept at 0%% and 100%%: %v %v", c.Kept[0], c.Kept[100])
			}
		})
	}
	if _, err := NewCurve([]float64{1, 2}, []float64{1, 1}, []float64{1, 1}); err == nil {
		t.Error("no gap: want an error")
	}
	if _, err := NewCurve([]float64{1}, []float64{1, 1}, []float64{1, 1}); err == nil {
		t.Error("length mismatch: want an error")
	}
}

func TestReadLabelled(t *testing.T) {
	tests := []struct {
		name, in     string
		weak, strong float64
		group, err   string
	}{
		{"booleans", `{"prompt":"p","weak_correct":false,"strong_correct":true,"subject":"law"}`, 0, 1, "law", ""},
		{"numbers", `{"prompt":"p","weak_correct":1,"strong_correct":1,"group":"g"}`, 1, 1, "g", ""},
		{"graded", `{"messages":[{"role":"user","content":"hi"}],"weak_score":0.25,"strong_score":0.75,"category":"chat"}`, 0.25, 0.75, "chat", ""},
		{"no group", `{"prompt":"p","weak_correct":0,"strong_correct":1}`, 0, 1, "line-mod-1", ""},
		{"missing label", `{"prompt":"p","weak_correct":0}`, 0, 0, "", "line 1: missing strong_correct or strong_score"},
		{"bad score", `{"prompt":"p","weak_score":2,"strong_score":1}`, 0, 0, "", "line 1: weak_score: want a number in [0, 1]"},
		{"bad correct", `{"prompt":"p","weak_correct":0.5,"strong_correct":1}`, 0, 0, "", "line 1: weak_correct: want true/false or 0/1"},
		{"no prompt", `{"weak_correct":0,"strong_correct":1}`, 0, 0, "", "line 1: no prompt"},
		{"not json", `nope`, 0, 0, "", "line 1: not a json object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := ReadLabelled(strings.NewReader(tt.in + "\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e := ex[0]; e.Weak != tt.weak || e.Strong != tt.strong || e.Group != tt.group || e.Req == nil {
				t.Errorf("got %+v", e)
			}
		})
	}
}

// synthetic builds labelled prompts where a prompt needs the strong model
// exactly when it contains the word "zebra" (with 5% label noise), in six
// groups whose filler vocabulary differs.
func synthetic(n int, seed uint64) []Labelled {
	rng := rand.New(rand.NewPCG(seed, 1))
	common := strings.Fields("please tell me about the history of this place and what people think of it today")
	var out []Labelled
	for i := 0; i < n; i++ {
		g := i % 6
		var words []string
		for j := 0; j < 8+rng.IntN(10); j++ {
			if rng.IntN(3) == 0 {
				words = append(words, fmt.Sprintf("grp%cword%c", 'a'+g, 'a'+rng.IntN(20)))
			} else {
				words = append(words, common[rng.IntN(len(common))])
			}
		}
		hard := rng.IntN(3) == 0
		if hard {
			words = append(words[:len(words)/2], append([]string{"zebra"}, words[len(words)/2:]...)...)
		}
		weak, strong := 1.0, 1.0
		if hard {
			weak = 0
		}
		if rng.IntN(20) == 0 {
			weak = 1 - weak
		}
		out = append(out, Labelled{
			Req:  &llm.Request{Messages: []llm.Message{{Role: "user", Content: llm.TextContent(strings.Join(words, " "))}}},
			Weak: weak, Strong: strong, Group: fmt.Sprintf("g%d", g),
		})
	}
	return out
}

// TestFitRecoversRule: fit must find "zebra" and rank by it on groups it
// never saw.
func TestFitRecoversRule(t *testing.T) {
	ex := synthetic(600, 3)
	m, curve, err := Fit(ex, FitOptions{Folds: 3, Lambdas: []float64{0.01, 1}})
	if err != nil {
		t.Fatal(err)
	}
	weak, strong := QualityOf(ex)
	random, _ := RandomCurve(weak, strong)
	t.Logf("held-out APGR %.3f (random %.3f), share for 95%% quality %.2f (random %.2f)", curve.APGR, random.APGR, curve.ShareForKept(0.95), random.ShareForKept(0.95))
	if curve.APGR < random.APGR+0.25 {
		t.Errorf("held-out APGR %.3f does not beat random (%.3f) by 0.25", curve.APGR, random.APGR)
	}
	if w := m.File().Terms["w:zebra"]; w[0] <= 0 {
		t.Errorf("w:zebra up weight %v, want positive", w[0])
	}
	// The fitted model routes the rule, and explains it.
	c, err := New(Options{Model: m, Target: Target{StrongShare: 0.4}})
	if err != nil {
		t.Fatal(err)
	}
	hard := c.Classify(user("please tell me about the zebra history of this place"))
	easy := c.Classify(user("please tell me about the history of this place"))
	if hard.Tier == llm.TierSmall || easy.Tier != llm.TierSmall {
		t.Errorf("zebra prompt %v (%v), plain prompt %v (%v)", hard.Tier, hard.Reasons, easy.Tier, easy.Reasons)
	}
	if !strings.HasPrefix(strings.Join(hard.Reasons, ","), "w:zebra+") {
		t.Errorf("reasons %v, want w:zebra first", hard.Reasons)
	}
	// Round trip through JSON.
	b, err := json.Marshal(m.File())
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ParseModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := New(Options{Model: m2, Target: Target{StrongShare: 0.4}}); c2.Classify(user("zebra")).Score != c.Classify(user("zebra")).Score {
		t.Error("parsed model scores differently")
	}
}

func loadMMLU(t *testing.T) []Labelled {
	t.Helper()
	f, err := os.Open(llmtest.Dataset(t, "routing/mmlu_train_subjects.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex, err := ReadLabelled(f)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// TestDefaultModelHeldOut refits the shipped model's recipe on subject-wise
// folds of the shared MMLU data and scores each fold with the model that
// never saw its subjects, and asserts the floors, which catch a
// regression: APGR 0.58 and 95% quality with 10 points fewer prompts above
// small than random. The recipe reaches APGR 0.598 and 54.0% (random
// 67.8%): a question's length and how much wording its options share are
// what carry from one subject to the next. See BENCHMARKS.md.
func TestDefaultModelHeldOut(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	rep := m.File().Fit
	ex := loadMMLU(t)
	scores, err := HeldOutScores(ex, rep.Setting, FitOptions{Folds: rep.Folds, Epochs: rep.Epochs, MinGroups: rep.MinGroups, MinCount: rep.MinCount})
	if err != nil {
		t.Fatal(err)
	}
	weak, strong := QualityOf(ex)
	held, err := NewCurve(scores, weak, strong)
	if err != nil {
		t.Fatal(err)
	}
	random, _ := RandomCurve(weak, strong)
	t.Logf("held-out APGR %.3f, 95%% quality at %.1f%% above small (random %.1f%%)", held.APGR, 100*held.ShareForKept(0.95), 100*random.ShareForKept(0.95))
	if held.APGR < 0.58 {
		t.Errorf("held-out APGR %.3f, want >= 0.58", held.APGR)
	}
	if d := random.ShareForKept(0.95) - held.ShareForKept(0.95); d < 0.10 {
		t.Errorf("95%% quality needs %.1f%% above small, only %.1f points below random", 100*held.ShareForKept(0.95), 100*d)
	}
	// At least as good as ranking by size alone, which needs no fitting.
	hand, err := New(HandOptions())
	if err != nil {
		t.Fatal(err)
	}
	size, err := NewCurve(SizeScores(hand, ex), weak, strong)
	if err != nil {
		t.Fatal(err)
	}
	if held.APGR < size.APGR || held.ShareForKept(0.95) > size.ShareForKept(0.95) {
		t.Errorf("held-out APGR %.3f, 95%% quality at %.1f%%: worse than size only (%.3f, %.1f%%)", held.APGR, 100*held.ShareForKept(0.95), size.APGR, 100*size.ShareForKept(0.95))
	}
	if math.Abs(held.APGR-rep.HeldOutAPGR) > 0.01 {
		t.Errorf("refit APGR %.4f differs from the model file's %.4f: run make weights", held.APGR, rep.HeldOutAPGR)
	}
}

// TestHardPrompts: long, multi-constraint, debugging and design prompts of
// real users go to medium or above.
func TestHardPrompts(t *testing.T) {
	c := newDefault(t)
	raw, err := os.ReadFile("testdata/hard_prompts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		_, req, err := parseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Classify(req); d.Tier < llm.TierMedium {
			t.Errorf("hard prompt %d: tier %v (score %.3f, %v), want medium or large", i+1, d.Tier, d.Score, d.Reasons)
		}
	}
}

// TestSelfInstructSmall: at least 70% of the Self-Instruct seed tasks stay
// small with the shipped model.
func TestSelfInstructSmall(t *testing.T) {
	c := newDefault(t)
	for _, ds := range loadDatasets(t) {
		if ds.name != "self_instruct" {
			continue
		}
		small := 0
		for _, r := range ds.reqs {
			if c.Classify(r).Tier == llm.TierSmall {
				small++
			}
		}
		if share := float64(small) / float64(len(ds.reqs)); share < 0.70 {
			t.Errorf("%.0f%% of Self-Instruct seed tasks small, want >= 70%%", 100*share)
		}
		return
	}
	t.Fatal("self_instruct not loaded")
}

func TestTargets(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	ex := loadMMLU(t)
	share := func(o Options) float64 {
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, e := range ex {
			if c.Classify(e.Req).Tier != llm.TierSmall {
				up++
			}
		}
		return float64(up) / float64(len(ex))
	}
	// A strong-share target sends about that share of the fitting data up.
	if got := share(Options{Model: m, Target: Target{StrongShare: 0.3}}); math.Abs(got-0.3) > 0.03 {
		t.Errorf("strong_share 0.3: %.3f of MMLU above small", got)
	}
	// A higher quality target costs a larger share.
	lo, hi := share(Options{Model: m, Target: Target{KeepQuality: 0.9}}), share(Options{Model: m, Target: Target{KeepQuality: 0.95}})
	if !(hi > lo) {
		t.Errorf("keep_quality 0.95 sends %.3f up, 0.90 sends %.3f", hi, lo)
	}
	bad := []Target{{KeepQuality: 0.9, StrongShare: 0.2}, {KeepQuality: 1.2}, {StrongShare: -0.1}, {StrongShare: 0.2, LargeShare: 2}}
	for _, tg := range bad {
		if _, err := New(Options{Model: m, Target: tg}); err == nil {
			t.Errorf("target %+v: want an error", tg)
		}
	}
}

func TestParseModelErrors(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(m.File())
	tests := []struct {
		name   string
		mutate func(f *ModelFile)
		want   string
	}{
		{"version", func(f *ModelFile) { f.Version = 2 }, "version 2"},
		{"dense name", func(f *ModelFile) { f.Dense["up"] = map[string]float64{"nope": 1} }, `unknown dense feature "nope"`},
		{"term kind", func(f *ModelFile) { f.Terms = map[string][2]float64{"x:abc": {1, 1}} }, `unknown kind "x"`},
		{"term letters", func(f *ModelFile) { f.Terms = map[string][2]float64{"w:Abc": {1, 1}} }, "lowercase ASCII"},
		{"suffix length", func(f *ModelFile) { f.Terms = map[string][2]float64{"s:ab": {1, 1}} }, "suffix has 4 letters"},
		{"curve", func(f *ModelFile) { f.Curve = f.Curve[:5] }, "curve must have 101 points"},
		{"quantiles", func(f *ModelFile) { f.Quantiles = map[string][]float64{"up": {1}} }, "quantiles.up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f ModelFile
			if err := json.Unmarshal(good, &f); err != nil {
				t.Fatal(err)
			}
			tt.mutate(&f)
			b, _ := json.Marshal(f)
			if _, err := ParseModel(b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestChoiceSharedWords: the share of option words (three letters or more)
// that two or more options use, less 0.2, for questions with three or more
// lettered options only; the option-word set is bounded.
func TestChoiceSharedWords(t *testing.T) {
	c, err := New(HandOptions())
	if err != nil {
		t.Fatal(err)
	}
	feature := func(prompt string) float64 {
		s := &scanner{kw: c.kw, vocab: c.vocab}
		sh := c.scanRequest(s, &llm.Request{Messages: []llm.Message{{Role: "user", Content: llm.TextContent(prompt)}}})
		tokens := estimateTokens(&s.c)
		f := c.features(&s.c, sh, tokens)
		x := denseFeatures(&f, &s.c, sh, tokens)
		for i, n := range denseNames {
			if n == ExtraChoiceShared {
				return x[i]
			}
		}
		t.Fatal("no choice_shared_words feature")
		return 0
	}
	const q = "Which clause applies to the contract?\n"
	for _, tt := range []struct {
		name, prompt string
		want         float64
	}{
		// Distinct words: contract, void, voidable, valid, only, between, the, parties.
		{"one word apart", q + "A. The contract is void\nB. The contract is voidable\nC. The contract is valid\nD. The contract is valid only between the parties\nAnswer:", 3.0/8 - 0.2},
		{"nothing shared", q + "A. apples\nB. pears\nC. plums\nD. cherries\nAnswer:", -0.2},
		{"case and short words", q + "A. Red Car\nB. red car\nC. a\nAnswer:", 1 - 0.2},
		{"two options is not a multiple-choice question", q + "A. The contract is void\nB. The contract is voidable\n", 0},
		{"no options", "Explain why the contract is void and the other contract is voidable.", 0},
	} {
		if got := feature(tt.prompt); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: choice_shared_words %v, want %v", tt.name, got, tt.want)
		}
	}
	// Options past the eighth and words past three quarters of the set are
	// not counted; a huge option list neither fails nor grows memory.
	var b strings.Builder
	b.WriteString(q)
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "%c. option word%c%c shared\n", 'A'+i%5, 'a'+i%26, 'a'+i/26)
	}
	if got := feature(b.String()); got <= -0.2 || got >= 0.8 {
		t.Errorf("200 options: choice_shared_words %v, want within (-0.2, 0.8)", got)
	}
}
