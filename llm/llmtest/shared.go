// Package llmtest locates the project's shared test material (the recorded
// wire fixtures and the public datasets in ../shared) for tests in every
// package. It imports only the standard library.
package llmtest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// EnvShared names the environment variable that overrides the search.
const EnvShared = "LLMROUTER_SHARED"

var (
	once  sync.Once
	found string
)

// SharedDir returns the shared/ directory: $LLMROUTER_SHARED, or the first
// "shared" folder holding fixtures/ found walking up from the working
// directory (a repository at X/main finds X/shared, which is where both the
// developers' checkout and CI's fresh clone have it). A missing directory
// fails the test: the material is part of the project, not optional.
func SharedDir(t testing.TB) string {
	t.Helper()
	once.Do(func() { found = search() })
	if found == "" {
		t.Fatalf("shared/ (fixtures and datasets) not found walking up from the working directory; set %s", EnvShared)
	}
	return found
}

// Fixture returns the path of a recorded wire fixture, e.g.
// Fixture(t, "openai/chat-completion.json"); the file must exist.
func Fixture(t testing.TB, rel string) string { return mustExist(t, "fixtures", rel) }

// Dataset returns the path of a dataset file, e.g.
// Dataset(t, "stsb/sts-dev.csv"); the file must exist.
func Dataset(t testing.TB, rel string) string { return mustExist(t, "datasets", rel) }

func mustExist(t testing.TB, kind, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), kind, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shared %s missing: %v", kind, err)
	}
	return p
}

func search() string {
	if d := os.Getenv(EnvShared); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		cand := filepath.Join(dir, "shared")
		if st, err := os.Stat(filepath.Join(cand, "fixtures")); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
