package etcdflags

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestGenerated regenerates zz_generated.go from etcd's source and fails
// when the committed file differs; ETCDGEN_UPDATE=1 rewrites it. The
// releases are the ones the end-to-end suite builds (e2e/etcd/v*/go.mod):
// the table and the suite cannot drift apart. The source comes from the
// module cache (`go mod download` in each of those modules).
func TestGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads etcd's source")
	}
	mods, err := filepath.Glob("../../e2e/etcd/v*/go.mod")
	if err != nil || len(mods) == 0 {
		t.Fatalf("no e2e/etcd/v*/go.mod: %v", err)
	}
	var tabs []*Table
	for _, mod := range mods {
		dir := filepath.Dir(mod)
		cmd := exec.Command("go", "mod", "download", "-json", "go.etcd.io/etcd/server/v3")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: go mod download: %v", dir, err)
		}
		var info struct{ Version, Dir string }
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		tab, err := parseSource(info.Dir, strings.TrimPrefix(info.Version, "v"))
		if err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tab)
	}
	got, err := generate(tabs)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ETCDGEN_UPDATE") != "" {
		if err := os.WriteFile("zz_generated.go", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zz_generated.go is stale: run ETCDGEN_UPDATE=1 go test ./render/etcdflags -run TestGenerated\n--- generated\n%s", got)
	}
}

var deprecatedText = regexp.MustCompile(`(?i)\bdeprecated\b`)

// parseSource reads the flag registrations of one etcd release: every
// fs.XxxVar(..., "name", ..., usage) and fs.Var(value, "name", usage) in
// etcdmain and embed, the feature gate's AddFlag, the ignored list and
// the deprecatedFlags map.
func parseSource(serverDir, version string) (*Table, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, sub := range []string{"etcdmain", "embed"} {
		names, err := filepath.Glob(filepath.Join(serverDir, sub, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
	}
	consts := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := str(vs.Values[i]); ok {
							consts[n.Name] = s
						}
					}
				}
			}
		}
	}
	flags, deprecated, ignored := map[string]bool{}, map[string]bool{}, map[string]bool{}
	deprecatedFields := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) < 2 {
					return true
				}
				recv, _ := sel.X.(*ast.Ident)
				first, _ := n.Args[0].(*ast.Ident)
				isFlag := recv != nil && recv.Name == "fs" && strings.HasSuffix(sel.Sel.Name, "Var")
				isGate := sel.Sel.Name == "AddFlag" && first != nil && first.Name == "fs"
				if !isFlag && !isGate {
					return true
				}
				name, ok := str(n.Args[1])
				if id, isID := n.Args[1].(*ast.Ident); !ok && isID {
					name, ok = consts[id.Name]
				}
				if !ok {
					return true // the loop over the ignored list
				}
				flags[name] = true
				if usage, ok := usageOf(n.Args[len(n.Args)-1]); ok && isFlag && deprecatedText.MatchString(usage) {
					deprecated[name] = true
				}
			case *ast.Field:
				// A Config field documented "Deprecated:" (Go's convention)
				// names its flag in the json tag: 3.6 marks the
				// --experimental-* flags it moved to feature gates so.
				if n.Doc == nil || n.Tag == nil || !strings.Contains(n.Doc.Text(), "Deprecated:") {
					return true
				}
				tag, err := strconv.Unquote(n.Tag.Value)
				if err != nil {
					return true
				}
				if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); name != "" && name != "-" {
					deprecatedFields[name] = true
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i >= len(n.Values) {
						continue
					}
					lit, ok := n.Values[i].(*ast.CompositeLit)
					if !ok {
						continue
					}
					for _, e := range lit.Elts {
						switch id.Name {
						case "ignored":
							if s, ok := str(e); ok {
								ignored[s] = true
							}
						case "deprecatedFlags":
							if kv, ok := e.(*ast.KeyValueExpr); ok {
								if s, ok := str(kv.Key); ok {
									deprecated[s] = true
								}
							}
						}
					}
				}
			}
			return true
		})
	}
	if len(flags) < 50 {
		return nil, fmt.Errorf("etcd %s: only %d flags found in %s: has etcd moved its flag registrations?", version, len(flags), serverDir)
	}
	for name := range deprecatedFields {
		if flags[name] {
			deprecated[name] = true
		}
	}
	t := &Table{Source: version, Minor: version[:strings.LastIndex(version, ".")]}
	for name := range flags {
		if !deprecated[name] && !ignored[name] {
			t.Flags = append(t.Flags, name)
		}
	}
	for name := range deprecated {
		t.Deprecated = append(t.Deprecated, name)
	}
	for name := range ignored {
		t.Ignored = append(t.Ignored, name)
	}
	sort.Strings(t.Flags)
	sort.Strings(t.Deprecated)
	sort.Strings(t.Ignored)
	return t, nil
}

func str(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// usageOf is a usage text: a literal, or fmt.Sprintf's format.
func usageOf(e ast.Expr) (string, bool) {
	if s, ok := str(e); ok {
		return s, true
	}
	if c, ok := e.(*ast.CallExpr); ok && len(c.Args) > 0 {
		return str(c.Args[0])
	}
	return "", false
}

func generate(tabs []*Table) ([]byte, error) {
	sort.Slice(tabs, func(i, j int) bool { return minorLess(tabs[i].Minor, tabs[j].Minor) })
	var b bytes.Buffer
	b.WriteString("// Code generated by TestGenerated (ETCDGEN_UPDATE=1 go test ./render/etcdflags -run TestGenerated); DO NOT EDIT.\n\n")
	b.WriteString("package etcdflags\n\nvar tables = map[string]*Table{\n")
	list := func(field string, names []string) {
		fmt.Fprintf(&b, "%s: []string{\n", field)
		for _, n := range names {
			fmt.Fprintf(&b, "%q,\n", n)
		}
		b.WriteString("},\n")
	}
	for _, t := range tabs {
		fmt.Fprintf(&b, "%q: {\nMinor: %q,\nSource: %q,\n", t.Minor, t.Minor, t.Source)
		list("Flags", t.Flags)
		list("Deprecated", t.Deprecated)
		list("Ignored", t.Ignored)
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
