package render

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoIO: render/ derives, it does no I/O (DESIGN.md); package output
// owns every file system call. No non-test file here, or in the targets,
// imports a package that reaches the file system or runs programs.
func TestNoIO(t *testing.T) {
	forbidden := map[string]bool{"os": true, "os/exec": true, "io/fs": true, "path/filepath": true, "syscall": true, "golang.org/x/sys/unix": true}
	var files []string
	for _, pattern := range []string{"*.go", "*/*.go", "../targets/*/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files", len(files))
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "rendertest") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[p] {
				t.Errorf("%s imports %s: file system and process access belong in package output", name, p)
			}
		}
	}
}
