package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"
	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are the custom testscript commands; other _test.go files add
// theirs in init (certinfo, ...).
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"etcdgen": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScript runs every testdata/script/*.txtar scenario against the real
// command. ETCDGEN_UPDATE=1 (make golden) rewrites the expected files
// inside scripts; goldens under golden/ are compared with cmp and
// rewritten by the update-golden command.
func TestScript(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("ETCDGEN_UPDATE") != "",
		Setup: func(env *testscript.Env) error {
			env.Setenv("GOLDEN", filepath.Join(root, "golden"))
			env.Setenv("TESTDATA", filepath.Join(root, "testdata"))
			env.Setenv("TZ", "UTC")
			if os.Getenv("ETCDGEN_UPDATE") != "" {
				env.Setenv("ETCDGEN_UPDATE", "1")
			}
			return nil
		},
		Cmds: withBuiltins(scriptCmds),
	})
}

func withBuiltins(m map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	out := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"cmpgolden": cmpGolden,
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cmpgolden DIR GOLDENDIR compares every file under DIR (in the script's
// work dir) with GOLDENDIR (under $GOLDEN), both ways: same file set, same
// bytes, same modes. With ETCDGEN_UPDATE set it rewrites GOLDENDIR.
func cmpGolden(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpgolden DIR GOLDENDIR")
	}
	got := ts.MkAbs(args[0])
	want := filepath.Join(ts.Getenv("GOLDEN"), args[1])
	gotFiles, err := listTree(got)
	ts.Check(err)
	if ts.Getenv("ETCDGEN_UPDATE") != "" {
		// Several scripts share a golden tree and run in parallel: touch
		// only what differs.
		ts.Check(syncTree(gotFiles, want))
		return
	}
	wantFiles, err := listTree(want)
	if os.IsNotExist(err) {
		ts.Fatalf("no golden tree %s; run make golden and review it", args[1])
	}
	ts.Check(err)
	for p := range wantFiles {
		if _, ok := gotFiles[p]; !ok {
			ts.Fatalf("%s: in the golden tree, not rendered", p)
		}
	}
	for p, g := range gotFiles {
		w, ok := wantFiles[p]
		if !ok {
			ts.Fatalf("%s: rendered, not in the golden tree %s (make golden)", p, args[1])
		}
		if g != w {
			ts.Logf("%s", diff.Diff("golden/"+args[1]+"/"+p, []byte(w), "rendered", []byte(g)))
			ts.Fatalf("golden mismatch; run make golden and review the diff")
		}
	}
}

// listTree maps each regular file's relative path to its bytes.
func listTree(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || strings.HasPrefix(fi.Name(), ".etcdgen-") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return out, err
}

// syncTree makes the tree at to hold exactly files.
func syncTree(files map[string]string, to string) error {
	old, err := listTree(to)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for p := range old {
		if _, ok := files[p]; !ok {
			os.Remove(filepath.Join(to, filepath.FromSlash(p)))
		}
	}
	for p, data := range files {
		if old[p] == data {
			continue
		}
		dst := filepath.Join(to, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
	}
	return nil
}
