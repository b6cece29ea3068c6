package cache

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"llmrouter/embeddings"
	"llmrouter/llm"
)

func TestTemplateSplit(t *testing.T) {
	tests := []struct {
		a, b, va, vb string
		shared       int
	}{
		{"same text", "same text", "", "", 9},
		{"Ticket: the app crashes. Reply politely.", "Ticket: my card was charged twice. Reply politely.", "the app crashes", "my card was charged twice", 25},
		{"the cat sat", "the car sat", "cat", "car", 8}, // never splits a word
		{"How do I reverse a string?", "How can I reverse a string?", "do", "can", 24},
		{"abc", "xyz", "abc", "xyz", 0},
		{"prefix only: one", "prefix only: one two", "one", "one two", 13},
		{"café au lait, please", "café noir, please", "au lait", "noir", 14}, // multi-byte prefix intact
	}
	for _, tt := range tests {
		va, vb, shared := templateSplit(tt.a, tt.b)
		if va != tt.va || vb != tt.vb || shared != tt.shared {
			t.Errorf("templateSplit(%q, %q) = %q, %q, %d; want %q, %q, %d", tt.a, tt.b, va, vb, shared, tt.va, tt.vb, tt.shared)
		}
	}
}

// templateLead and templateTail are a fixed prompt template wrapped around
// every payload (a support desk's), long enough to dominate an embedding.
const (
	templateLead = "You are the support assistant of an online shop. Read the customer's message below and write a reply. " +
		"Be polite, be brief, and use plain language. Do not promise refunds or delivery dates that the policy does not allow; " +
		"when in doubt, say that a colleague will follow up by e-mail within one working day. Never ask for passwords or card numbers. " +
		"Sign the reply as the support team. " +
		"Policy summary for this desk: items may be returned within the return window in their original packaging; " +
		"damaged goods are replaced or refunded after the customer sends a photograph of the damage; " +
		"orders can be changed until they leave the warehouse, after which the customer must return them; " +
		"subscriptions can be paused or cancelled at any time from the account page, and the desk may do it on request; " +
		"payment problems, double charges and missing refunds are passed to the billing team, who answer by e-mail; " +
		"questions about products are answered from the product page, and when the page does not say, the desk says so plainly. " +
		"Tone: warm but not chatty, no exclamation marks, no emojis, no marketing language, and no blame on the courier or the customer. " +
		"If the message is abusive, answer once, calmly, and flag the conversation for a supervisor. " +
		"If the message is not about an order, a product or an account, say politely that the desk cannot help with it.\n\nCustomer message:\n"
	templateTail = "\n\nWrite the reply in the customer's language, in at most one short paragraph, without a subject line."
)

var templatePayloads = []string{
	"the parcel arrived with a broken lid and the soup leaked everywhere",
	"i would like to change the colour of the sofa i ordered yesterday",
	"my account shows an order that i never placed, please check it",
	"the shoes are too small, how do i send them back for a bigger size",
	"can you tell me whether the blender works with the old style jugs",
	"the courier left the box at the wrong house down the street",
	"i was charged twice for the same order this morning",
	"the discount code from the newsletter is refused at checkout",
	"please cancel my subscription to the monthly coffee box",
	"the instructions for the shelf are missing from the package",
	"why is my order still marked as processing after a week",
	"the jacket i received is a different colour from the photo",
	"how can i update the delivery address on an open order",
	"the app logs me out every time i open the basket",
	"i want to know if the lamp comes with a bulb included",
	"the gift card balance is lower than what i expected",
	"the tent poles snapped on the first night of our trip",
	"can i pick up my order from the warehouse instead of delivery",
	"the invoice has the wrong company name on it",
	"the headphones only play sound on the left side",
}

// echoAnswers answers each request with a text naming its final user turn,
// so a test can tell which entry a hit came from.
type echoAnswers struct{ calls atomic.Int64 }

func (e *echoAnswers) Complete(_ context.Context, r *llm.Request) (*llm.Response, error) {
	e.calls.Add(1)
	return textResponse("answer to: " + r.LastUserText()), nil
}

func (e *echoAnswers) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, llm.NewError(llm.KindInternal, "no streams here")
}

// TestTemplateDifferentPayloadsNeverHit sends twenty requests built from one
// long template with different payloads, on both stores, with the lexical
// embedder at its shipped threshold: zero semantic hits between them (with
// the template check off, the same run does hit: the test shows the
// defect). An exact repeat of a templated request still hits, and so does
// the same payload reworded (case and punctuation); paraphrases without a
// template hit as before.
func TestTemplateDifferentPayloadsNeverHit(t *testing.T) {
	lex := embeddings.NewLexical(0)
	templated := func(p string) string { return templateLead + p + templateTail }
	run := func(t *testing.T, store Store, minTemplate int) (c *Cache, hits int, up *echoAnswers) {
		up = &echoAnswers{}
		c = newTestCache(t, up, Options{Exact: ExactOptions{Disabled: true}, Embedder: lex, Store: store, Logger: slog.New(slog.DiscardHandler),
			Semantic: SemanticOptions{Threshold: embeddings.DefaultLexicalThreshold, MinTemplateBytes: minTemplate, TopK: 8,
				FlushInterval: time.Millisecond, PurgeInterval: -1, SearchTimeout: 5 * time.Second, EmbedTimeout: 5 * time.Second}})
		for i, p := range templatePayloads {
			mv := ask(t, c, userRequest("acme", templated(p)))
			if mv.Cache == llm.CacheSemantic {
				hits++
			}
			waitWritten(t, c, float64(i+1-hits))
		}
		return c, hits, up
	}

	t.Run("the defect without the check", func(t *testing.T) {
		_, hits, _ := run(t, NewMemStore(1000), -1)
		if hits == 0 {
			t.Fatal("no false hits with the template check off: the payloads do not show the defect")
		}
		t.Logf("template check off: %d of %d templated requests were answered with another payload's answer", hits, len(templatePayloads))
	})

	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store, _ := b.open(t, lex.Dim())
			c, hits, up := run(t, store, 0)
			if hits != 0 {
				t.Fatalf("%d semantic hits between different payloads of one template", hits)
			}
			want := "answer to: " + templated(templatePayloads[3])
			calls := up.calls.Load()
			if mv := ask(t, c, userRequest("acme", templated(templatePayloads[3]))); mv.Cache != llm.CacheSemantic {
				t.Fatalf("exact repeat of a templated request: %+v", mv)
			}
			resp, err := c.Complete(context.Background(), userRequest("acme", templated(strings.ToUpper(templatePayloads[3][:1])+templatePayloads[3][1:]+"?")))
			if err != nil || resp.Choices[0].Message.Content.Text() != want {
				t.Fatalf("the same payload reworded: %v %v", err, resp)
			}
			if up.calls.Load() != calls {
				t.Fatal("a repeat went upstream")
			}

			// Paraphrases without a template still hit.
			stored, asked := "What is the capital city of France and why?", "what is the capital city of france, and why"
			ask(t, c, userRequest("acme", stored))
			waitWritten(t, c, float64(len(templatePayloads)+1))
			if mv := ask(t, c, userRequest("acme", asked)); mv.Cache != llm.CacheSemantic {
				t.Fatalf("untemplated near-duplicate: %+v", mv)
			}
			if got := gathered(t, metricsGatherer(c), "llmrouter_cache_semantic_rejected_total", "template"); got == 0 {
				t.Error("no candidate counted as rejected for its template")
			}
		})
	}
}
