package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakeRunTakesAPort: `make run LISTEN=:8081` passes the port on (make
// run offered no way to change it); without LISTEN the config's port stays.
func TestMakeRunTakesAPort(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is needed for the make run test")
		}
		t.Skip("no make")
	}
	cases := []struct {
		args []string
		want string
		not  string
	}{
		{[]string{"LISTEN=:8081"}, "-config configs/default.yaml -listen :8081", ""},
		{nil, "-config configs/default.yaml", "-listen"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command("make", append([]string{"-n", "run"}, tc.args...)...)
			cmd.Dir = repoRoot(t)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n run: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) || tc.not != "" && strings.Contains(last, tc.not) {
				t.Fatalf("make run runs %q, want %q", last, tc.want)
			}
		})
	}
}

// TestREADMEHasPrerequisites: the README names what a fresh machine needs
// before `make run` and `make test` (it had no such section, although make
// test installs system packages and a Postgres extension).
func TestREADMEHasPrerequisites(t *testing.T) {
	pre := section(t, readREADME(t), "## Prerequisites")
	goMod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVer == nil {
		t.Fatal("go.mod has no go line")
	}
	for _, want := range []string{"Go " + string(goVer[1]), "Node.js", "PostgreSQL", "pgvector", "apt-get",
		"npm ci", "LLMROUTER_TEST_DATABASE_URL", "PGHOST"} {
		if !strings.Contains(pre, want) {
			t.Errorf("the Prerequisites section does not mention %q", want)
		}
	}
}

// TestDockerfileRunsNonRootAndProbesTheConfiguredPort: the image's user is
// not root and its HEALTHCHECK reads the same config file the server runs
// (it probed a fixed 127.0.0.1:8080, so any other port was "unhealthy").
func TestDockerfileRunsNonRootAndProbesTheConfiguredPort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), "\\\n", " ")
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(user) == 0 || strings.HasPrefix(user[len(user)-1][1], "0") || strings.HasPrefix(user[len(user)-1][1], "root") {
		t.Fatalf("the final stage must run as a non-root USER, got %v", user)
	}
	cmdCfg := regexp.MustCompile(`(?m)^CMD\s+\["-config",\s*"([^"]+)"\]`).FindStringSubmatch(df)
	hc := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD\s+\[(.*)\]`).FindStringSubmatch(df)
	if cmdCfg == nil || hc == nil {
		t.Fatalf("Dockerfile lacks CMD [-config FILE] or HEALTHCHECK: cmd %v hc %v", cmdCfg, hc)
	}
	if !strings.Contains(hc[1], `"healthcheck", "-config", "`+cmdCfg[1]+`"`) {
		t.Fatalf("HEALTHCHECK %s does not probe the port of the config the server runs (%s)", hc[1], cmdCfg[1])
	}
}
