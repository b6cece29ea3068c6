package classifier

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"llmrouter/llm"
)

// Labelled is one prompt with how well a weak (small-tier) and a strong
// model answered it, for fitting and evaluating the router.
type Labelled struct {
	Req    *llm.Request
	Weak   float64 // quality of the weak model's answer in [0, 1]
	Strong float64 // quality of the strong model's answer in [0, 1]
	// Group is the prompt's kind ("subject", "group" or "category" field):
	// cross-validation holds out whole groups, so that the figures are for
	// kinds of prompt the fit never saw. "" puts the prompt in one group
	// per input line number modulo 10.
	Group string
}

// ReadLabelled reads labelled JSONL: one object a line with the prompt as
// "messages" or "prompt" (also "question", "instruction", "turns"; see
// RunJSONL) and either "weak_correct" and "strong_correct" (true/false or
// 0/1) or "weak_score" and "strong_score" (graded, in [0, 1]). A bad line is
// an error naming its line number.
func ReadLabelled(r io.Reader) ([]Labelled, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []Labelled
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if strings.TrimSpace(string(raw)) == "" {
			continue
		}
		fields, req, err := parseLine(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		ex := Labelled{Req: req}
		if ex.Weak, err = quality(fields, "weak"); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if ex.Strong, err = quality(fields, "strong"); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		for _, k := range []string{"subject", "group", "category"} {
			if v, ok := fields[k]; ok {
				if err := json.Unmarshal(v, &ex.Group); err != nil {
					return nil, fmt.Errorf("line %d: %s: must be a string", line, k)
				}
				break
			}
		}
		if ex.Group == "" {
			ex.Group = fmt.Sprintf("line-mod-%d", line%10)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no labelled prompts")
	}
	return out, nil
}

// quality reads <who>_correct or <who>_score.
func quality(fields map[string]json.RawMessage, who string) (float64, error) {
	if v, ok := fields[who+"_correct"]; ok {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			if b {
				return 1, nil
			}
			return 0, nil
		}
		var f float64
		if json.Unmarshal(v, &f) == nil && (f == 0 || f == 1) {
			return f, nil
		}
		return 0, fmt.Errorf("%s_correct: want true/false or 0/1", who)
	}
	if v, ok := fields[who+"_score"]; ok {
		var f float64
		if json.Unmarshal(v, &f) != nil || !(f >= 0 && f <= 1) {
			return 0, fmt.Errorf("%s_score: want a number in [0, 1]", who)
		}
		return f, nil
	}
	return 0, fmt.Errorf("missing %s_correct or %s_score", who, who)
}
