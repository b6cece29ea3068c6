package classifier

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"llmrouter/llm"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/scan_golden*.txt from the current scanner")

const (
	goldenHashes = "testdata/scan_golden.txt"
	goldenSample = "testdata/scan_golden_sample.txt"
)

// goldenCase is one request of the golden set.
type goldenCase struct {
	name string
	req  *llm.Request
}

// TestScanGolden locks what the scan of every prompt of the shared sets
// (the prompt sets, the first 2,000 MMLU questions) and of synthetic edge
// cases produces: the Decision of the learned and the hand scorers, the
// scanner's counts and term sums, a hand scan with a small window, and the
// terms a fitting scan records. testdata/scan_golden.txt holds a hash of
// that per request; testdata/scan_golden_sample.txt holds it in full for
// the synthetic cases and every 50th shared prompt, so that a mismatch
// there shows what changed. Any change to the scanner must keep them
// byte-identical unless it means to change results (then run with
// -update and say why in the commit).
func TestScanGolden(t *testing.T) {
	learned, hand := scorers(t)
	ho := HandOptions()
	ho.WindowBytes = 300
	windowed, err := New(ho)
	if err != nil {
		t.Fatal(err)
	}

	termed, err := New(termModelOptions(t))
	if err != nil {
		t.Fatal(err)
	}

	cases := goldenCases(t)
	var hashes, sample strings.Builder
	got := map[string]string{}
	for i, gc := range cases {
		rec := goldenRecord([]*Classifier{learned, hand, windowed, termed}, gc.req)
		h := fnv.New64a()
		h.Write([]byte(rec))
		line := fmt.Sprintf("%016x", h.Sum64())
		fmt.Fprintf(&hashes, "%s %s\n", gc.name, line)
		got[gc.name] = line
		if inSample(gc.name, i) {
			fmt.Fprintf(&sample, "== %s\n%s\n", gc.name, rec)
			got["sample:"+gc.name] = rec
		}
	}
	if *updateGolden {
		if err := os.WriteFile(goldenHashes, []byte(hashes.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenSample, []byte(sample.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases", len(cases))
		return
	}

	want := readGoldenHashes(t)
	if len(want) != len(cases) {
		t.Errorf("golden has %d cases, the set has %d", len(want), len(cases))
	}
	wantSample := readGoldenSample(t)
	bad := 0
	for _, gc := range cases {
		w, ok := want[gc.name]
		if !ok {
			t.Errorf("%s: not in %s", gc.name, goldenHashes)
			continue
		}
		if w == got[gc.name] {
			continue
		}
		bad++
		if bad > 20 {
			continue
		}
		if ws, ok := wantSample[gc.name]; ok {
			t.Errorf("%s: scan differs\n got: %s\nwant: %s", gc.name, got["sample:"+gc.name], ws)
		} else {
			t.Errorf("%s: scan differs (hash %s, want %s)", gc.name, got[gc.name], w)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d cases differ", bad, len(cases))
	}
}

// inSample reports whether case i is kept in full: the hand-written
// synthetic cases, every tenth random one and every 50th shared prompt.
func inSample(name string, i int) bool {
	if strings.HasPrefix(name, "synthetic/random/") {
		return i%10 == 0
	}
	return strings.HasPrefix(name, "synthetic/") || i%50 == 0
}

// termModelOptions is DefaultOptions with a model that has word, pair and
// suffix terms (the shipped one has none), so that the golden set covers
// the term lookups.
func termModelOptions(t *testing.T) Options {
	o := DefaultOptions()
	f := o.Model.File()
	f.Terms = map[string][2]float64{}
	keys := strings.Fields(`w:the w:of w:which w:is w:a w:what w:answer w:integral w:prime w:code
		w:function w:how w:many w:explain w:summarize w:patient w:year w:old w:most w:likely
		w:following w:statement w:true w:false w:not w:x w:zebra w:def w:return w:step
		b:which_of b:of_the b:the_following b:how_many b:is_the b:step_by b:by_step b:year_old
		b:most_likely b:true_true b:in_the b:what_is b:don_t b:a_function
		s:tion s:ment s:ally s:ness s:able s:ical s:ings s:ated s:ence s:ture s:logy`)
	for i, k := range keys {
		f.Terms[strings.ReplaceAll(k, "_", " ")] = [2]float64{float64(i%7-3) / 8, float64(i%5-2) / 16}
	}
	m, err := newModel(f)
	if err != nil {
		t.Fatal(err)
	}
	o.Model = m
	return o
}

// goldenRecord formats everything a scan of req decides with each of cs
// (learned, hand, hand with a small window, learned with terms).
func goldenRecord(cs []*Classifier, req *llm.Request) string {
	var b strings.Builder
	for i, c := range cs {
		d := c.Classify(req)
		fmt.Fprintf(&b, "%d: tier=%v score=%v large=%v tokens=%d reasons=%q\n", i, d.Tier, d.Score, d.Large, d.Tokens, d.Reasons)
		s := &scanner{kw: c.kw, vocab: c.vocab, terms: c.terms}
		s.ts.reset()
		sh := c.scanRequest(s, req)
		var top []string // term names: slots depend on the map order the model was built in
		for _, k := range s.ts.top {
			if k >= 0 {
				top = append(top, c.terms.names[k])
			}
		}
		fmt.Fprintf(&b, "  counts=%+v\n  skipped=%d shape=%+v sum=%v top=%q\n", s.c, s.skipped, sh, s.ts.sum, top)
	}
	// The fitting scan (featurise): the hand classifier's tables and a
	// term recorder.
	hand := cs[1]
	s := &scanner{kw: hand.kw, vocab: hand.vocab}
	var terms []string
	s.rec = func(key string) { terms = append(terms, key) }
	hand.scanRequest(s, req)
	h := fnv.New64a()
	for _, k := range terms {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	fmt.Fprintf(&b, "terms: %d %016x", len(terms), h.Sum64())
	if len(terms) > 0 {
		fmt.Fprintf(&b, " first=%q last=%q", terms[0], terms[len(terms)-1])
	}
	return b.String()
}

func goldenCases(t *testing.T) []goldenCase {
	var cases []goldenCase
	for _, ds := range loadDatasets(t) {
		for i, req := range ds.reqs {
			cases = append(cases, goldenCase{fmt.Sprintf("%s/%d", ds.name, i), req})
		}
	}
	mmlu := loadMMLU(t)
	for i := 0; i < len(mmlu) && i < 2000; i++ {
		cases = append(cases, goldenCase{fmt.Sprintf("mmlu/%d", i), mmlu[i].Req})
	}
	for _, sc := range syntheticCases(t) {
		cases = append(cases, goldenCase{"synthetic/" + sc.name, sc.req})
	}
	return cases
}

func syntheticCases(t *testing.T) []goldenCase {
	user := func(s string) *llm.Request {
		return &llm.Request{Messages: []llm.Message{{Role: "user", Content: llm.TextContent(s)}}}
	}
	texts := []struct{ name, text string }{
		{"empty", ""},
		{"space", " "},
		{"newlines", "\n\n\r\n\n"},
		{"crlf", "Line one.\r\nLine two?\r\n\r\n  indented\r\n"},
		{"accents", "Café naïve résumé über straße — “quoted” ‘single’ … façade"},
		{"cyrillic", "Привет, как дела? Объясни теорему Пифагора."},
		{"cjk", "请解释量子纠缠的原理。这是一个很难的问题吗？日本語のテキストも。한국어 문장."},
		{"emoji", "🚀🔥 Explain why 😀 the sky is blue 👍🏽👨‍👩‍👧 and 🇫🇷 flags"},
		{"math-runes", "Let α, β ∈ ℝ with α ≤ β, x² + y³ ≠ 0, ∑ᵢ xᵢ → ∞, 3 × 4 ÷ 2 ± 1, √2 ⇒ ↔"},
		{"latex", `Prove that \int_0^1 x^2 \, dx = \frac{1}{3} and \sum_{n=1}^\infty \frac{1}{n^2} = \frac{\pi^2}{6}. Also \alpha\beta and a\b.`},
		{"code-fence", "Fix the bug in this function:\n```python\ndef f(x):\n    return x == 1 and x != 2\n    # comment -> arrow => fat\n```\nThanks!"},
		{"code-tilde", "~~~go\nfunc main() {\n\tfmt.Println(\"hi\");\n}\n~~~\n"},
		{"code-lines", ">>> import os\nfrom x import y\nfrom here we go\n#include <stdio.h>\nSELECT * FROM t;\n    indented code line\n    - a list in indent\n}\n#!/bin/sh\n// comment\nfor (i = 0; i < n; i++) {\nlet a = 1\n"},
		{"long-word", strings.Repeat("a", 5000) + " " + strings.Repeat("Bc", 700) + " supercalifragilisticexpialidocious Pneumonoultramicroscopicsilicovolcanoconiosis"},
		{"camel", "getHTTPResponseCode parseJSONToMap XMLHttpRequest iPhone McDonald OAuth2Token snake_case_name _private .method __dunder__ kebab-case-word"},
		{"caps", "HELLO WORLD Explain Why The Sky Is BLUE. NASA, FBI and the U.S.A."},
		{"digits", "1234567890 3.14159 1,000,000 12.5.6 0x1F 1e10 -42 +7 x2 abc123 2nd 1st 10% $5.99 1.2.3.4 007"},
		{"numbers-math", "If 3 + 4 = x and x * 2 > 10, what is x^2 - 1? Compute 12/4, 5-3, 7 - 2, a+b, word/word, (1+2)*3."},
		{"word-problem", "Tom has 3 apples and buys twice as many. How many apples does he have in total? Each costs $2; how much did he spend altogether?"},
		{"options", "Which is prime?\nA. 4\nB) 6\n(C) 7\nD: 9\n  E. 10\nAnswer:"},
		{"inline-options", "Pick one: (a) red (b) blue (c) green (d) none (f) other"},
		{"lists", "Steps:\n1. first\n2) second\n10. tenth\n- dash\n* star\n+ plus\n• bullet\n123. big\n1.5 is not a list"},
		{"easy-window", "Summarize the following text.\n\n" + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20) + "This summary is a pasted word. " + strings.Repeat("Lorem ipsum dolor sit amet. ", 20) + "\nTranslate it too."},
		{"easy-late", strings.Repeat("Some pasted document text goes here. ", 30) + "summary translate " + strings.Repeat("More text here. ", 30)},
		{"phrases", "Think step-by-step. Don't use more than 3 words; do not repeat. What if the time complexity is big-O? Make sure each sentence counts, at least twice."},
		{"punct", "Hello!!! What??? (yes) [no] {maybe}; a==b, a!=b, a->b, a=>b, a = b, a^b, !x, ~y, `z`, @at #hash $dollar %mod &and |or"},
		{"tabs-spaces", "a  b   c\t\td \t e\n\tindented tab\n        eight spaces\n   \n\t\n"},
		{"invalid-utf8", "abc \xff\xfe def \xc3 ghi \xe2\x82 end \xf0\x9f\x98"},
		{"truncated-rune", "ends mid rune \xe4\xbd"},
		{"combining", "e\u0301 a\u0308 n\u0303 Z\u0351\u0352"},
		{"zero-width", "zero\u200bwidth\u200djoiner\ufeffbom\u00a0nbsp"},
		{"high-planes", "\U0001F600\U0001D400\U00020000 math 𝑥 𝕏"},
		{"greek", "Let Δ = b² − 4ac and σ the standard deviation, λ eigenvalue, Ω ohm"},
		{"pairs-broken", "how \u00e9 many; prime, number; step 😀 by step"},
		{"json", `{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "units": ["c", "f"]}}`},
		{"url-path", "See https://example.com/a/b?x=1&y=2#frag and /usr/local/bin, C:\\Windows\\System32"},
		{"single-letters", "a b c d e f g h i j k l m n o p q r s t u v w x y z A B C"},
		{"question-only", "?"},
		{"fence-unclosed", "```\ncode without end\nmore code {\n"},
		{"line-open-edge", "A\nB.\n(C\n(D)\nE:x\nF. not an option\n"},
	}
	var out []goldenCase
	for _, tc := range texts {
		out = append(out, goldenCase{tc.name, user(tc.text)})
	}

	big := strings.Repeat("Explain the proof of the theorem step by step, with code: def f(x): return x**2. ", 1000) + "élan 量子"
	out = append(out, goldenCase{"windowed-64k", user(big)})

	// Easy-task cues on either side of the edges of easyWindow, one
	// message each.
	var edge llm.Request
	for k := 308; k <= 322; k++ { // easyWindow is 320
		pad := strings.Repeat("x", k)
		edge.Messages = append(edge.Messages,
			llm.Message{Role: "user", Content: llm.TextContent(pad + " summarize " + strings.Repeat("y", 400))},
			llm.Message{Role: "user", Content: llm.TextContent(strings.Repeat("y", 400) + " translate " + pad)})
	}
	out = append(out, goldenCase{"easy-edges", &edge})

	// Requests with structure: several roles, parts, tool calls, tools and
	// a response format.
	for _, js := range []struct{ name, body string }{
		{"multi-turn", `{"messages":[{"role":"system","content":"You are a helpful assistant. Always answer exactly."},{"role":"user","content":"Why is the sky blue?"},{"role":"assistant","content":"Rayleigh scattering."},{"role":"user","content":"Explain the math: derive the 1/λ^4 law step by step."}]}`},
		{"parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"Describe this image in detail."},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}},{"type":"text","text":"And summarize it."}]}]}`},
		{"tools", `{"messages":[{"role":"user","content":"What is the weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":3}"}}]},{"role":"tool","tool_call_id":"c1","content":"{\"temp\": 21, \"summary\": \"sunny\"}"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather forecast for a city.","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]}`},
		{"json-schema", `{"messages":[{"role":"user","content":"Extract the names."}],"response_format":{"type":"json_schema","json_schema":{"name":"names","schema":{"type":"object","properties":{"names":{"type":"array","items":{"type":"string"}}}}}}}`},
		{"json-object", `{"messages":[{"role":"user","content":"Give JSON."}],"response_format":{"type":"json_object"},"max_tokens":4000}`},
	} {
		var req llm.Request
		if err := json.Unmarshal([]byte(js.body), &req); err != nil {
			t.Fatalf("%s: %v", js.name, err)
		}
		out = append(out, goldenCase{js.name, &req})
	}

	// Random mixes of the fragments the scanner treats specially, from a
	// fixed seed.
	frags := []string{
		"the", "The", "integral", "Integral", "prime", "number", "how", "many", "step", "by", "summary",
		"don", "t", "'", "-", "_", ".", ",", ";", "?", "!", "{", "}", "(", ")", "(a)", "==", "->", "=>",
		"=", "+", "*", "/", "^", "\\frac", "\\", "<", ">", "1", "23", "4.5", "1,000", " ", "  ", "\t",
		"\n", "\n\n", "\r\n", "    ", "```", "~~~", "A. ", "B) ", "(C) ", "1. ", "- ", "• ", "def ", "from ",
		" import ", "é", "—", "量", "😀", "∑", "²", "×", "\xff", "camelCase", "HTTPServer", "x", "Zebra",
		"optimization", "thermodynamics", "abcdefghijklmnop", "ZZ", "mg", "year", "old",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var b strings.Builder
		n := 1 + rng.IntN(120)
		for range n {
			b.WriteString(frags[rng.IntN(len(frags))])
			if rng.IntN(3) == 0 {
				b.WriteByte(' ')
			}
		}
		out = append(out, goldenCase{fmt.Sprintf("random/%d", i), user(b.String())})
	}
	return out
}

func readGoldenHashes(t *testing.T) map[string]string {
	f, err := os.Open(goldenHashes)
	if err != nil {
		t.Fatalf("%v (run go test -run TestScanGolden -update)", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, h, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("%s: bad line %q", goldenHashes, sc.Text())
		}
		out[name] = h
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readGoldenSample(t *testing.T) map[string]string {
	b, err := os.ReadFile(goldenSample)
	if err != nil {
		t.Fatalf("%v (run go test -run TestScanGolden -update)", err)
	}
	out := map[string]string{}
	for _, block := range strings.Split("\n"+string(b), "\n== ")[1:] {
		name, rec, _ := strings.Cut(block, "\n")
		out[name] = strings.TrimSuffix(rec, "\n")
	}
	return out
}
