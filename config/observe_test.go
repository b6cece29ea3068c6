package config

import "testing"

func TestTracingAndRequestLogDefaults(t *testing.T) {
	base4 := []string{"KEY_A", "secret-a", "OPENAI_API_KEY", "sk-test", "ANTHROPIC_API_KEY", "sk-ant-test"}
	for _, tc := range []struct {
		name    string
		env     []string
		tracing bool
	}{
		{"off by default", nil, false},
		{"OTEL_EXPORTER_OTLP_ENDPOINT turns it on", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, true},
		{"so does the traces endpoint", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces"}, true},
		{"OTEL_SDK_DISABLED wins", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "true"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(base), env(append(append([]string{}, base4...), tc.env...)...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Tracing.Enabled != tc.tracing || c.Tracing.SampleRatio != 1 || c.Tracing.ServiceName != "llmrouter" {
				t.Errorf("tracing = %+v", c.Tracing)
			}
			rl := c.RequestLog
			if !rl.On() || rl.MaxRows != 10000 || rl.BatchSize != 256 || rl.Retention == nil || *rl.Retention != 720*60*60*1e9 {
				t.Errorf("request_log = %+v", rl)
			}
		})
	}
}

func TestTracingAndRequestLogValidation(t *testing.T) {
	for name, extra := range map[string]string{
		"sample ratio": "tracing: {sample_ratio: 2}\n",
		"protocol":     "tracing: {protocol: smoke}\n",
		"endpoint":     "tracing: {endpoint: 'not a url'}\n",
		"retention":    "request_log: {retention: -1h}\n",
		"batch size":   "request_log: {batch_size: -3}\n",
	} {
		if _, err := Parse([]byte(base+extra), fullEnv); err == nil {
			t.Errorf("%s: accepted %q", name, extra)
		}
	}
}
