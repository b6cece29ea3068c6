package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// base is a small valid configuration that the table tests mutate.
const base = `
auth:
  mode: keys
  keys:
    - {tenant: a, key_env: KEY_A}
providers:
  - {name: sim, type: simulator}
  - {name: oai, type: openai, api_key_env: OPENAI_API_KEY}
  - {name: ant, type: anthropic, api_key_env: ANTHROPIC_API_KEY}
models:
  fast:
    - {provider: sim, model: m1}
routing:
  tiers:
    small: {chain: [{provider: sim, model: m1}]}
    medium: {chain: [{provider: oai, model: gpt-4o}]}
    large: {chain: [{provider: ant, model: claude-opus}]}
cache:
  semantic:
    alias_thresholds: {fast: 0.99}
prices:
  gpt-4o: {input: 2.5, output: 10}
`

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

var fullEnv = env("KEY_A", "secret-a", "OPENAI_API_KEY", "sk-test", "ANTHROPIC_API_KEY", "sk-ant-test")

// mutate decodes base, sets path (dot separated, numbers index lists) to v
// (nil deletes the key), and returns the YAML again.
func mutate(t *testing.T, sets ...any) []byte {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal([]byte(base), &root); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(sets); i += 2 {
		setPath(t, root, strings.Split(sets[i].(string), "."), sets[i+1])
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func setPath(t *testing.T, node any, path []string, v any) {
	t.Helper()
	last := len(path) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			if v == nil {
				delete(n, path[0])
			} else {
				n[path[0]] = v
			}
			return
		}
		child, ok := n[path[0]]
		if !ok {
			child = map[string]any{}
			n[path[0]] = child
		}
		setPath(t, child, path[1:], v)
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i >= len(n) {
			t.Fatalf("bad index %q", path[0])
		}
		if last {
			n[i] = v
			return
		}
		setPath(t, n[i], path[1:], v)
	default:
		t.Fatalf("cannot descend into %T at %v", node, path)
	}
}

