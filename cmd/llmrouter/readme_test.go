package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// repoRoot is the module root (two levels up from cmd/llmrouter).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shellBlocks returns the ```sh blocks of a Markdown text in order.
func shellBlocks(md string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// section returns the text after the heading line up to the next heading
// of the same or a higher level outside code fences.
func section(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	rest := md[i+len(heading)+2:]
	level := strings.Index(heading, " ")
	fenced := false
	off := 0
	for _, line := range strings.SplitAfter(rest, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if h := strings.Index(line, " "); !fenced && h > 0 && h <= level && strings.Trim(line[:h], "#") == "" {
			return rest[:off]
		}
		off += len(line)
	}
	return rest
}

// readmeExports returns every variable the README's shell blocks export.
func readmeExports(md string) []string {
	var names []string
	seen := map[string]bool{}
	for _, b := range shellBlocks(md) {
		for _, line := range strings.Split(b, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
			if !ok {
				continue
			}
			rest, _, _ = strings.Cut(rest, "#")
			for _, f := range strings.Fields(rest) {
				name, _, _ := strings.Cut(f, "=")
				if !seen[name] && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(name) {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// TestExampleConfigsCheckWithTheREADMEsVariables runs check-config on every
// file in configs/ with exactly the variables the README exports set (the
// production quick start exported TEAM_A_KEY while the example config reads
// LLMROUTER_KEY_APP, so check-config failed as written).
func TestExampleConfigsCheckWithTheREADMEsVariables(t *testing.T) {
	md := readREADME(t)
	names := readmeExports(md)
	if len(names) == 0 {
		t.Fatal("README exports no variables: the production quick start is gone?")
	}
	env := map[string]string{}
	for _, n := range names {
		env[n] = "readme-value-" + strings.ToLower(n)
	}
	env["DATABASE_URL"] = "postgres://user:pass@db:5432/llmrouter"
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// Only the README's variables: anything the config needs beyond them fails.
			for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TOGETHER_API_KEY", "DATABASE_URL", "TEAM_A_KEY",
				"LLMROUTER_KEY_APP", "LLMROUTER_KEY_BATCH", "LLMROUTER_ADMIN_KEY"} {
				t.Setenv(k, env[k])
				if env[k] == "" {
					os.Unsetenv(k)
				}
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			if code := run([]string{"check-config", "-config", f}, nil, &out, &errOut); code != 0 {
				t.Fatalf("check-config %s with the README's variables %v: exit %d\n%s", f, names, code, errOut.String())
			}
			if !strings.HasPrefix(out.String(), "config ok") {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}

// TestREADMEQuickStartRuns runs the README's quick-start block as written,
// with bash, against a server started on the default config (on a free
// port instead of :8080, and without `make run &`: the server is already
// up). Every "#   header: value" comment in the block is an expectation the
// output must meet, and the stream must end with [DONE].
func TestREADMEQuickStartRuns(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed for the README quick-start test")
		}
		t.Skip("no curl")
	}
	md := readREADME(t)
	blocks := shellBlocks(section(t, md, "## Two minutes from clone to a routed, cached, streamed answer"))
	if len(blocks) == 0 {
		t.Fatal("the quick-start section has no sh block")
	}
	block := blocks[0]
	if !strings.Contains(block, "make run &") || !strings.Contains(block, "until curl -sf localhost:8080/healthz") {
		t.Fatalf("the quick start must start the server and wait for /healthz before its first curl:\n%s", block)
	}
	cfg, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, base := startApp(t, string(cfg), nil)
	script := strings.Replace(block, "make run &", "", 1)
	script = strings.ReplaceAll(script, "localhost:8080", strings.TrimPrefix(base, "http://"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README block failed: %v\n%s", err, out)
	}
	got := strings.ToLower(string(out))
	pair := regexp.MustCompile(`(x-llmrouter-[a-z-]+): (\S+)`)
	var n int
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "#   ") {
			continue
		}
		for _, m := range pair.FindAllStringSubmatch(line, -1) {
			n++
			if want := strings.ToLower(m[1] + ": " + m[2]); !strings.Contains(got, want) {
				t.Errorf("README promises %q; the output has not:\n%s", want, out)
			}
		}
	}
	if n < 5 {
		t.Fatalf("found %d header expectations in the quick start, want at least 5", n)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "data: [DONE]") {
		t.Errorf("the streamed answer does not end with data: [DONE]:\n%s", out)
	}
}
