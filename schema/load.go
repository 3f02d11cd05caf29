// Package schema loads cluster specs (CUE, YAML, JSON), checks them against
// the embedded CUE schema #Cluster, fills in defaults and decodes them into
// plain Go structs. Nothing else in etcdgen imports CUE.
package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

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

var yamlDocSep = regexp.MustCompile(`(?m)^---`)

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
	stopped string    // a spec whose evaluation ran away; ctx is unusable
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
		// Callers read at most MaxSpecBytes+1, so the size is unknown here.
		return nil, nil, errorf(name, "", "spec is larger than the 1 MiB limit (%d bytes); a cluster spec is a few KB: is this the right file?", MaxSpecBytes)
	}
	// RFC 8259 8.1: a parser may ignore a byte order mark; so do YAML
	// and CUE readers. Positions are then counted from after it.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if strings.TrimSpace(string(data)) == "" {
		return nil, nil, errorf(name, "", "spec is empty; want at least a name and members (etcdgen init writes an example)")
	}
	if err := checkText(name, data); err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped != "" {
		return nil, nil, errorf(name, "", "not loaded: etcdgen stopped evaluating %s, and cannot load another spec in this run", l.stopped)
	}
	// CUE is a language: a few lines of references or comprehensions can
	// ask for billions of values. Evaluate under a watchdog; a spec that
	// runs away is reported and its goroutine abandoned (the process is
	// about to exit; the Loader refuses further specs).
	type result struct {
		c     *Cluster
		warns []Problem
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			done <- r
		}()
		r.c, r.warns, r.err = l.load(name, data)
	}()
	r, why := watch(done)
	if why != "" {
		l.stopped = name
		return nil, nil, errorf(name, "", "evaluating the spec %s; stopped. A cluster spec evaluates in milliseconds: look for references or comprehensions that multiply", why)
	}
	if r.panic != nil {
		panic(r.panic) // the caller's recover reports it
	}
	return r.c, r.warns, r.err
}

// Limits of one spec's evaluation.
var (
	MaxEvalTime      = 10 * time.Second
	MaxEvalHeapBytes = uint64(1 << 30)
)

// watch waits for done, or says why it gave up: too long, too much memory.
func watch[T any](done <-chan T) (T, string) {
	timeout := time.NewTimer(MaxEvalTime)
	defer timeout.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// runtime.ReadMemStats, not runtime/metrics: that package's init alone
	// costs ~2 ms of every etcdgen start.
	var ms runtime.MemStats
	var zero T
	for {
		select {
		case r := <-done:
			return r, ""
		case <-timeout.C:
			return zero, fmt.Sprintf("took over %v", MaxEvalTime)
		case <-tick.C:
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > MaxEvalHeapBytes {
				return zero, fmt.Sprintf("needed over %d MiB of memory", MaxEvalHeapBytes>>20)
			}
		}
	}
}

