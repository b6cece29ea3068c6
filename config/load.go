package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// DatabaseURLEnv is the environment variable that overrides database.url.
const DatabaseURLEnv = "DATABASE_URL"

// Load reads the YAML file at path and returns the complete configuration:
// decoded strictly (unknown fields are errors), defaulted, with every env
// reference resolved through getenv (os.Getenv when nil) and validated. On
// a validation failure the error is a *ValidationError listing every
// problem with its path.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse is Load on bytes already read.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	applyDefaults(c)
	resolveEnv(c, getenv)
	if err := validate(c, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// decode reads exactly one YAML document strictly into a Config. Schema
// mistakes (unknown or repeated keys, wrong shapes, values that do not
// decode) are all reported at once, as a *ValidationError whose problems
// carry the YAML path and line ("server.lisen: unknown field (line 3)").
func decode(data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil // empty file: validation reports what is missing
		}
		return nil, err // a syntax error: yaml.v3 names the line
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("yaml: the file must hold exactly one document")
	}
	if problems := yamlProblems(&doc, reflect.TypeFor[Config]()); len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(c); err != nil {
		return nil, decodeError(err) // a case the walker does not model
	}
	return c, nil
}

// decodeError rewrites yaml.v3's messages for the mistakes people make most:
// a literal secret field, and an integer where a duration belongs.
func decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		switch {
		case strings.Contains(e, "field api_key not found"):
			e += " (secrets are never written in the file: use api_key_env: NAME_OF_ENV_VAR)"
		case strings.Contains(e, "field key not found"):
			e += " (client keys are never written in the file: use key_env or key_sha256)"
		case strings.Contains(e, "into time.Duration"):
			e += " (write durations as strings such as \"10s\" or \"250ms\")"
		}
		lines = append(lines, e)
	}
	return fmt.Errorf("yaml: %s", strings.Join(lines, "; "))
}

