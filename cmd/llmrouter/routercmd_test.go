package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/router/classifier"
)

// writeSynthetic writes labelled prompts where "zebra" marks the ones the
// weak model fails, in six subjects.
func writeSynthetic(t *testing.T, path string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	filler := strings.Fields("please tell me about the history of this place and what people think of it today")
	var b bytes.Buffer
	for i := 0; i < 360; i++ {
		var w []string
		for j := 0; j < 10; j++ {
			w = append(w, filler[rng.IntN(len(filler))])
		}
		hard := i%3 == 0
		if hard {
			w = append(w, "zebra")
		}
		line, _ := json.Marshal(map[string]any{"prompt": strings.Join(w, " "), "weak_correct": !hard, "strong_correct": true, "subject": fmt.Sprintf("s%d", i%6)})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRouterFitAndEval(t *testing.T) {
	dir := t.TempDir()
	data, weights, cfgPath := filepath.Join(dir, "data.jsonl"), filepath.Join(dir, "w.json"), filepath.Join(dir, "c.yaml")
	writeSynthetic(t, data)
	var out, errb bytes.Buffer
	if code := run([]string{"router", "fit", "-data", data, "-out", weights, "-folds", "3", "-lambdas", "0.01"}, nil, &out, &errb); code != 0 {
		t.Fatalf("fit exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "fitted (held-out)") {
		t.Errorf("fit output:\n%s", out.String())
	}
	if _, err := classifier.LoadModel(weights); err != nil {
		t.Fatal(err)
	}
	cfg := "auth: {mode: none}\nproviders:\n  - {name: sim, type: simulator}\n" + oneUpstreamTiers("sim", "m") +
		"  classifier:\n    model: " + weights + "\n    target: {strong_share: 0.34}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"router", "eval", "-config", cfgPath, "-data", data, "-cv"}, nil, &out, &errb); code != 0 {
		t.Fatalf("eval exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"configured (custom)", "learned, held-out subjects", "hand weights", "size only", "random", "configured thresholds"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no sub-command", []string{"router"}, 2, "usage"},
		{"unknown", []string{"router", "nope"}, 2, "unknown command"},
		{"fit without out", []string{"router", "fit", "-data", data}, 2, "-data and -out are required"},
		{"fit missing file", []string{"router", "fit", "-data", filepath.Join(dir, "none"), "-out", weights}, 1, "no such file"},
		{"eval without data", []string{"router", "eval", "-config", cfgPath}, 2, "-data is required"},
		{"bad lambdas", []string{"router", "fit", "-data", data, "-out", weights, "-lambdas", "x"}, 2, "not a non-negative number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o, e bytes.Buffer
			if code := run(tt.args, nil, &o, &e); code != tt.code || !strings.Contains(e.String(), tt.msg) {
				t.Errorf("exit %d stderr %q, want %d and %q", code, e.String(), tt.code, tt.msg)
			}
		})
	}
}

// TestSessionHeader: the turns of one x-session-id conversation keep the
// tier it started on and say so in x-llmrouter-session.
func TestSessionHeader(t *testing.T) {
	yaml := "auth: {mode: none}\nproviders:\n  - {name: sim, type: simulator}\n" + oneUpstreamTiers("sim", "m")
	_, base := startApp(t, yaml, nil)
	hard := "Design a multi-tenant rate limiter for an API gateway that runs as 12 replicas. Requirements: per-key limits with bursts, accurate within 5% across replicas, p99 under 1 ms, fail open when Redis is down, 10 million keys. Compare two algorithms and describe the synchronisation protocol and how you would test it."
	send := func(content, session string) (string, string) {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(base + "/v1/chat/completions")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.Header.Set("x-session-id", session)
		req.SetBodyString(fmt.Sprintf(`{"model":"auto","messages":[{"role":"user","content":%q}]}`, content))
		if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
		}
		return string(resp.Header.Peek("x-llmrouter-tier")), string(resp.Header.Peek("x-llmrouter-session"))
	}
	tier1, s1 := send(hard, "conv-1")
	tier2, s2 := send("thanks, shorter please", "conv-1")
	tier3, s3 := send("thanks, shorter please", "conv-2")
	if tier1 == "small" || s1 != "new" {
		t.Errorf("first turn: tier %q session %q", tier1, s1)
	}
	if tier2 != tier1 || s2 != "kept" {
		t.Errorf("easy second turn: tier %q session %q, want %q kept", tier2, s2, tier1)
	}
	if tier3 != "small" || s3 != "new" {
		t.Errorf("another conversation: tier %q session %q, want small new", tier3, s3)
	}
}
