package classifier

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"llmrouter/llm"
)

// AssumedOutputTokens is the completion length RunJSONL assumes for every
// prompt when it estimates cost.
const AssumedOutputTokens = 300

// maxLine bounds one JSONL input line.
const maxLine = 16 << 20

// RunJSONL classifies one prompt per input line and writes one JSON object
// per line to out: the input's fields plus "tier", "score", "reasons" and
// "tokens". A line may carry its prompt as:
//
//   - "messages" (or "conversation"): an OpenAI messages array;
//   - "prompt", "question" (GSM8K, MMLU; with "choices" appended as lettered
//     options) or "instruction" (Self-Instruct, Alpaca; with "input" or the
//     first of "instances"[].input appended);
//   - "turns" (MT-Bench, Arena-Hard): the first turn, a string or an object
//     with "content".
//
// A line that cannot be read yields {"error": "...", "line": N} in out and the
// run goes on. At the end it writes to summary the share of prompts per tier
// and, when price is not nil, the estimated cost (price gives USD per million
// input and output tokens for a tier) against sending everything to the
// large tier, assuming AssumedOutputTokens output tokens per prompt. Output
// keys are sorted. It returns the first read or write error on in, out or
// summary, not per-line errors.
func RunJSONL(in io.Reader, out, summary io.Writer, c *Classifier, price func(llm.Tier) (inPerM, outPerM float64)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	w := bufio.NewWriter(out)
	var (
		line      int
		perTier   [llm.TierLarge + 1]int
		failed    int
		cost, all float64
	)
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		fields, req, err := parseLine(raw)
		if err != nil {
			failed++
			b, _ := json.Marshal(map[string]any{"error": err.Error(), "line": line})
			if err := writeLine(w, b); err != nil {
				return err
			}
			continue
		}
		d := c.Classify(req)
		perTier[d.Tier]++
		if price != nil {
			cost += promptCost(price, d.Tier, d.Tokens)
			all += promptCost(price, llm.TierLarge, d.Tokens)
		}
		fields["tier"], _ = json.Marshal(d.Tier.String())
		fields["score"], _ = json.Marshal(d.Score)
		fields["reasons"], _ = json.Marshal(d.Reasons)
		fields["tokens"], _ = json.Marshal(d.Tokens)
		b, err := json.Marshal(fields)
		if err != nil {
			return fmt.Errorf("classify: encode line %d: %w", line, err)
		}
		if err := writeLine(w, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		w.Flush()
		return fmt.Errorf("classify: read input after line %d: %w", line, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("classify: write output: %w", err)
	}
	return writeSummary(summary, perTier[:], failed, cost, all, price != nil)
}

func promptCost(price func(llm.Tier) (float64, float64), t llm.Tier, tokens int) float64 {
	in, out := price(t)
	return (float64(tokens)*in + AssumedOutputTokens*out) / 1e6
}

func writeLine(w *bufio.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("classify: write output: %w", err)
	}
	if err := w.WriteByte('\n'); err != nil {
		return fmt.Errorf("classify: write output: %w", err)
	}
	return nil
}

func writeSummary(w io.Writer, perTier []int, failed int, cost, all float64, priced bool) error {
	total := 0
	for _, n := range perTier {
		total += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "classified %d prompts", total)
	if failed > 0 {
		fmt.Fprintf(&b, " (%d lines with errors)", failed)
	}
	b.WriteString("\n")
	for _, t := range llm.Tiers {
		share := 0.0
		if total > 0 {
			share = 100 * float64(perTier[t]) / float64(total)
		}
		fmt.Fprintf(&b, "  %-6s %6d  %5.1f%%\n", t, perTier[t], share)
	}
	if priced {
		saving := 0.0
		if all > 0 {
			saving = 100 * (1 - cost/all)
		}
		fmt.Fprintf(&b, "estimated cost $%.4f vs $%.4f all-large (saving %.1f%%), assuming %d output tokens per prompt\n",
			cost, all, saving, AssumedOutputTokens)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("classify: write summary: %w", err)
	}
	return nil
}

// parseLine decodes one input line into its fields and the request to
// classify.
func parseLine(raw []byte) (map[string]json.RawMessage, *llm.Request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, fmt.Errorf("not a json object: %w", err)
	}
	if fields == nil {
		return nil, nil, errors.New("not a json object")
	}
	for _, key := range []string{"messages", "conversation"} {
		if m, ok := fields[key]; ok {
			var msgs []llm.Message
			if err := json.Unmarshal(m, &msgs); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", key, err)
			}
			if len(msgs) == 0 {
				return nil, nil, fmt.Errorf("%s: empty", key)
			}
			return fields, &llm.Request{Messages: msgs}, nil
		}
	}
	text, err := promptText(fields)
	if err != nil {
		return nil, nil, err
	}
	return fields, &llm.Request{Messages: []llm.Message{{Role: "user", Content: llm.TextContent(text)}}}, nil
}

func promptText(fields map[string]json.RawMessage) (string, error) {
	str := func(key string) (string, bool, error) {
		v, ok := fields[key]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, fmt.Errorf("%s: must be a string", key)
		}
		return s, true, nil
	}
	for _, key := range []string{"prompt", "question"} {
		s, ok, err := str(key)
		if err != nil {
			return "", err
		}
		if ok {
			return s + choicesText(fields["choices"]), nil
		}
	}
	if s, ok, err := str("instruction"); ok || err != nil {
		if err != nil {
			return "", err
		}
		return s + instructionInput(fields), nil
	}
	if t, ok := fields["turns"]; ok {
		var turns []json.RawMessage
		if err := json.Unmarshal(t, &turns); err != nil || len(turns) == 0 {
			return "", errors.New("turns: must be a non-empty array")
		}
		var s string
		if json.Unmarshal(turns[0], &s) == nil {
			return s, nil
		}
		var obj struct {
			Content *string `json:"content"`
		}
		if json.Unmarshal(turns[0], &obj) == nil && obj.Content != nil {
			return *obj.Content, nil
		}
		return "", errors.New("turns: the first turn must be a string or an object with content")
	}
	return "", errors.New("no prompt: want messages, prompt, question, instruction or turns")
}

// choicesText renders a "choices" array of strings as lettered options.
func choicesText(raw json.RawMessage) string {
	var choices []string
	if len(raw) == 0 || json.Unmarshal(raw, &choices) != nil || len(choices) == 0 {
		return ""
	}
	var b strings.Builder
	for i, ch := range choices {
		fmt.Fprintf(&b, "\n%c. %s", 'A'+rune(i%26), ch)
	}
	return b.String()
}

// instructionInput returns "\n\n" + the task input of an instruction line, if
// any.
func instructionInput(fields map[string]json.RawMessage) string {
	var in string
	if v, ok := fields["input"]; ok {
		_ = json.Unmarshal(v, &in)
	} else if v, ok := fields["instances"]; ok {
		var inst []struct {
			Input string `json:"input"`
		}
		if json.Unmarshal(v, &inst) == nil && len(inst) > 0 {
			in = inst[0].Input
		}
	}
	if strings.TrimSpace(in) == "" {
		return ""
	}
	return "\n\n" + in
}