// applyDefaults fills every default. It is the only place defaults live.
func applyDefaults(c *Config) {
	s := &c.Server
	setStr(&s.Listen, ":8080")
	setInt(&s.MaxBodyBytes, 8<<20)
	setInt(&s.MaxHeaderBytes, 16<<10)
	setDur(&s.ReadTimeout, 30*time.Second)
	setDur(&s.IdleTimeout, 120*time.Second)
	setDur(&s.WriteTimeout, 30*time.Second)
	setDur(&s.StreamTimeout, 10*time.Minute)
	setDur(&s.RequestTimeout, 120*time.Second)
	setDur(&s.HeartbeatInterval, 15*time.Second)
	setInt(&s.MaxConcurrency, 1024)
	setDur(&s.ShutdownTimeout, 30*time.Second)
	setStr(&s.MetricsListen, "127.0.0.1:9464")
	l := &s.Limits
	setInt(&l.MaxN, 16)
	setInt(&l.MaxOutputTokens, 131072)
	setInt(&l.MaxMessages, 4096)
	setInt(&l.MaxTools, 128)
	setInt(&l.MaxStop, 4)
	setInt(&l.MaxStopBytes, 1024)
	setInt(&l.MaxContentParts, 1024)
	setInt(&l.MaxToolCalls, 256)
	setInt(&l.ClassifierWindowBytes, 64<<10)
	setInt(&l.SemanticMaxPromptBytes, 32<<10)

	setStr(&c.Log.Level, "info")
	setStr(&c.Auth.Mode, AuthKeys)

	for i := range c.Providers {
		p := &c.Providers[i]
		switch p.Type {
		case ProviderOpenAI:
			setStr(&p.BaseURL, DefaultOpenAIBaseURL)
		case ProviderAnthropic:
			setStr(&p.BaseURL, DefaultAnthropicBaseURL)
			setStr(&p.AnthropicVersion, DefaultAnthropicVersion)
			setInt(&p.DefaultMaxTokens, 4096)
		}
		setDur(&p.Timeouts.Connect, 5*time.Second)
		setDur(&p.Timeouts.ResponseHeader, 60*time.Second)
		setDur(&p.Timeouts.Total, 120*time.Second)
		setDur(&p.Timeouts.StreamIdle, 30*time.Second)
		setInt(&p.MaxConns, 256)
		setDur(&p.MaxConnWait, 100*time.Millisecond)
		if p.Type == ProviderSimulator && p.Simulator == nil {
			p.Simulator = &Simulator{}
		}
	}

	r := &c.Routing
	if r.AutoAliases == nil {
		r.AutoAliases = []string{"auto"}
	}
	setStr(&r.DefaultTier, TierMedium)
	for name, t := range r.Tiers {
		if t.OnExhausted == "" {
			t.OnExhausted = OnExhaustedEscalate
			if name == TierLarge {
				t.OnExhausted = OnExhaustedDegrade
			}
			r.Tiers[name] = t
		}
	}
	cl := &r.Classifier
	setInt(&cl.SmallMaxTokens, 500)
	setInt(&cl.MediumMaxTokens, 2000)
	setStr(&cl.Tokenizer, "estimate")
	b := &r.Breaker
	setInt(&b.ConsecutiveFailures, 5)
	setFloat(&b.FailureRatio, 0.5)
	setInt(&b.MinRequests, 20)
	setDur(&b.Window, 30*time.Second)
	setDur(&b.OpenDuration, time.Second)
	setFloat(&b.OpenBackoff, 2)
	setDur(&b.MaxOpenDuration, 60*time.Second)
	setInt(&b.HalfOpenProbes, 1)
	rt := &r.Retry
	setInt(&rt.MaxAttemptsPerTarget, 2)
	setDur(&rt.BackoffInitial, 100*time.Millisecond)
	setDur(&rt.BackoffMax, 2*time.Second)
	setDur(&rt.RetryAfterCap, 60*time.Second)
	setDur(&rt.DefaultSetAside, time.Second)
	setInt(&rt.ConnectAttempts, 2)
	setDur(&rt.MaxRetryAfterWait, 3*time.Second)
	setDur(&rt.FirstTokenTimeout, 15*time.Second)
	setDur(&r.Idempotency.Window, 10*time.Minute)
	setInt(&r.Idempotency.MaxEntries, 4096)
	setDur(&r.StreamIdleTimeout, 30*time.Second)
	if mb := &r.MicroBatch; true {
		if mb.MaxItems == nil {
			mb.MaxItems = ptr(16)
		}
		if mb.Window == nil {
			mb.Window = ptr(5 * time.Millisecond)
		}
		setInt(&mb.MaxTokens, 8192)
	}
	setDur(&r.RequestTimeout, s.RequestTimeout)

	e := &c.Cache.Exact
	setInt64(&e.MaxBytes, 64<<20)
	setDur(&e.TTL, 5*time.Minute)
	em := &c.Cache.Embedder
	setStr(&em.Type, EmbedderLexical)
	switch em.Type {
	case EmbedderLexical:
		setInt(&em.Dim, 512)
	case EmbedderOpenAI:
		setInt(&em.Dim, 1536)
		setStr(&em.BaseURL, DefaultOpenAIBaseURL)
		setStr(&em.Model, "text-embedding-3-small")
	}
	setDur(&em.Timeout, 2*time.Second)
	setDur(&em.BatchWindow, 2*time.Millisecond)
	setInt(&em.MaxBatch, 64)
	sc := &c.Cache.Semantic
	if em.Type == EmbedderOpenAI {
		setFloat(&sc.Threshold, DefaultSemanticThresholdOpenAI)
	} else {
		setFloat(&sc.Threshold, DefaultSemanticThresholdLexical)
	}
	setInt(&sc.MinPromptChars, 20)
	setInt(&sc.MinTemplateBytes, 128)
	setDur(&sc.TTL, time.Hour)
	setInt(&sc.MaxEntries, 10000)
	setInt(&sc.WriteQueue, 1024)
	setInt(&sc.BatchSize, 64)
	setDur(&sc.PurgeInterval, time.Minute)

	setInt(&c.Database.MaxConns, 20)
	setDur(&c.Database.ConnectTimeout, 2*time.Second)

	DefaultPrices(c.Prices)

	setInt(&c.Usage.QueueSize, 4096)
	setInt(&c.Usage.MaxRows, 100000)
	setInt(&c.Usage.BatchSize, 512)
	setDur(&c.Governance.SyncInterval, time.Second)
	setDur(&c.Usage.FlushInterval, time.Second)
	setDur(&c.Usage.EventRetention, 30*24*time.Hour)
	setDur(&c.Usage.RollupRetention, 400*24*time.Hour)

	if c.Tracing.SampleRatio == 0 {
		c.Tracing.SampleRatio = 1
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = "llmrouter"
	}
	rl := &c.RequestLog
	setInt(&rl.MaxRows, 10000)
	setInt(&rl.QueueSize, 4096)
	setInt(&rl.BatchSize, 256)
	setDur(&rl.FlushInterval, time.Second)
	if rl.Retention == nil {
		d := 720 * time.Hour
		rl.Retention = &d
	}
}

// resolveEnv reads every env reference. Missing variables are reported by
// validate, which sees the same getenv.
func resolveEnv(c *Config, getenv func(string) string) {
	if (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") &&
		!strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		c.Tracing.Enabled = true
	}
	for i := range c.Auth.Keys {
		if k := &c.Auth.Keys[i]; k.KeyEnv != "" {
			k.Key = getenv(k.KeyEnv)
		}
	}
	for i := range c.Auth.AdminKeys {
		if k := &c.Auth.AdminKeys[i]; k.KeyEnv != "" {
			k.Key = getenv(k.KeyEnv)
		}
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.APIKeyEnv != "" {
			p.APIKey = getenv(p.APIKeyEnv)
		}
		if len(p.Headers)+len(p.HeadersEnv) > 0 {
			p.HeaderValues = make(map[string]string, len(p.Headers)+len(p.HeadersEnv))
			for h, v := range p.Headers {
				p.HeaderValues[h] = v
			}
			for h, env := range p.HeadersEnv {
				p.HeaderValues[h] = getenv(env)
			}
		}
	}
	if em := &c.Cache.Embedder; em.APIKeyEnv != "" {
		em.APIKey = getenv(em.APIKeyEnv)
	}
	if u := getenv(DatabaseURLEnv); u != "" {
		c.Database.URL = u
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setInt64(p *int64, v int64) {
	if *p == 0 {
		*p = v
	}
}

func setFloat(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

func ptr[T any](v T) *T { return &v }
