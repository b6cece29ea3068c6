package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const sighupConfig = `
server: {listen: ":8080", max_concurrency: %CONC%}
auth: {mode: none}
providers:
  - {name: sim, type: simulator}
routing:
  tiers:
    small: {chain: [{provider: sim, model: m}]}
    medium: {chain: [{provider: sim, model: m}]}
    large: {chain: [{provider: sim, model: m}]}
prices:
  m: {input: %PRICE%, output: 1}
`

// TestSIGHUPReloadOfTheRealProcess runs the binary with -listen (as the
// README and the Docker image do) and reloads it with SIGHUP:
//   - a change of prices only must not warn that "server" changed (it did:
//     the reloaded file lacked the -listen override, so server differed);
//   - a real server change does warn, naming server;
//   - a broken file is refused with every problem's YAML path and line.
func TestSIGHUPReloadOfTheRealProcess(t *testing.T) {
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(conc, price string, extra string) {
		t.Helper()
		y := strings.NewReplacer("%CONC%", conc, "%PRICE%", price).Replace(sighupConfig) + extra
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("100", "1", "")
	p := startProcess(t, "sighup", bin, path, nil)
	p.waitReady(`"status":"ok"`)

	const warning = "apply only after a restart"
	steps := []struct {
		name, conc, price, extra string
		waitFor                  string
		want, notWant            []string
	}{
		{name: "prices only", conc: "100", price: "2", waitFor: `"msg":"config reloaded"`, notWant: []string{warning}},
		{name: "server changed", conc: "200", price: "2", waitFor: warning, want: []string{`"sections":["server"]`}},
		{name: "broken file", conc: "200", price: "2", extra: "log: {levle: debug}\nusage: {queue_size: many}\n",
			waitFor: "config reload failed",
			want:    []string{"log.levle: unknown field (line 13)", `usage.queue_size: want a whole number, got \"many\" (line 14)`}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(p.logs.String())
			write(s.conc, s.price, s.extra)
			p.signal(syscall.SIGHUP)
			p.waitLog(s.waitFor, 10*time.Second)
			time.Sleep(200 * time.Millisecond) // the log writer flushes every 100 ms
			got := p.logs.String()[before:]
			for _, w := range s.want {
				if !strings.Contains(got, w) {
					t.Errorf("reload log lacks %q:\n%s", w, got)
				}
			}
			for _, w := range s.notWant {
				if strings.Contains(got, w) {
					t.Errorf("reload log has %q:\n%s", w, got)
				}
			}
		})
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}
