// Package schema loads cluster specs (CUE, YAML, JSON), checks them against
// the embedded CUE schema #Cluster, fills in defaults and decodes them into
// plain Go structs. Nothing else in etcdgen imports CUE.
package schema

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	cueyaml "cuelang.org/go/encoding/yaml"
)

// Source is the embedded schema, as `etcdgen schema` prints it.
//
//go:embed cluster.cue
var Source string

// SchemaFile names the schema in positions of errors that point into it.
const SchemaFile = "etcdgen/schema/cluster.cue"

// MaxSpecBytes bounds a spec: a cluster description is a few KB; anything
// larger is a mistake (a wrong file) and would only cost time.
const MaxSpecBytes = 1 << 20

// Loader compiles the schema once and loads any number of specs with it. A
// cue.Context is not safe for concurrent use, so loads are serialised; what
// comes after loading (render, targets) runs in parallel.
type Loader struct {
	mu      sync.Mutex
	ctx     *cue.Context
	cluster cue.Value // #Cluster
}

// NewLoader compiles the embedded schema. A failure is a bug in etcdgen.
func NewLoader() (*Loader, error) {
	ctx := cuecontext.New()
	v := ctx.CompileString(Source, cue.Filename(SchemaFile))
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("internal error: embedded schema does not compile: %v", err)
	}
	def := v.LookupPath(cue.ParsePath("#Cluster"))
	if err := def.Err(); err != nil {
		return nil, fmt.Errorf("internal error: embedded schema has no #Cluster: %v", err)
	}
	return &Loader{ctx: ctx, cluster: def}, nil
}

// Format of a spec file, from its name ("-" and unknown names are sniffed).
type Format int

const (
	FormatAuto Format = iota
	FormatCUE
	FormatYAML
	FormatJSON
)

// FormatOf tells a spec's format from its file name.
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".cue":
		return FormatCUE
	case ".yaml", ".yml":
		return FormatYAML
	case ".json":
		return FormatJSON
	}
	return FormatAuto
}

// Load parses data (named name in messages) and returns the validated
// cluster with defaults filled in, and warnings. Every problem found is in
// the returned *Errors, each with its position.
func (l *Loader) Load(name string, data []byte) (*Cluster, []Problem, error) {
	if len(data) > MaxSpecBytes {
		return nil, nil, errorf(name, "", "spec is %d bytes, over the %d-byte limit; is this the right file?", len(data), MaxSpecBytes)
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil, nil, errorf(name, "", "spec is empty; want at least a name and members (etcdgen init writes an example)")
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	user, err := l.parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	if k := user.IncompleteKind(); k != cue.StructKind && user.Err() == nil {
		return nil, nil, errorf(name, "", "spec is a %v, want a struct of fields (name: ..., members: [...])", k)
	}
	unified := l.cluster.Unify(user)
	if err := unified.Validate(cue.Concrete(true), cue.Final()); err != nil {
		return nil, nil, l.explain(name, user, err)
	}
	var c Cluster
	if err := unified.Decode(&c); err != nil {
		return nil, nil, l.explain(name, user, err)
	}
	c.Source = name
	c.HasMembers = user.LookupPath(cue.ParsePath("members")).Exists()
	pos := func(path string) Pos { return posOf(name, user, path) }
	errs, warns := validate(&c, pos)
	if len(errs) > 0 {
		return nil, warns, &Errors{List: errs}
	}
	return &c, warns, nil
}

func (l *Loader) parse(name string, data []byte) (cue.Value, error) {
	format := FormatOf(name)
	if format == FormatAuto {
		format = sniff(data)
	}
	var (
		expr ast.Expr
		file *ast.File
		err  error
	)
	switch format {
	case FormatCUE:
		file, err = parser.ParseFile(name, data, parser.ParseComments)
	case FormatYAML:
		file, err = cueyaml.Extract(name, data)
	case FormatJSON:
		// YAML is a superset of JSON, and its extractor keeps line:col;
		// CUE's JSON package would link every other encoding too.
		file, err = cueyaml.Extract(name, data)
	}
	if err != nil {
		return cue.Value{}, syntaxErrors(name, err)
	}
	var v cue.Value
	if file != nil {
		v = l.ctx.BuildFile(file)
	} else {
		v = l.ctx.BuildExpr(expr)
	}
	if err := v.Err(); err != nil {
		return cue.Value{}, syntaxErrors(name, err)
	}
	return v, nil
}

// sniff guesses the format of a spec read from stdin: JSON starts with '{',
// CUE parses as CUE, anything else is YAML.
func sniff(data []byte) Format {
	s := strings.TrimSpace(string(data))
	if strings.HasPrefix(s, "{") {
		return FormatJSON
	}
	if _, err := parser.ParseFile("-", data); err == nil {
		return FormatCUE
	}
	return FormatYAML
}

func syntaxErrors(name string, err error) error {
	var list []Problem
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		list = append(list, Problem{Pos: fromToken(name, e.Position()), Msg: "syntax error: " + fmt.Sprintf(format, args...)})
	}
	if len(list) == 0 {
		list = append(list, Problem{Pos: Pos{File: name}, Msg: "syntax error: " + err.Error()})
	}
	return &Errors{List: list}
}

// posOf finds where path is written in the user's spec; the closest written
// ancestor when the field itself is missing (a default failed a rule).
func posOf(name string, user cue.Value, path string) Pos {
	for p := path; ; {
		v := user.LookupPath(cue.ParsePath(p))
		if v.Exists() {
			if pos := v.Pos(); pos.IsValid() {
				return fromToken(name, pos)
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return Pos{File: name}
}

func fromToken(name string, p token.Pos) Pos {
	if !p.IsValid() {
		return Pos{File: name}
	}
	return Pos{File: name, Line: p.Line(), Col: p.Column()}
}
