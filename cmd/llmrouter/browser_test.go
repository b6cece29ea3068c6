package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
)

// chromium returns the headless browser, or skips (fails under CI=true)
// when there is none.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium at /usr/bin/chromium (set CHROMIUM)")
	}
	t.Skip("no chromium; set CHROMIUM to run the browser test")
	return ""
}

// runChromium runs headless Chromium on url with extra flags and returns
// its stdout.
func runChromium(t *testing.T, bin, url string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000", "--window-size=1400,760"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	return out.Bytes()
}

// checkRequestsView opens /dashboard/requests with key and the failover
// row selected, and checks the table and the decision trail it renders;
// with LLMROUTER_UPDATE_SCREENSHOTS=1 it also writes the screenshot
// docs/requests-view.png.
func checkRequestsView(t *testing.T, base, key string, fo llm.RequestRecord) {
	bin := chromium(t)
	url := base + "/dashboard/requests#key=" + key + "&id=" + fo.RequestID
	dom := string(runChromium(t, bin, url, "--dump-dom"))
	for _, want := range []string{
		fo.RequestID, // its table row
		"1 attempt failed (bad 500 → failover)", // the decision trail
		"good/m-good answered with",
		"bad/m-bad · 500 upstream_error → failover", // the failed attempt on the timeline
		"4 requests",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("Requests view lacks %q", want)
		}
	}
	if n := strings.Count(dom, `class="tl attempt"`); n != 2 {
		t.Errorf("timeline shows %d attempts, want 2", n)
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	if os.Getenv("LLMROUTER_UPDATE_SCREENSHOTS") != "1" {
		return // the screenshot costs another browser run; only when asked
	}
	shot, _ := filepath.Abs(filepath.Join("..", "..", "docs", "requests-view.png"))
	runChromium(t, bin, url, "--screenshot="+shot)
	if b, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
}