func TestBaseIsValid(t *testing.T) {
	c, err := Parse([]byte(base), fullEnv)
	if err != nil {
		t.Fatalf("base config: %v", err)
	}
	if got := c.Provider("oai").APIKey; got != "sk-test" {
		t.Errorf("openai api key = %q, want resolved from env", got)
	}
	if got := c.Auth.Keys[0].Key; got != "secret-a" {
		t.Errorf("client key = %q, want resolved from env", got)
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml []byte
		env  func(string) string
		want []string // each must start one of the problems
	}{
		{"listen", mutate(t, "server.listen", "8080"), fullEnv, []string{`server.listen: must be host:port`}},
		{"negative body", mutate(t, "server.max_body_bytes", -1), fullEnv, []string{"server.max_body_bytes: must be positive"}},
		{"negative duration", mutate(t, "server.read_timeout", "-1s"), fullEnv, []string{"server.read_timeout: must be a positive duration"}},
		{"heartbeat >= stream", mutate(t, "server.heartbeat_interval", "10m"), fullEnv, []string{"server.heartbeat_interval: must be shorter"}},
		{"stream_coalesce too long", mutate(t, "server.stream_coalesce", "1s"), fullEnv, []string{"server.stream_coalesce: must be between 0 and 50ms"}},
		{"log level", mutate(t, "log.level", "loud"), fullEnv, []string{`log.level: must be one of debug, info, warn, error, got "loud"`}},
		{"auth mode", mutate(t, "auth.mode", "open"), fullEnv, []string{`auth.mode: must be one of keys, none`}},
		{"keys mode without keys", mutate(t, "auth.keys", []any{}), fullEnv, []string{"auth.keys: at least one key is required"}},
		{"key without tenant", mutate(t, "auth.keys.0.tenant", ""), fullEnv, []string{"auth.keys[0].tenant: is required"}},
		{"key env unset", []byte(base), env("OPENAI_API_KEY", "x", "ANTHROPIC_API_KEY", "y"), []string{"auth.keys[0].key_env: environment variable KEY_A is not set"}},
		{"key both", mutate(t, "auth.keys.0.key_sha256", strings.Repeat("ab", 32)), fullEnv, []string{"auth.keys[0]: set only one of key_env and key_sha256"}},
		{"key neither", mutate(t, "auth.keys.0", map[string]any{"tenant": "a"}), fullEnv, []string{"auth.keys[0]: one of key_env or key_sha256 is required"}},
		{"key bad sha", mutate(t, "auth.keys.0", map[string]any{"tenant": "a", "key_sha256": "abc"}), fullEnv, []string{"auth.keys[0].key_sha256: must be 64 hex digits"}},
		{"key bad max tier", mutate(t, "auth.keys.0.max_tier", "huge"), fullEnv, []string{`auth.keys[0].max_tier: must be one of small, medium, large`}},
		{"duplicate key", mutate(t, "auth.keys", []any{
			map[string]any{"tenant": "a", "key_env": "KEY_A"}, map[string]any{"tenant": "b", "key_env": "KEY_A"}}), fullEnv,
			[]string{"auth.keys[1]: same key as auth.keys[0]"}},
		{"admin key env unset", mutate(t, "auth.admin_keys", []any{map[string]any{"tenant": "ops", "key_env": "ADMIN"}}), fullEnv,
			[]string{"auth.admin_keys[0].key_env: environment variable ADMIN is not set"}},
		{"key looks like a digest", []byte(base), env("KEY_A", strings.Repeat("ab", 32), "OPENAI_API_KEY", "x", "ANTHROPIC_API_KEY", "y"),
			[]string{"auth.keys[0].key_env: the value of KEY_A is 64 hex digits"}},
		{"bad env name", mutate(t, "auth.keys.0.key_env", "1-BAD"), fullEnv, []string{`auth.keys[0].key_env: "1-BAD" is not an environment variable name`}},
		{"no providers", mutate(t, "providers", []any{}, "models", nil, "routing.auto_aliases", []any{}, "routing.tiers", nil), fullEnv,
			[]string{"providers: at least one provider is required"}},
		{"provider without name", mutate(t, "providers.0.name", ""), fullEnv, []string{"providers[0].name: is required"}},
		{"duplicate provider", mutate(t, "providers.1.name", "sim"), fullEnv, []string{`providers[1].name: duplicate provider name "sim"`}},
		{"provider type", mutate(t, "providers.0.type", "gemini"), fullEnv, []string{`providers[0].type: must be one of openai, anthropic, simulator, got "gemini"`}},
		{"provider type missing", mutate(t, "providers.0.type", ""), fullEnv, []string{`providers[0].type: is required`}},
		{"base url", mutate(t, "providers.1.base_url", "ftp://x"), fullEnv, []string{"providers[1].base_url: must be an absolute http(s) URL"}},
		{"relative base url", mutate(t, "providers.1.base_url", "/v1"), fullEnv, []string{"providers[1].base_url: must be an absolute http(s) URL"}},
		{"base url with credentials", mutate(t, "providers.1.base_url", "https://u:p@h/v1"), fullEnv, []string{"providers[1].base_url: must not carry credentials"}},
		{"base url with query", mutate(t, "providers.1.base_url", "https://h/v1?x=1"), fullEnv, []string{"providers[1].base_url: must not have a query"}},
		{"provider key unset", []byte(base), env("KEY_A", "a", "ANTHROPIC_API_KEY", "y"), []string{"providers[1].api_key_env: environment variable OPENAI_API_KEY is not set"}},
		{"anthropic key missing", mutate(t, "providers.2.api_key_env", nil), fullEnv, []string{"providers[2].api_key_env: is required for anthropic"}},
		{"openai default url needs key", mutate(t, "providers.1.api_key_env", nil), fullEnv, []string{"providers[1].api_key_env: is required for openai at https://api.openai.com/v1"}},
		{"simulator with base url", mutate(t, "providers.0.base_url", "http://x"), fullEnv, []string{"providers[0].base_url: not used by a simulator provider"}},
		{"simulator with key", mutate(t, "providers.0.api_key_env", "OPENAI_API_KEY"), fullEnv, []string{"providers[0].api_key_env: not used by a simulator provider"}},
		{"simulator rates", mutate(t, "providers.0.simulator", map[string]any{"error_rate": 1.5, "rate_limit_rate": -0.1}), fullEnv,
			[]string{"providers[0].simulator.error_rate: must be in [0,1]", "providers[0].simulator.rate_limit_rate: must be in [0,1]"}},
		{"simulator rate sum", mutate(t, "providers.0.simulator", map[string]any{"error_rate": 0.6, "rate_limit_rate": 0.6}), fullEnv,
			[]string{"providers[0].simulator: error_rate + rate_limit_rate must not exceed 1"}},
		{"simulator speed", mutate(t, "providers.0.simulator", map[string]any{"tokens_per_second": -1, "time_to_first_token": "-1s"}), fullEnv,
			[]string{"providers[0].simulator.tokens_per_second: must be >= 0", "providers[0].simulator.time_to_first_token: must not be negative"}},
		{"simulator section on openai", mutate(t, "providers.1.simulator", map[string]any{"seed": 1}), fullEnv, []string{"providers[1].simulator: only valid with type simulator"}},
		{"anthropic fields on openai", mutate(t, "providers.1.anthropic_version", "2023-06-01"), fullEnv, []string{"providers[1]: anthropic_version and default_max_tokens apply to type anthropic only"}},
		{"anthropic negative max tokens", mutate(t, "providers.2.default_max_tokens", -5), fullEnv, []string{"providers[2].default_max_tokens: must be positive"}},
		{"bad header", mutate(t, "providers.1.headers", map[string]any{"bad header": "x"}), fullEnv, []string{`providers[1].headers: invalid header name "bad header"`}},
		{"header env unset", mutate(t, "providers.1.headers_env", map[string]any{"api-key": "AZURE_KEY"}), fullEnv, []string{"providers[1].headers_env.api-key: environment variable AZURE_KEY is not set"}},
		{"provider timeouts", mutate(t, "providers.1.timeouts", map[string]any{"connect": "-1s"}), fullEnv, []string{"providers[1].timeouts.connect: must be a positive duration"}},
		{"max conns", mutate(t, "providers.1.max_conns", -1), fullEnv, []string{"providers[1].max_conns: must be positive"}},
		{"alias unknown provider", mutate(t, "models.fast.0.provider", "nope"), fullEnv, []string{`models.fast[0].provider: unknown provider "nope"`}},
		{"alias target without model", mutate(t, "models.fast.0.model", ""), fullEnv, []string{"models.fast[0].model: is required"}},
		{"alias target without provider", mutate(t, "models.fast.0.provider", ""), fullEnv, []string{"models.fast[0].provider: is required"}},
		{"alias empty chain", mutate(t, "models.fast", []any{}), fullEnv, []string{"models.fast: chain must have at least one target"}},
		{"alias negative timeout", mutate(t, "models.fast.0.timeout", "-2s", "models.fast.0.context_window", -1), fullEnv,
			[]string{"models.fast[0].timeout: must not be negative", "models.fast[0].context_window: must not be negative"}},
		{"alias repeats target", mutate(t, "models.fast", []any{map[string]any{"provider": "sim", "model": "m1"}, map[string]any{"provider": "sim", "model": "m1"}}), fullEnv,
			[]string{"models.fast[1]: repeats target 0"}},
		{"alias shadows auto", mutate(t, "models.auto", []any{map[string]any{"provider": "sim", "model": "m1"}}), fullEnv, []string{"models.auto: alias is also listed in routing.auto_aliases"}},
		{"duplicate auto alias", mutate(t, "routing.auto_aliases", []any{"auto", "auto"}), fullEnv, []string{`routing.auto_aliases[1]: duplicate alias "auto"`}},
		{"default tier", mutate(t, "routing.default_tier", "xl"), fullEnv, []string{`routing.default_tier: must be one of small, medium, large`}},
		{"unknown tier", mutate(t, "routing.tiers.xl", map[string]any{"chain": []any{map[string]any{"provider": "sim", "model": "m"}}}), fullEnv,
			[]string{`routing.tiers.xl: must be one of small, medium, large`}},
		{"missing tier", mutate(t, "routing.tiers.medium", nil), fullEnv, []string{"routing.tiers.medium: is required while routing.auto_aliases is not empty"}},
		{"empty tier chain", mutate(t, "routing.tiers.small.chain", []any{}), fullEnv, []string{"routing.tiers.small.chain: must have at least one target"}},
		{"tier unknown provider", mutate(t, "routing.tiers.large.chain.0.provider", "gone"), fullEnv, []string{`routing.tiers.large.chain[0].provider: unknown provider "gone"`}},
		{"on exhausted enum", mutate(t, "routing.tiers.small.on_exhausted", "panic"), fullEnv, []string{`routing.tiers.small.on_exhausted: must be one of escalate, degrade, fail`}},
		{"large escalates", mutate(t, "routing.tiers.large.on_exhausted", "escalate"), fullEnv, []string{"routing.tiers.large.on_exhausted: large is the top tier and cannot escalate"}},
		{"small degrades", mutate(t, "routing.tiers.small.on_exhausted", "degrade"), fullEnv, []string{"routing.tiers.small.on_exhausted: small is the bottom tier and cannot degrade"}},
		{"tier output cap negative", mutate(t, "routing.tiers.small.max_output_tokens", -1), fullEnv, []string{"routing.tiers.small.max_output_tokens: must not be negative"}},
		{"tier output cap above the server's", mutate(t, "routing.tiers.medium.max_output_tokens", 200000), fullEnv, []string{"routing.tiers.medium.max_output_tokens: is 200000, above server.limits.max_output_tokens (131072)"}},
		{"classifier sizes", mutate(t, "routing.classifier", map[string]any{"small_max_tokens": 3000, "medium_max_tokens": 2000}), fullEnv,
			[]string{"routing.classifier.medium_max_tokens: must be greater than small_max_tokens (3000)"}},
		{"classifier thresholds count", mutate(t, "routing.classifier.thresholds", []any{0.5}), fullEnv, []string{"routing.classifier.thresholds: must be two numbers"}},
		{"classifier thresholds order", mutate(t, "routing.classifier.model", "hand", "routing.classifier.thresholds", []any{0.7, 0.3}), fullEnv, []string{"routing.classifier.thresholds: must be increasing with the hand model"}},
		{"classifier target both", mutate(t, "routing.classifier.target", map[string]any{"keep_quality": 0.9, "strong_share": 0.3}), fullEnv, []string{"routing.classifier.target: set keep_quality or strong_share, not both"}},
		{"classifier target range", mutate(t, "routing.classifier.target", map[string]any{"keep_quality": 1.5}), fullEnv, []string{"routing.classifier.target.keep_quality: must be in (0, 1]"}},
		{"classifier session margin", mutate(t, "routing.classifier.session", map[string]any{"margin": -1}), fullEnv, []string{"routing.classifier.session.margin: must be a finite number >= 0"}},
		{"classifier weight", []byte(strings.Replace(base, "routing:\n", "routing:\n  classifier: {weights: {code: .nan}}\n", 1)), fullEnv,
			[]string{"routing.classifier.weights.code: must be a finite number"}},
		{"breaker", mutate(t, "routing.breaker", map[string]any{"failure_ratio": 1.5, "consecutive_failures": -1, "half_open_probes": -1, "window": "-1s"}), fullEnv,
			[]string{"routing.breaker.failure_ratio: must be in (0,1]", "routing.breaker.consecutive_failures: must be positive", "routing.breaker.half_open_probes: must be positive", "routing.breaker.window: must be a positive duration"}},
		{"retry", mutate(t, "routing.retry", map[string]any{"max_attempts_per_target": -1, "backoff_initial": "1s", "backoff_max": "10ms"}), fullEnv,
			[]string{"routing.retry.max_attempts_per_target: must be positive", "routing.retry.backoff_max: must be at least backoff_initial (1s)"}},
		{"exact cache", mutate(t, "cache.exact", map[string]any{"max_bytes": -1, "ttl": "-1m"}), fullEnv,
			[]string{"cache.exact.max_bytes: must be positive", "cache.exact.ttl: must be a positive duration"}},
		{"semantic threshold", mutate(t, "cache.semantic.threshold", 1.2), fullEnv, []string{"cache.semantic.threshold: must be in (0,1], got 1.2"}},
		{"semantic negative threshold", mutate(t, "cache.semantic.threshold", -0.5), fullEnv, []string{"cache.semantic.threshold: must be in (0,1]"}},
		{"tier threshold", mutate(t, "cache.semantic.tier_thresholds", map[string]any{"large": 0, "huge": 0.9}), fullEnv,
			[]string{"cache.semantic.tier_thresholds.large: must be in (0,1]", "cache.semantic.tier_thresholds.huge: must be one of small, medium, large"}},
		{"alias threshold", mutate(t, "cache.semantic.alias_thresholds", map[string]any{"nope": 0.9, "fast": 2}), fullEnv,
			[]string{`cache.semantic.alias_thresholds.nope: unknown model alias "nope"`, "cache.semantic.alias_thresholds.fast: must be in (0,1]"}},
		{"template bytes", mutate(t, "cache.semantic.min_template_bytes", -2), fullEnv, []string{"cache.semantic.min_template_bytes: must be positive, or -1"}},
		{"semantic sizes", mutate(t, "cache.semantic", map[string]any{"write_queue": -1, "batch_size": -1, "max_entries": -1, "min_prompt_chars": -1}), fullEnv,
			[]string{"cache.semantic.write_queue: must be positive", "cache.semantic.batch_size: must be positive", "cache.semantic.max_entries: must be positive", "cache.semantic.min_prompt_chars: must be positive"}},
		{"embedder type", mutate(t, "cache.embedder.type", "bert"), fullEnv, []string{`cache.embedder.type: must be one of lexical, openai`}},
		{"lexical with url", mutate(t, "cache.embedder", map[string]any{"type": "lexical", "base_url": "http://x"}), fullEnv, []string{"cache.embedder: base_url, api_key_env and model apply to type openai only"}},
		{"openai embedder key", mutate(t, "cache.embedder", map[string]any{"type": "openai"}), fullEnv, []string{"cache.embedder.api_key_env: is required for https://api.openai.com/v1"}},
		{"openai embedder url", mutate(t, "cache.embedder", map[string]any{"type": "openai", "base_url": "localhost:11434"}), fullEnv, []string{"cache.embedder.base_url: must be an absolute http(s) URL"}},
		{"embedder sizes", mutate(t, "cache.embedder", map[string]any{"dim": -1, "max_batch": -1}), fullEnv,
			[]string{"cache.embedder.dim: must be positive", "cache.embedder.max_batch: must be positive"}},
		{"database url", mutate(t, "database.url", "mysql://x/y"), fullEnv, []string{"database.url: must be a postgres:// or postgresql:// URL"}},
		{"database pool", mutate(t, "database.max_conns", -1, "database.connect_timeout", "-1s"), fullEnv,
			[]string{"database.max_conns: must be positive", "database.connect_timeout: must be a positive duration"}},
		{"prices", mutate(t, "prices.gpt-4o", map[string]any{"input": -1, "output": 1, "cached_input": -2}), fullEnv,
			[]string{"prices.gpt-4o.input: must be a non-negative number", "prices.gpt-4o.cached_input: must be a non-negative number"}},
		{"usage", mutate(t, "usage", map[string]any{"queue_size": -1, "max_rows": -1}), fullEnv,
			[]string{"usage.queue_size: must be positive", "usage.max_rows: must be positive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.yaml, tc.env)
			if err == nil {
				t.Fatalf("no error; config:\n%s", tc.yaml)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T (%v), want *ValidationError", err, err)
			}
			for _, w := range tc.want {
				if !hasProblem(ve.Problems, w) {
					t.Errorf("missing problem %q in:\n%s", w, err)
				}
			}
		})
	}
}

