package classifier

import (
	"encoding/json"
	"strings"
	"testing"

	"llmrouter/llm"
)

func user(text string) *llm.Request {
	return &llm.Request{Model: "auto", Messages: []llm.Message{{Role: "user", Content: llm.TextContent(text)}}}
}

func newDefault(t *testing.T) *Classifier {
	t.Helper()
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// longArticle is about 3,000 tokens of plain news-like prose.
func longArticle() string {
	para := "The city council met on Tuesday to discuss the new public library, which opened last spring after years of planning. " +
		"Residents praised the reading rooms and the children's section, while some asked for longer opening hours on weekends. " +
		"The head librarian said visitor numbers had grown steadily and that volunteers now run weekly reading groups for older people.\n\n"
	return strings.Repeat(para, 40)
}

func TestClassifyTiers(t *testing.T) {
	c := newDefault(t)
	tests := []struct {
		name     string
		req      *llm.Request
		min, max llm.Tier
	}{
		{"greeting", user("hi, how are you?"), llm.TierSmall, llm.TierSmall},
		{"simple fact", user("What is the capital of France?"), llm.TierSmall, llm.TierSmall},
		{"simple instruction", user("Write a short thank-you note to my neighbour for watering my plants."), llm.TierSmall, llm.TierSmall},
		{"proof", user("prove that sqrt 2 is irrational"), llm.TierMedium, llm.TierLarge},
		{"system design", user("Design a distributed rate limiter for a multi-region API gateway; discuss consistency and failure modes."), llm.TierMedium, llm.TierLarge},
		{"word problem", user("A baker makes 24 muffins an hour and sells them in boxes of 6 for $9. How much does he earn in 5 hours?"), llm.TierMedium, llm.TierLarge},
		{"coding request", user("Write a Python function that merges two sorted linked lists."), llm.TierMedium, llm.TierLarge},
		{"code block", user("Why does this panic?\n```go\nvar m map[string]int\nm[\"a\"] = 1\n```"), llm.TierMedium, llm.TierLarge},
		{"derivation", user("Derive the closed form of the integral of x^2 e^x dx and explain each step."), llm.TierMedium, llm.TierLarge},
		{"summarise long article", user("Summarize the following article in three bullet points.\n\n" + longArticle()), llm.TierSmall, llm.TierMedium},
		{"translate long text", user("Translate this text into French:\n\n" + longArticle()), llm.TierSmall, llm.TierMedium},
		{"long plain prompt", user(longArticle() + "\nWhat do you think?"), llm.TierLarge, llm.TierLarge},
		{"humanities mcq", user("Which of these was a Roman emperor?\nA. Charlemagne\nB. Hadrian\nC. Pericles\nD. Saladin"), llm.TierSmall, llm.TierSmall},
		{"physics mcq", user("A ball of mass 2 kg moves at 3 m/s and hits a wall. What is the change of momentum if it rebounds at the same velocity?\nA. 0\nB. 6 kg m/s\nC. 12 kg m/s\nD. 3 kg m/s"), llm.TierMedium, llm.TierLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := c.Classify(tt.req)
			if d.Tier < tt.min || d.Tier > tt.max {
				t.Errorf("tier %s (score %.2f, reasons %v), want %s..%s", d.Tier, d.Score, d.Reasons, tt.min, tt.max)
			}
			if len(d.Reasons) > 3 {
				t.Errorf("%d reasons, want at most 3", len(d.Reasons))
			}
		})
	}
}

func TestStructureRaisesTier(t *testing.T) {
	c := newDefault(t)
	base := func() *llm.Request { return user("Tell me about this.") }
	withImage := base()
	withImage.Messages[0].Content = llm.Content{Parts: []llm.ContentPart{
		{Type: "text", Text: "Tell me about this."},
		{Type: "image_url", ImageURL: &llm.ImageURL{URL: "https://example.com/a.png"}},
	}}
	withTools := base()
	withTools.Tools = []llm.Tool{{Type: "function", Function: llm.ToolFunction{Name: "search", Parameters: json.RawMessage(`{"type":"object"}`)}}}
	withSchema := base()
	withSchema.ResponseFormat = json.RawMessage(`{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`)
	deep := base()
	for i := 0; i < 6; i++ {
		deep.Messages = append(deep.Messages, llm.Message{Role: "assistant", Content: llm.TextContent("ok")}, llm.Message{Role: "user", Content: llm.TextContent("and then?")})
	}
	plain := c.Classify(base())
	for _, tt := range []struct {
		name, signal string
		req          *llm.Request
	}{
		{"image", SignalImages, withImage},
		{"tools", SignalTools, withTools},
		{"json schema", SignalJSONSchema, withSchema},
		{"depth", SignalDepth, deep},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := c.Classify(tt.req)
			if d.Score <= plain.Score {
				t.Errorf("score %.2f, want above plain %.2f", d.Score, plain.Score)
			}
			if !hasReason(d, tt.signal) {
				t.Errorf("reasons %v lack %s", d.Reasons, tt.signal)
			}
		})
	}
	t.Run("image and tools reach medium", func(t *testing.T) {
		r := withImage
		r.Tools = withTools.Tools
		if d := c.Classify(r); d.Tier < llm.TierMedium {
			t.Errorf("tier %s (%.2f %v), want medium or more", d.Tier, d.Score, d.Reasons)
		}
	})
	t.Run("tool definitions count as tokens", func(t *testing.T) {
		if a, b := c.Classify(withTools).Tokens, plain.Tokens; a <= b {
			t.Errorf("tokens with tools %d, without %d", a, b)
		}
	})
}

