package guard

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		reason string // "" = must pass
	}{
		// pairs that must be refused
		{"percent of different number", "What is 15% of 80?", "What is 15% of 90?", ReasonNumbers},
		{"spelled vs digit differ", "What is five plus three?", "What is 5 plus 4?", ReasonNumbers},
		{"repeated number", "What is 2 + 2?", "What is 2 + 2 + 2?", ReasonNumbers},
		{"decimal", "Convert 3.5 miles to km", "Convert 3.25 miles to km", ReasonNumbers},
		{"date", "What happened on 2024-01-05?", "What happened on 2024-01-06?", ReasonNumbers},
		{"time", "Set an alarm for 7:30 am", "Set an alarm for 7:45 am", ReasonNumbers},
		{"unit attached", "Is 5km a long run?", "Is 10km a long run?", ReasonNumbers},
		{"thousands", "Is 1,000 bigger than 999?", "Is 1,001 bigger than 999?", ReasonNumbers},
		{"country", "What is the capital of France?", "What is the capital of Spain?", ReasonEntities},
		{"lower-case capital phrase", "capital of France", "capital of Spain", ReasonEntities},
		{"negation", "Is Python typed?", "Is Python not typed?", ReasonNegation},
		{"contraction", "Why does my code compile?", "Why doesn't my code compile?", ReasonNegation},
		{"without", "Make a cake with eggs", "Make a cake without eggs", ReasonNegation},
		{"programming language", "How do I sort a list in Python?", "How do I sort a list in Go?", ReasonEntities},
		{"acronym at sentence start", "AWS pricing for storage", "GCP pricing for storage", ReasonEntities},
		{"identifier", "what does os.path.join do", "what does os.path.split do", ReasonEntities},
		{"snake_case", "explain the read_file function", "explain the write_file function", ReasonEntities},
		{"camelCase", "why is getUserName slow", "why is getUserId slow", ReasonEntities},
		{"quoted", `translate "good morning" to german`, `translate "good night" to german`, ReasonEntities},
		{"url", "summarise https://example.com/a", "summarise https://example.com/b", ReasonEntities},
		{"email", "write to bob@example.com", "write to alice@example.com", ReasonEntities},
		{"largest vs smallest", "What is the largest planet?", "What is the smallest planet?", ReasonAntonym},
		{"more vs less", "Is a kilo more than a pound?", "Is a kilo less than a pound?", ReasonAntonym},
		{"before vs after", "What did Rome do before the war", "What did Rome do after the war", ReasonAntonym},
		{"ascending vs descending", "sort the list in ascending order", "sort the list in descending order", ReasonAntonym},
		{"encrypt vs decrypt", "how to encrypt a file with gpg", "how to decrypt a file with gpg", ReasonAntonym},
		{"script", "how are you", "как дела", ReasonScript},

		// pairs that must pass
		{"paraphrase", "how do i reverse a string in python", "how can I reverse a python string?", ""},
		{"case and punctuation", "What is the capital of France?", "what is the capital of france", ""},
		{"entity at sentence start", "Python: how do I read a file?", "How do I read a file in python?", ""},
		{"spelled equals digits", "What is five times three?", "what's 5 times 3", ""},
		{"normalised numbers", "Is 1,000 more than 3.50?", "is 1000 more than 3.5", ""},
		{"synonym directions", "Which is bigger, a cat or a dog?", "Which is larger: a cat or a dog?", ""},
		{"one-sided direction", "sort a list in python", "sort a list in python in ascending order", ""},
		{"same negation", "I don't understand recursion", "I do not understand recursion", ""},
		{"I is not an entity", "Can I use maps here?", "can i use maps here", ""},
		{"title case", "How To Bake Bread", "how to bake bread", ""},
		{"same identifier", "what does os.path.join do?", "explain `os.path.join`", ""},
		{"empty", "", "", ""},
		{"cjk same", "今天天气怎么样", "今天天气如何", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][2]string{{tt.a, tt.b}, {tt.b, tt.a}} {
				ok, reason := Check(order[0], order[1])
				if ok != (tt.reason == "") || reason != tt.reason {
					t.Errorf("Check(%q, %q) = %v, %q; want reason %q", order[0], order[1], ok, reason, tt.reason)
				}
			}
		})
	}
}

func TestCheckIdentical(t *testing.T) {
	for _, s := range []string{
		"What is 15% of 80?", "Is Python not typed?", `say "hi" to Bob at bob@example.com`,
		"The largest 3 numbers before 2020, not after", strings.Repeat("Word Another 12 ", 200),
	} {
		if ok, reason := Check(s, s); !ok {
			t.Errorf("Check(s, s) refused %q: %s", s, reason)
		}
	}
}

func TestNormNumber(t *testing.T) {
	for in, want := range map[string]string{
		"1,000": "1000", "007": "7", "3.50": "3.5", "2.0": "2", "0.5": "0.5", "0": "0", "10": "10", "1.2.3": "1.2.3",
	} {
		if got := normNumber(in); got != want {
			t.Errorf("normNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckShortPromptsDoNotAllocate(t *testing.T) {
	a, b := `How do I sort a list of 1000 "items" in Python without os.sort()?`, "how can I sort a Python list of 1000 \"items\" without os.sort()"
	if n := testing.AllocsPerRun(100, func() { Check(a, b) }); n != 0 {
		t.Errorf("Check allocated %v times per run, want 0", n)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("What is 15% of 80?", "What is 15% of 90?")
	f.Add("don’t “quote” 1,000.50", "I'm `x_y` www.a.b")
	f.Fuzz(func(t *testing.T, a, b string) {
		ok1, r1 := Check(a, b)
		ok2, r2 := Check(b, a)
		if ok1 != ok2 {
			t.Errorf("not symmetric: %v %q / %v %q", ok1, r1, ok2, r2)
		}
		if ok, r := Check(a, a); !ok {
			t.Errorf("Check(a, a) refused: %s", r)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	x := "How do I sort a list of 10 items in Python without using sorted()?"
	y := "how can I sort a python list of ten items without sorted()"
	b.ReportAllocs()
	b.SetBytes(int64(len(x) + len(y)))
	for b.Loop() {
		Check(x, y)
	}
}