func hasProblem(ps []string, want string) bool {
	for _, p := range ps {
		if strings.HasPrefix(p, want) {
			return true
		}
	}
	return false
}

func TestEveryProblemReported(t *testing.T) {
	y := mutate(t, "providers.1.base_url", "nope", "routing.tiers.small.chain", []any{}, "cache.semantic.threshold", 3)
	_, err := Parse(y, env())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	for _, w := range []string{
		"auth.keys[0].key_env: environment variable KEY_A is not set",
		"providers[1].base_url: must be an absolute http(s) URL",
		"providers[1].api_key_env: environment variable OPENAI_API_KEY is not set",
		"providers[2].api_key_env: environment variable ANTHROPIC_API_KEY is not set",
		"routing.tiers.small.chain: must have at least one target",
		"cache.semantic.threshold: must be in (0,1]",
	} {
		if !hasProblem(ve.Problems, w) {
			t.Errorf("missing %q", w)
		}
	}
	if len(ve.Problems) != 6 {
		t.Errorf("got %d problems, want 6:\n%s", len(ve.Problems), err)
	}
	if !strings.Contains(err.Error(), "6 invalid setting(s)") {
		t.Errorf("error text %q lacks the count", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level field", base + "\nrouting_rules: {}\n", "routing_rules: unknown field (line "},
		{"unknown nested field", strings.Replace(base, "mode: keys", "mode: keys\n  realm: x", 1), "auth.realm: unknown field (line "},
		{"literal api key", strings.Replace(base, "api_key_env: OPENAI_API_KEY", "api_key: sk-live", 1), "use api_key_env"},
		{"literal client key", strings.Replace(base, "key_env: KEY_A", "key: hunter2", 1), "use key_env or key_sha256"},
		{"integer duration", base + "\nserver: {read_timeout: 10}\n", `server.read_timeout: want a duration written as a string such as "10s"`},
		{"bad duration", base + "\nserver: {read_timeout: ten seconds}\n", `server.read_timeout: want a duration written as a string such as "10s" or "250ms", got "ten seconds"`},
		{"wrong type", base + "\nserver: {max_concurrency: lots}\n", `server.max_concurrency: want a whole number, got "lots"`},
		{"list for a mapping", base + "\nserver: [a]\n", "server: want a mapping (key: value), got a list"},
		{"mapping for a list", strings.Replace(base, "keys:\n    - {tenant: a, key_env: KEY_A}", "keys: {tenant: a}", 1), "auth.keys: want a list, got a mapping"},
		{"list for a value", base + "\ndatabase: {url: [x]}\n", "database.url: want a single value, got a list"},
		{"syntax", "server: [", "yaml"},
		{"two documents", base + "\n---\nserver: {}\n", "exactly one document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), fullEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "sk-live") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestEmptyFileReportsMissingSections(t *testing.T) {
	_, err := Parse(nil, env())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	for _, w := range []string{"auth.keys: at least one key", "providers: at least one provider", "routing.tiers.small: is required"} {
		if !hasProblem(ve.Problems, w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(base), fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Server.Listen, ":8080"},
		{"max body", c.Server.MaxBodyBytes, 8 << 20},
		{"max header", c.Server.MaxHeaderBytes, 16 << 10},
		{"stream timeout", c.Server.StreamTimeout, 10 * time.Minute},
		{"request timeout", c.Server.RequestTimeout, 120 * time.Second},
		{"heartbeat", c.Server.HeartbeatInterval, 15 * time.Second},
		{"max concurrency", c.Server.MaxConcurrency, 1024},
		{"shutdown", c.Server.ShutdownTimeout, 30 * time.Second},
		{"log level", c.Log.Level, "info"},
		{"openai base", c.Provider("oai").BaseURL, DefaultOpenAIBaseURL},
		{"anthropic base", c.Provider("ant").BaseURL, DefaultAnthropicBaseURL},
		{"anthropic version", c.Provider("ant").AnthropicVersion, "2023-06-01"},
		{"anthropic max tokens", c.Provider("ant").DefaultMaxTokens, 4096},
		{"openai no anthropic version", c.Provider("oai").AnthropicVersion, ""},
		{"simulator section", c.Provider("sim").Simulator != nil, true},
		{"simulator base", c.Provider("sim").BaseURL, ""},
		{"connect", c.Provider("oai").Timeouts.Connect, 5 * time.Second},
		{"stream idle", c.Provider("oai").Timeouts.StreamIdle, 30 * time.Second},
		{"max conns", c.Provider("oai").MaxConns, 256},
		{"auto aliases", strings.Join(c.Routing.AutoAliases, ","), "auto"},
		{"default tier", c.Routing.DefaultTier, TierMedium},
		{"small on exhausted", c.Routing.Tiers[TierSmall].OnExhausted, OnExhaustedEscalate},
		{"large on exhausted", c.Routing.Tiers[TierLarge].OnExhausted, OnExhaustedDegrade},
		{"small max tokens", c.Routing.Classifier.SmallMaxTokens, 500},
		{"medium max tokens", c.Routing.Classifier.MediumMaxTokens, 2000},
		{"tokenizer", c.Routing.Classifier.Tokenizer, "estimate"},
		{"thresholds unset", c.Routing.Classifier.Thresholds == nil, true},
		{"breaker failures", c.Routing.Breaker.ConsecutiveFailures, 5},
		{"breaker ratio", c.Routing.Breaker.FailureRatio, 0.5},
		{"retry attempts", c.Routing.Retry.MaxAttemptsPerTarget, 2},
		{"retry after cap", c.Routing.Retry.RetryAfterCap, 60 * time.Second},
		{"default set aside", c.Routing.Retry.DefaultSetAside, time.Second},
		{"stream idle", c.Routing.StreamIdleTimeout, 30 * time.Second},
		{"routing timeout follows server", c.Routing.RequestTimeout, c.Server.RequestTimeout},
		{"exact off", c.Cache.Exact.Enabled, false},
		{"exact ttl", c.Cache.Exact.TTL, 5 * time.Minute},
		{"exact bytes", c.Cache.Exact.MaxBytes, int64(64 << 20)},
		{"embedder", c.Cache.Embedder.Type, EmbedderLexical},
		{"embedder dim", c.Cache.Embedder.Dim, 512},
		{"lexical threshold", c.Cache.Semantic.Threshold, DefaultSemanticThresholdLexical},
		{"semantic ttl", c.Cache.Semantic.TTL, time.Hour},
		{"db conns", c.Database.MaxConns, 20},
		{"db connect", c.Database.ConnectTimeout, 2 * time.Second},
		{"db url", c.Database.URL, ""},
		{"cached price follows input", *c.Prices["gpt-4o"].CachedInput, 2.5},
		{"usage queue", c.Usage.QueueSize, 4096},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if ck.got != ck.want {
				t.Errorf("got %v, want %v", ck.got, ck.want)
			}
		})
	}
}

func TestOpenAIEmbedderDefaults(t *testing.T) {
	c, err := Parse(mutate(t, "cache.embedder", map[string]any{"type": "openai", "api_key_env": "OPENAI_API_KEY"}), fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	em := c.Cache.Embedder
	if em.Dim != 1536 || em.Model != "text-embedding-3-small" || em.BaseURL != DefaultOpenAIBaseURL || em.APIKey != "sk-test" {
		t.Errorf("embedder = %+v", em)
	}
	if c.Cache.Semantic.Threshold != DefaultSemanticThresholdOpenAI {
		t.Errorf("threshold = %v, want %v", c.Cache.Semantic.Threshold, DefaultSemanticThresholdOpenAI)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	c, err := Parse(mutate(t,
		"server.listen", "127.0.0.1:9000",
		"routing.auto_aliases", []any{"auto", "smart"},
		"routing.tiers.large.on_exhausted", "fail",
		"prices.gpt-4o.cached_input", 0,
		"providers.1.headers", map[string]any{"OpenAI-Organization": "org-1"},
		"providers.1.headers_env", map[string]any{"X-Secret": "KEY_A"},
	), fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "127.0.0.1:9000" || len(c.Routing.AutoAliases) != 2 || c.Routing.Tiers[TierLarge].OnExhausted != OnExhaustedFail {
		t.Errorf("explicit values overwritten: %+v %+v", c.Server, c.Routing)
	}
	if *c.Prices["gpt-4o"].CachedInput != 0 {
		t.Errorf("explicit cached_input 0 replaced by %v", *c.Prices["gpt-4o"].CachedInput)
	}
	hv := c.Provider("oai").HeaderValues
	if hv["OpenAI-Organization"] != "org-1" || hv["X-Secret"] != "secret-a" {
		t.Errorf("header values = %v", hv)
	}
}

func TestAutoRoutingDisabled(t *testing.T) {
	c, err := Parse(mutate(t, "routing", map[string]any{"auto_aliases": []any{}}), fullEnv)
	if err != nil {
		t.Fatalf("auto routing off without tiers should be valid: %v", err)
	}
	if len(c.Routing.AutoAliases) != 0 {
		t.Errorf("auto aliases = %v, want none", c.Routing.AutoAliases)
	}
}

func TestAuthNoneNeedsNoKeys(t *testing.T) {
	if _, err := Parse(mutate(t, "auth", map[string]any{"mode": "none"}), fullEnv); err != nil {
		t.Fatal(err)
	}
}

func TestKeySHA256(t *testing.T) {
	c, err := Parse(mutate(t, "auth.keys.0", map[string]any{"tenant": "a", "key_sha256": strings.Repeat("0f", 32)}), fullEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Keys[0].Key != "" {
		t.Errorf("hashed key resolved a value: %q", c.Auth.Keys[0].Key)
	}
}

func TestDatabaseURLFromEnv(t *testing.T) {
	y := mutate(t, "database.url", "postgres://file@db/x")
	cases := []struct{ name, env, want string }{
		{"file value when env unset", "", "postgres://file@db/x"},
		{"env overrides", "postgres://env:pw@db2/y", "postgres://env:pw@db2/y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == DatabaseURLEnv {
					return tc.env
				}
				return fullEnv(k)
			}
			c, err := Parse(y, getenv)
			if err != nil {
				t.Fatal(err)
			}
			if c.Database.URL != tc.want {
				t.Errorf("url = %q, want %q", c.Database.URL, tc.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, fullEnv); err != nil {
		t.Fatal(err)
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"), fullEnv)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("providers: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, fullEnv); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

func TestShippedConfigsLoad(t *testing.T) {
	prodEnv := env(
		"OPENAI_API_KEY", "sk-fake-openai", "ANTHROPIC_API_KEY", "sk-ant-fake", "TOGETHER_API_KEY", "fake-together",
		"LLMROUTER_KEY_APP", "k-app", "LLMROUTER_KEY_BATCH", "k-batch", "LLMROUTER_ADMIN_KEY", "k-admin",
	)
	cases := []struct {
		file   string
		getenv func(string) string
	}{
		{"default.yaml", env()},
		{"production.example.yaml", prodEnv},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load(filepath.Join("..", "configs", tc.file), tc.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Routing.Tiers) != 3 {
				t.Errorf("tiers = %d, want 3", len(c.Routing.Tiers))
			}
			for _, tier := range c.Routing.Tiers {
				for _, tg := range tier.Chain {
					if _, ok := c.Prices[tg.Model]; !ok {
						t.Errorf("tier target model %q has no price", tg.Model)
					}
				}
			}
		})
	}
	t.Run("production without env names every variable", func(t *testing.T) {
		_, err := Load(filepath.Join("..", "configs", "production.example.yaml"), env())
		if err == nil {
			t.Fatal("loaded without secrets")
		}
		for _, v := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TOGETHER_API_KEY", "LLMROUTER_KEY_APP", "LLMROUTER_ADMIN_KEY"} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("error does not name %s:\n%v", v, err)
			}
		}
	})
	t.Run("default is offline", func(t *testing.T) {
		c, err := Load(filepath.Join("..", "configs", "default.yaml"), env())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Providers {
			if p.Type != ProviderSimulator {
				t.Errorf("provider %s is %s, want simulator", p.Name, p.Type)
			}
		}
		if c.Auth.Mode != AuthNone || !c.Cache.Exact.Enabled || !c.Cache.Semantic.Enabled {
			t.Errorf("auth %q exact %v semantic %v", c.Auth.Mode, c.Cache.Exact.Enabled, c.Cache.Semantic.Enabled)
		}
	})
}
