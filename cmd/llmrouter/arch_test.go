package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportDirection enforces DESIGN.md's package rules: nothing imports
// proxy or cmd, llm imports only the standard library, proxy imports no
// other llmrouter package but llm, and config is imported only by cmd.
func TestImportDirection(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := map[string]map[string]bool{} // package dir -> llmrouter imports
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			imports[pkg][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 5 {
		t.Fatalf("walked only %d packages from %s; is the test running from cmd/llmrouter?", len(imports), root)
	}
	for pkg, ims := range imports {
		for im := range ims {
			internal := im == "llmrouter" || strings.HasPrefix(im, "llmrouter/")
			target := strings.TrimPrefix(im, "llmrouter/")
			if internal && !strings.HasPrefix(pkg, "cmd") {
				if target == "proxy" && pkg != "proxy" || strings.HasPrefix(target, "cmd") {
					t.Errorf("%s imports %s: nothing below cmd may import proxy or cmd", pkg, im)
				}
				if target == "config" && pkg != "config" {
					t.Errorf("%s imports %s: only cmd reads the config", pkg, im)
				}
			}
			if pkg == "llm" && (internal || strings.Contains(strings.SplitN(im, "/", 2)[0], ".")) {
				t.Errorf("llm imports %s: llm may import only the standard library", im)
			}
			if strings.HasPrefix(pkg, "proxy") && internal && target != "llm" && !strings.HasPrefix(target, "llm/") &&
				!strings.HasPrefix(target, "proxy/") {
				t.Errorf("%s imports %s: proxy and its wire codecs may import only llm and its vocabularies", pkg, im)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root not found: %v", err)
	}
}
