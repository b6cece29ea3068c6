package classifier

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"llmrouter/llm"
)

func TestRunJSONL(t *testing.T) {
	c := newDefault(t)
	in := strings.Join([]string{
		`{"prompt":"hi there","id":7}`,
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"prove that sqrt 2 is irrational"}],"tag":"x"}`,
		`not json`,
		``,
		`{"question":"Tom has 3 apples and buys 5 more bags of 4 apples each. He gives half of them to his 2 sisters, who each eat 3, and sells the rest at $0.75 each. How much money does he make in total?","answer":"9"}`,
		`{"turns":["Write a haiku about autumn.","Now another."],"category":"writing"}`,
		`{"turns":[{"content":"Implement a lock-free queue in C++ and prove it is linearizable."}]}`,
		`{"instruction":"Translate to German.","instances":[{"input":"Good morning","output":"Guten Morgen"}]}`,
		`{"question":"Which planet is largest?","choices":["Mars","Jupiter","Venus","Earth"],"subject":"astronomy"}`,
		`{"prompt":42}`,
		`{"nothing":"here"}`,
	}, "\n")
	var out, summary bytes.Buffer
	price := func(t llm.Tier) (float64, float64) {
		return map[llm.Tier]float64{llm.TierSmall: 0.5, llm.TierMedium: 3, llm.TierLarge: 15}[t], 2 * float64(t)
	}
	if err := RunJSONL(strings.NewReader(in), &out, &summary, c, price); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		rows = append(rows, m)
	}
	if len(rows) != 10 {
		t.Fatalf("%d output lines, want 10 (blank input line skipped)", len(rows))
	}
	// "up" means medium or large; "" means an error line.
	wantTier := []string{"small", "up", "", "up", "small", "up", "small", "small", "", ""}
	for i, row := range rows {
		_, isErr := row["error"]
		if (wantTier[i] == "") != isErr {
			t.Errorf("row %d: %v", i, row)
			continue
		}
		if isErr {
			if row["line"] == nil {
				t.Errorf("row %d: error without line number: %v", i, row)
			}
			continue
		}
		if tier := row["tier"]; wantTier[i] == "up" && tier == "small" || wantTier[i] != "up" && tier != wantTier[i] {
			t.Errorf("row %d: tier %v, want %s (%v)", i, row["tier"], wantTier[i], row)
		}
		if _, ok := row["score"].(float64); !ok {
			t.Errorf("row %d: no score", i)
		}
		if _, ok := row["reasons"].([]any); !ok {
			t.Errorf("row %d: no reasons", i)
		}
	}
	// The second line: messages classify as their content says.
	if rows[1]["tier"] == "small" || rows[1]["tag"] != "x" {
		t.Errorf("messages row %v", rows[1])
	}
	if rows[0]["id"] != float64(7) {
		t.Errorf("fields not copied: %v", rows[0])
	}
	if rows[2]["line"] != float64(3) {
		t.Errorf("bad line reported as %v, want 3", rows[2]["line"])
	}
	s := summary.String()
	for _, want := range []string{"classified 7 prompts", "(3 lines with errors)", "small", "medium", "large", "all-large", "300 output tokens"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestRunJSONLWithoutPrices(t *testing.T) {
	var out, summary bytes.Buffer
	if err := RunJSONL(strings.NewReader(`{"prompt":"hi"}`), &out, &summary, newDefault(t), nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(summary.String(), "cost") || !strings.Contains(summary.String(), "classified 1 prompts") {
		t.Errorf("summary %q", summary.String())
	}
}
