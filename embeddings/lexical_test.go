package embeddings

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"llmrouter/llm"
)

func embedOne(t testing.TB, e Embedder, s string) []float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{s})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func TestLexicalShape(t *testing.T) {
	l := NewLexical(0)
	if l.Dim() != DefaultLexicalDim || l.Name() != "lexical-v1/512" {
		t.Fatalf("Dim, Name = %d, %q", l.Dim(), l.Name())
	}
	if got := NewLexical(64).Name(); got != "lexical-v1/64" {
		t.Errorf("Name = %q", got)
	}
	vs, err := l.Embed(context.Background(), []string{"Hello world", "", "...", "日本語のテキスト"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, 0, 0, 1} {
		var n float64
		for _, x := range vs[i] {
			n += float64(x) * float64(x)
		}
		if len(vs[i]) != 512 || math.Abs(math.Sqrt(n)-want) > 1e-5 {
			t.Errorf("vector %d: len %d, norm %v; want 512, %v", i, len(vs[i]), math.Sqrt(n), want)
		}
	}
	if vs, err := l.Embed(context.Background(), nil); vs != nil || err != nil {
		t.Errorf("Embed(nil) = %v, %v", vs, err)
	}
}

// TestLexicalDeterministic pins a few coordinates: the recipe must give the
// same vectors in every process and on every platform, or stored vectors
// silently stop matching. Changing the recipe requires bumping
// lexicalVersion and these figures together.
func TestLexicalDeterministic(t *testing.T) {
	l := NewLexical(0)
	a := embedOne(t, l, "How do I reverse a string in Python?")
	b := embedOne(t, NewLexical(512), "How do I reverse a string in Python?")
	if !equalVec(a, b) {
		t.Fatal("two embedders disagree on the same text")
	}
	pinned := map[int]float32{91: 0.065828465, 315: 0.065828465, 455: 0.065828465, 462: 0.065828465, 483: -0.065828465}
	for i, want := range pinned {
		if math.Abs(float64(a[i]-want)) > 1e-6 {
			t.Errorf("a[%d] = %v, want %v", i, a[i], want)
		}
	}
	var nonZero int
	for _, x := range a {
		if x != 0 {
			nonZero++
		}
	}
	if nonZero < 20 {
		t.Errorf("only %d non-zero coordinates", nonZero)
	}
}

func equalVec(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestLexicalSimilarityOrder(t *testing.T) {
	l := NewLexical(0)
	sim := func(a, b string) float64 { return Cosine(embedOne(t, l, a), embedOne(t, l, b)) }
	tests := []struct {
		name     string
		a, b     string
		min, max float64
	}{
		{"case and punctuation", "How do I reverse a string in Python?", "how do i reverse a string in python", 0.999, 1.001},
		{"contraction", "What is the capital of France?", "What's the capital of France?", 0.999, 1.001},
		{"negative contraction", "I do not know", "I don't know", 0.999, 1.001},
		{"added article", "Write a haiku about autumn leaves", "write a haiku about the autumn leaves", DefaultLexicalThreshold, 1},
		{"rephrasing", "how do i reverse a string in python", "how can I reverse a python string?", 0.8, DefaultLexicalThreshold},
		{"different question", "What is the capital of France?", "What is the capital of Spain?", 0.3, 0.85},
		{"unrelated", "What is the capital of France?", "Write a sorting function in Go", -0.3, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := sim(tt.a, tt.b); s < tt.min || s > tt.max {
				t.Errorf("similarity %.3f, want in [%.2f, %.2f]", s, tt.min, tt.max)
			}
		})
	}
}

func TestLexicalTokenize(t *testing.T) {
	tests := map[string]string{
		"Don't STOP, can't won't!": "do not stop can not will not",
		"it's o'clock — Über-café": "it is oclock über café",
		"we'll they're I'd I'm":    "we will they are i would i am",
		"rock'n'roll 5km":          "rocknroll 5km",
	}
	for in, want := range tests {
		var s lexScratch
		s.tokenize(in)
		var got []string
		for _, w := range s.words {
			got = append(got, string(s.text[w[0]:w[1]]))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("tokenize(%q) = %q, want %q", in, strings.Join(got, " "), want)
		}
	}
}

func TestLexicalCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewLexical(0).Embed(ctx, []string{"x"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindCanceled {
		t.Errorf("err = %v, want KindCanceled", err)
	}
}

func FuzzLexical(f *testing.F) {
	f.Add("Don't stop the 5km run, it's o'clock’")
	f.Fuzz(func(t *testing.T, s string) {
		v := embedOne(t, NewLexical(32), s)
		var n float64
		for _, x := range v {
			if math.IsNaN(float64(x)) {
				t.Fatal("NaN")
			}
			n += float64(x) * float64(x)
		}
		if n != 0 && math.Abs(n-1) > 1e-4 {
			t.Fatalf("norm^2 = %v", n)
		}
	})
}

func BenchmarkLexical(b *testing.B) {
	l := NewLexical(0)
	text := "How do I reverse a string in Python without using slicing or the reversed builtin?"
	texts := []string{text}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := l.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}
