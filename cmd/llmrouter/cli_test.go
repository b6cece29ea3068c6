package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHelpListsSubcommands: `llmrouter -h` (and `help`) name every
// sub-command, not only the serve flags.
func TestHelpListsSubcommands(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(args, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errOut.String())
			}
			text := out.String() + errOut.String()
			for _, sub := range []string{"check-config", "classify", "cache tune", "healthcheck", "version"} {
				if !strings.Contains(text, "llmrouter "+sub) {
					t.Errorf("help lacks %q:\n%s", sub, text)
				}
			}
		})
	}
}

// TestVersionPrintsVersionAndCommit: the link-time values win; without them
// the build info fills in (never an empty field).
func TestVersionPrintsVersionAndCommit(t *testing.T) {
	cases := []struct {
		name, ver, rev string
		want           *regexp.Regexp
	}{
		{"ldflags", "v1.2.3", "0123abcd", regexp.MustCompile(`^llmrouter v1\.2\.3 \(commit 0123abcd, go[0-9.]+`)},
		{"build info", "", "", regexp.MustCompile(`^llmrouter \S+ \(commit \S+, go[0-9.]+`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldV, oldC := version, commit
			version, commit = tc.ver, tc.rev
			defer func() { version, commit = oldV, oldC }()
			var out bytes.Buffer
			if code := run([]string{"version"}, nil, &out, &out); code != 0 {
				t.Fatalf("exit %d: %s", code, out.String())
			}
			if !tc.want.MatchString(out.String()) {
				t.Fatalf("version output %q does not match %s", out.String(), tc.want)
			}
		})
	}
}

// TestHealthcheckUsesTheConfiguredPort: healthcheck probes the config's
// server.listen (it was hard-wired to 127.0.0.1:8080, which broke the
// Docker HEALTHCHECK on any other port); -url overrides it.
func TestHealthcheckUsesTheConfiguredPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			ctx.SetBodyString("ok")
			return
		}
		ctx.SetStatusCode(404)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	port := ln.Addr().(*net.TCPAddr).Port

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()

	dir := t.TempDir()
	cfg := func(listen string) string {
		p := filepath.Join(dir, strings.NewReplacer(":", "_", ".", "_").Replace(listen)+".yaml")
		// Only server.listen is read: the rest of the file need not validate here.
		if err := os.WriteFile(p, []byte(fmt.Sprintf("server:\n  listen: %q\nproviders: []\n", listen)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"config port, any host", []string{"-config", cfg(fmt.Sprintf(":%d", port))}, 0},
		{"config port, unspecified host", []string{"-config", cfg(fmt.Sprintf("0.0.0.0:%d", port))}, 0},
		{"config port, loopback host", []string{"-config", cfg(fmt.Sprintf("127.0.0.1:%d", port))}, 0},
		{"config port nobody serves", []string{"-config", cfg(fmt.Sprintf(":%d", deadPort))}, 1},
		{"url overrides config", []string{"-config", cfg(fmt.Sprintf(":%d", deadPort)), "-url", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}, 0},
		{"missing config", []string{"-config", filepath.Join(dir, "absent.yaml")}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(append([]string{"healthcheck", "-timeout", "1s"}, tc.args...), nil, &out, &out); code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, out.String())
			}
		})
	}
}