func (l *Loader) load(name string, data []byte) (*Cluster, []Problem, error) {
	user, err := l.parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	if k := user.IncompleteKind(); k != cue.StructKind && user.Err() == nil {
		if k == cue.ListKind && FormatOf(name) != FormatCUE && FormatOf(name) != FormatJSON && yamlDocSep.Match(data) {
			return nil, nil, errorf(name, "", "spec holds several YAML documents (---); want one cluster per file")
		}
		return nil, nil, errorf(name, "", "spec is %s, want a struct of fields (name: ..., members: [...])", article(k.String()))
	}
	if n, err := user.LookupPath(cue.ParsePath("members")).Len().Int64(); err == nil && n > MaxMembers {
		return nil, nil, &Errors{List: []Problem{{Pos: posOf(name, user, "members"), Path: "members",
			Msg: fmt.Sprintf("%d members; want at most %d (etcd recommends at most 7: every write waits for a majority)", n, MaxMembers)}}}
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
	has := func(path string) bool { return user.LookupPath(cue.ParsePath(path)).Exists() }
	errs, warns := validate(&c, pos, has)
	if len(errs) > 0 {
		sortProblems(errs)
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
		if err == nil {
			if err := checkAST(name, file); err != nil {
				return cue.Value{}, err
			}
		}
	case FormatYAML:
		file, err = cueyaml.Extract(name, data)
	case FormatJSON:
		// YAML is a superset of JSON, and its extractor keeps line:col;
		// CUE's JSON package would link every other encoding too. YAML
		// accepts what JSON does not (trailing commas, comments, single
		// quotes), so check JSON's own grammar first.
		if err := jsonSyntax(name, data); err != nil {
			return cue.Value{}, err
		}
		var jerr error
		if data, jerr = jsonEscapes(name, data); jerr != nil {
			return cue.Value{}, jerr
		}
		file, err = cueyaml.Extract(name, data)
	}
	if err != nil {
		if format == FormatCUE {
			return cue.Value{}, syntaxErrors(name, err)
		}
		return cue.Value{}, yamlSyntaxError(name, data, err)
	}
	var v cue.Value
	if file != nil {
		v = l.ctx.BuildFile(file)
	} else {
		v = l.ctx.BuildExpr(expr)
	}
	if err := v.Err(); err != nil {
		return cue.Value{}, buildErrors(name, err)
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

// jsonSyntax reports the first JSON syntax error with its line and column.
func jsonSyntax(name string, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			off := dec.InputOffset()
			line, col := lineCol(data, off)
			return &Errors{List: []Problem{{Pos: Pos{File: name, Line: line, Col: col}, Msg: "syntax error: data after the top-level JSON object; want one object"}}}
		}
		return nil
	}
	var se *json.SyntaxError
	var off int64
	msg := err.Error()
	switch {
	case errors.As(err, &se):
		off = se.Offset
		if off > 0 {
			off-- // Offset is just past the offending byte
		}
		if prev := bytes.TrimRight(data[:off], " \t\r\n"); bytes.HasSuffix(prev, []byte(",")) && off < int64(len(data)) && (data[off] == '}' || data[off] == ']') {
			msg += "; JSON allows no comma after the last element"
		}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		off = int64(len(data))
		msg = "unexpected end of JSON input; a bracket or brace is not closed"
	default:
		return nil // a type error cannot happen decoding into any
	}
	line, col := lineCol(data, off)
	return &Errors{List: []Problem{{Pos: Pos{File: name, Line: line, Col: col}, Msg: "syntax error: " + msg}}}
}

// lineCol turns a byte offset into a 1-based line and column (in bytes).
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// yamlSyntaxError turns the YAML decoder's error, an opaque string
// "name:LINE: message" or "name: message", into a Problem with the line.
func yamlSyntaxError(name string, data []byte, err error) error {
	msg := err.Error()
	if m, ok := strings.CutPrefix(msg, name+":"); ok {
		msg = m
	}
	pos := Pos{File: name}
	if i := strings.IndexByte(msg, ':'); i > 0 {
		if n, err := strconv.Atoi(msg[:i]); err == nil && n > 0 {
			pos.Line = n
			msg = msg[i+1:]
		}
	}
	msg = strings.TrimSpace(msg)
	switch {
	case strings.Contains(msg, "cannot start any token") || strings.Contains(msg, "found a tab character"):
		// yaml.v3 gives no line for a tab; find it.
		for i, line := range strings.Split(string(data), "\n") {
			if j := strings.IndexByte(line, '\t'); j >= 0 && strings.TrimLeft(line[:j], " ") == "" {
				pos.Line, pos.Col = i+1, j+1
				msg += "; YAML indents with spaces, not tabs"
				break
			}
		}
	case strings.Contains(msg, "aliases expand to more than"):
		msg += "; etcdgen refuses YAML alias bombs: write the values out"
	case strings.Contains(msg, "expected a single YAML document"):
		msg = "several YAML documents (---); want one cluster per file"
	}
	if msg == "" {
		msg = "not valid YAML"
	}
	return &Errors{List: []Problem{{Pos: pos, Msg: "syntax error: " + msg}}}
}

// buildErrors reports what makes the user's spec inconsistent on its own
// (a field set twice to different values), before the schema is applied.
func buildErrors(name string, err error) error {
	var list []Problem
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		path := pathString(e.Path())
		pos := Pos{File: name}
		// The last position in the user's file is the later of two
		// conflicting definitions: the one to look at.
		for _, p := range cueerrors.Positions(e) {
			if p.IsValid() && p.Filename() == name {
				pos = fromToken(name, p)
			}
		}
		if strings.Contains(msg, "illegal number") {
			// The YAML reader writes an integer past 64 bits as an
			// expression CUE cannot parse.
			msg = "integer out of range"
			if h := hints[hintKey(path)]; h != "" {
				msg += "; want " + h
			}
		}
		if strings.HasPrefix(msg, "conflicting values") {
			msg += "; a field is set more than once with different values: keep one"
		}
		key := pos.String() + path + msg
		if seen[key] {
			continue
		}
		seen[key] = true
		list = append(list, Problem{Pos: pos, Path: path, Msg: msg})
	}
	if len(list) == 0 {
		list = append(list, Problem{Pos: Pos{File: name}, Msg: err.Error()})
	}
	sortProblems(list)
	return &Errors{List: list}
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
