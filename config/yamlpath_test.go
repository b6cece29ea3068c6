package config

import (
	"errors"
	"strings"
	"testing"
)

// TestYAMLProblemsAllAtOnceWithPathAndLine: a file with several schema
// mistakes gets every one of them back, each with its YAML path and line and
// none with a Go type name (yaml.v3 alone stopped at the first and said
// "field lisen not found in type config.Server").
func TestYAMLProblemsAllAtOnceWithPathAndLine(t *testing.T) {
	doc := `auth: {mode: none}
server:
  lisen: ":9090"
  read_timeout: 30
providers:
  - name: sim
    type: simulator
    simulator: {seed: many}
  - name: oai
    typ: openai
routing:
  tiers:
    small: {chain: [{provider: sim, model: m, timeout: 5}], on_exhausted: fail}
    small: {chain: []}
prices:
  gpt-4o: {input: cheap, output: 10}
`
	_, err := Parse([]byte(doc), fullEnv)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []string{
		"server.lisen: unknown field (line 3)",
		`server.read_timeout: want a duration written as a string such as "10s" or "250ms", got "30" (line 4)`,
		`providers[0].simulator.seed: want a whole number, got "many" (line 8)`,
		"providers[1].typ: unknown field (line 10)",
		`routing.tiers.small.chain[0].timeout: want a duration written as a string such as "10s" or "250ms", got "5" (line 13)`,
		"routing.tiers.small: repeated key (first at line 13) (line 14)",
		`prices.gpt-4o.input: want a number, got "cheap" (line 16)`,
	}
	if strings.Join(ve.Problems, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(ve.Problems, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "config.") || strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("error names Go types: %v", err)
	}
}

// TestYAMLWalkerAcceptsEveryShapeTheDecoderAccepts: anchors, merge keys,
// nulls and flow style decode as before.
func TestYAMLWalkerAcceptsEveryShapeTheDecoderAccepts(t *testing.T) {
	cases := []struct{ name, doc string }{
		{"anchors and merge keys", base + "\nusage: &u {queue_size: 10}\nlog: {level: info}\n"},
		{"null section", base + "\ndatabase:\n"},
		{"null list element field", base + "\nserver: {listen: null}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.doc), fullEnv); err != nil {
				t.Fatal(err)
			}
		})
	}
	merged := "defaults: &t {connect: 1s}\n"
	if _, err := Parse([]byte(merged+base), fullEnv); err == nil || !strings.Contains(err.Error(), "defaults: unknown field (line 1)") {
		t.Fatalf("err = %v", err)
	}
	withMerge := strings.Replace(base, "- {name: sim, type: simulator}", "- {name: sim, type: simulator, timeouts: {<<: {connect: 1s}, total: 2s}}", 1)
	c, err := Parse([]byte(withMerge), fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].Timeouts.Connect.String(); got != "1s" {
		t.Fatalf("merged connect = %s", got)
	}
}
