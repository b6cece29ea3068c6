package tune

import (
	"context"
	"regexp"
	"testing"

	"llmrouter/cache/guard"
	"llmrouter/embeddings"
)

// falseHitClasses are hand-written pairs, one list per known false-hit
// class, where one cached answer cannot serve both prompts.
var falseHitClasses = map[string][][2]string{
	"negation position": {
		{"Which of these foods is not vegan, and which one contains gluten?", "Which of these foods is vegan, and which one does not contain gluten?"},
		{"Explain why the function does not return early, but logs the error", "Explain why the function does return early, but does not log the error"},
		{"List the countries that are not in the EU but use the euro", "List the countries that are in the EU but do not use the euro"},
	},
	"number or unit": {
		{"How long does it take to drive 100 km at highway speed?", "How long does it take to drive 100 miles at highway speed?"},
		{"Convert 5 kg of flour into cups for a bread recipe", "Convert 5 lb of flour into cups for a bread recipe"},
		{"What is 15% of the total price of the order?", "What is 15 of the total price of the order?"},
		{"Plan a budget trip that costs $500 for the whole week", "Plan a budget trip that costs 500 for the whole week"},
		{"Sort the numbers 3, 1, 2 and explain each step", "Sort the numbers 2, 1, 3 and explain each step"},
	},
	"swapped entity": {
		{"Compare the economy of Germany with that of France in detail", "Compare the economy of France with that of Germany in detail"},
		{"Did Microsoft buy GitHub or did GitHub buy Microsoft?", "Did GitHub buy Microsoft or did Microsoft buy GitHub?"},
		{"Is Alice older than Bob according to the story?", "Is Bob older than Alice according to the story?"},
	},
	"reversed direction": {
		{"What is the cheapest way to get from Paris to London by train?", "What is the cheapest way to get from London to Paris by train?"},
		{"Translate this sentence from English to Spanish please", "Translate this sentence from Spanish to English please"},
		{"How do I sort a list in ascending order in Python?", "How do I sort a list in descending order in Python?"},
		{"Should I buy before or after the price increase?", "Should I buy before or after the price decrease?"},
	},
}

// hit reports whether the semantic cache (lexical embedder at its shipped
// threshold, then the guard) would serve a's answer to b.
func hit(t *testing.T, e *embeddings.Lexical, a, b string) bool {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	sim := 0.0
	for i := range v[0] {
		sim += float64(v[0][i]) * float64(v[1][i])
	}
	ok, _ := guard.Check(a, b)
	return sim >= embeddings.DefaultLexicalThreshold && ok
}

// TestNoFalseHitPerClassHandWritten: zero hits in every class.
func TestNoFalseHitPerClassHandWritten(t *testing.T) {
	e := embeddings.NewLexical(0)
	for class, pairs := range falseHitClasses {
		for _, p := range pairs {
			if hit(t, e, p[0], p[1]) {
				t.Errorf("%s: %q served %q", class, p[0], p[1])
			}
		}
	}
}

var (
	digitsRE = regexp.MustCompile(`[0-9]`)
	negRE    = regexp.MustCompile(`(?i)\b(not|no|never|none|nobody|nothing|cannot|without)\b|n't\b`)
	dirRE    = regexp.MustCompile(`(?i)\bfrom\b.*\bto\b`)
)

// TestNoFalseHitPerClassOnSTSB takes the STS-B pairs (dev and train) that
// are NOT the same (score < 4) and fall in a false-hit class (both hold
// numbers; either holds a negation; both say "from ... to ..."), and asserts
// the semantic cache serves none of them.
func TestNoFalseHitPerClassOnSTSB(t *testing.T) {
	e := embeddings.NewLexical(0)
	classes := map[string]func(a, b string) bool{
		"numbers":   func(a, b string) bool { return digitsRE.MatchString(a) && digitsRE.MatchString(b) },
		"negation":  func(a, b string) bool { return negRE.MatchString(a) || negRE.MatchString(b) },
		"direction": func(a, b string) bool { return dirRE.MatchString(a) && dirRE.MatchString(b) },
	}
	seen := map[string]int{}
	for _, file := range []string{"sts-dev.csv", "sts-train.csv"} {
		pairs := readSTSB(t, file)
		for class, in := range classes {
			n := 0
			for _, p := range pairs {
				if p.Same || !in(p.A, p.B) {
					continue
				}
				n++
				if hit(t, e, p.A, p.B) {
					t.Errorf("%s %s: %q served %q", file, class, p.A, p.B)
				}
			}
			seen[class] += n
			t.Logf("%s %s: %d different pairs checked", file, class, n)
		}
	}
	for class := range classes {
		if seen[class] < 10 {
			t.Errorf("%s: only %d labelled pairs; the filter is broken", class, seen[class])
		}
	}
}