func hasReason(d Decision, signal string) bool {
	for _, r := range d.Reasons {
		if strings.HasPrefix(r, signal+"+") || strings.HasPrefix(r, signal+"-") {
			return true
		}
	}
	return false
}

func TestOptionsObeyed(t *testing.T) {
	req := user("prove that sqrt 2 is irrational")
	t.Run("thresholds", func(t *testing.T) {
		c, err := New(Options{TierThresholds: [2]float64{0.001, 0.002}})
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Classify(user("hello there")); d.Tier != llm.TierLarge {
			t.Errorf("tier %s with score %.2f over both thresholds", d.Tier, d.Score)
		}
		c, err = New(Options{TierThresholds: [2]float64{50, 60}})
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Classify(req); d.Tier != llm.TierSmall {
			t.Errorf("tier %s with score %.2f under both thresholds", d.Tier, d.Score)
		}
	})
	t.Run("zero weights", func(t *testing.T) {
		w := map[string]float64{}
		for _, n := range signalNames {
			w[n] = 0
		}
		c, err := New(Options{Weights: w})
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Classify(req); d.Score != 0 || d.Tier != llm.TierSmall || len(d.Reasons) != 0 {
			t.Errorf("decision %+v, want score 0, small, no reasons", d)
		}
	})
	t.Run("one weight changes the score by its contribution", func(t *testing.T) {
		a, _ := New(Options{})
		b, err := New(Options{Weights: map[string]float64{SignalHard: 5}})
		if err != nil {
			t.Fatal(err)
		}
		da, db := a.Classify(req), b.Classify(req)
		if db.Score <= da.Score || db.Tier != llm.TierLarge {
			t.Errorf("hard=5: %+v, default: %+v", db, da)
		}
	})
	t.Run("size weight lets a long easy prompt reach large", func(t *testing.T) {
		long := user("Summarise this:\n\n" + longArticle())
		c, err := New(Options{Weights: map[string]float64{SignalSize: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Classify(long); d.Tier != llm.TierLarge {
			t.Errorf("tier %s (%.2f %v), want large with size weight 2", d.Tier, d.Score, d.Reasons)
		}
	})
	t.Run("token thresholds scale size", func(t *testing.T) {
		text := longArticle()[:1200]
		small, _ := New(Options{SmallMaxTokens: 100, MediumMaxTokens: 200})
		big, _ := New(Options{})
		if a, b := small.Classify(user(text)), big.Classify(user(text)); a.Score <= b.Score {
			t.Errorf("score with 100/200 thresholds %.2f, with 500/2000 %.2f", a.Score, b.Score)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
	}{
		{"unknown weight", Options{Weights: map[string]float64{"sizee": 1}}},
		{"decreasing thresholds", Options{TierThresholds: [2]float64{2, 1}}},
		{"token thresholds inverted", Options{SmallMaxTokens: 3000, MediumMaxTokens: 2000}},
		{"unknown tokenizer", Options{Tokenizer: "o300k"}},
		{"bad default tier", Options{DefaultTier: llm.Tier(9)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.o); err == nil {
				t.Error("New accepted bad options")
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	c := newDefault(t)
	other := newDefault(t)
	req := user("Design a cache eviction policy and prove its competitive ratio. Include code:\n```python\ndef f(x):\n    return x\n```")
	first := c.Classify(req)
	for i := 0; i < 20; i++ {
		for _, cl := range []*Classifier{c, other} {
			d := cl.Classify(req)
			if d.Tier != first.Tier || d.Score != first.Score || d.Tokens != first.Tokens || strings.Join(d.Reasons, ",") != strings.Join(first.Reasons, ",") {
				t.Fatalf("run %d: %+v, first %+v", i, d, first)
			}
		}
	}
}

func TestExactTokenizer(t *testing.T) {
	c, err := New(Options{Tokenizer: TokenizerCL100K})
	if err != nil {
		t.Fatal(err)
	}
	// "hello world" is 2 cl100k tokens; plus 3 for the message and 3 for the reply.
	if d := c.Classify(user("hello world")); d.Tokens != 8 {
		t.Errorf("tokens %d, want 8", d.Tokens)
	}
}

func TestClassifyOddInputs(t *testing.T) {
	c := newDefault(t)
	for _, tt := range []struct {
		name string
		req  *llm.Request
	}{
		{"nil", nil},
		{"no messages", &llm.Request{Model: "auto"}},
		{"null content", &llm.Request{Messages: []llm.Message{{Role: "user"}}}},
		{"invalid utf8", user("\xff\xfe abc \xc3")},
		{"only punctuation", user(strings.Repeat("?!{}", 1000))},
		{"huge word", user(strings.Repeat("a", 100000))},
		{"cjk", user("请证明根号二是无理数")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := c.Classify(tt.req)
			if d.Tier < llm.TierSmall || d.Tier > llm.TierLarge {
				t.Errorf("tier %d", d.Tier)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add("prove that sqrt 2 is irrational")
	f.Add("```go\nfunc main() {}\n```\n1. a\nA) b\n(c) 3.5 + 4 = x^2")
	c, err := New(DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := c.Classify(user(s))
		if d.Tier < llm.TierSmall || d.Tier > llm.TierLarge || d.Tokens < 0 {
			t.Fatalf("bad decision %+v", d)
		}
	})
}
