package schema

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// checkText refuses a spec that is not UTF-8 text, with the position of
// the first bad byte: the YAML and CUE readers say what is wrong but not
// where. Tab, newline and carriage return are the only control characters
// a spec needs; an escaped one inside a string ("\u0000") is refused later,
// on its field.
func checkText(name string, data []byte) error {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		msg := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("byte 0x%02x is not UTF-8; want the spec saved as UTF-8 text", data[off])
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			msg = fmt.Sprintf("control character %U; want text (write it as an escape in a string if it is meant)", r)
		}
		if msg != "" {
			line, col := lineCol(data, int64(off))
			return &Errors{List: []Problem{{Pos: Pos{File: name, Line: line, Col: col}, Msg: "syntax error: " + msg}}}
		}
		off += size
	}
	return nil
}

// jsonEscapes rewrites the UTF-16 surrogate pairs of JSON strings
// ("\ud83d\ude00", RFC 8259 7) into the characters they stand for, since
// the YAML reader that turns JSON into CUE refuses them; a lone surrogate
// is refused with its position (it is no character at all). data is valid
// JSON (jsonSyntax passed).
func jsonEscapes(name string, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`\u`)) && !bytes.Contains(data, []byte(`\U`)) {
		return data, nil
	}
	var out []byte
	in := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\' && i+1 < len(data) && data[i+1] == 'u' && i+6 <= len(data):
			r, _ := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
			if utf16.IsSurrogate(rune(r)) {
				var lo uint64
				if i+12 <= len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					lo, _ = strconv.ParseUint(string(data[i+8:i+12]), 16, 32)
				}
				ch := utf16.DecodeRune(rune(r), rune(lo))
				if ch == utf8.RuneError {
					line, col := lineCol(data, int64(i))
					return nil, &Errors{List: []Problem{{Pos: Pos{File: name, Line: line, Col: col},
						Msg: fmt.Sprintf("syntax error: %s is half of a UTF-16 surrogate pair; want a whole character", data[i:i+6])}}}
				}
				if out == nil {
					out = append(make([]byte, 0, len(data)), data[:i]...)
				}
				out = utf8.AppendRune(out, ch)
				i += 11
				continue
			}
			if out != nil {
				out = append(out, data[i:i+6]...)
			}
			i += 5
			continue
		case c == '\\' && i+1 < len(data):
			if out != nil {
				out = append(out, c, data[i+1])
			}
			i++
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return data, nil
	}
	return out, nil
}

// countBuiltins are CUE builtins whose result size is an argument: one call
// such as strings.Repeat("x", 1<<34) asks for 16 GiB in one allocation,
// which the Go runtime cannot survive (an out-of-memory error is fatal,
// not a panic), so no watchdog can stop it. A cluster spec has no use for
// them.
var countBuiltins = map[string]bool{"Repeat": true, "Range": true, "Pow": true, "Exp2": true, "Exp10": true}

// checkAST refuses, before evaluation, the CUE constructs that can
// allocate without bound in one step: the countBuiltins, and `*` on
// anything but number literals, since CUE's `*` also repeats strings and
// bytes ("ab" * 1e10). Everything else grows in steps the watchdog sees.
func checkAST(name string, f *ast.File) error {
	imports := map[string]bool{}
	for spec := range f.ImportSpecs() {
		p, _ := strconv.Unquote(spec.Path.Value)
		n := p
		if i := bytes.LastIndexByte([]byte(p), '/'); i >= 0 {
			n = p[i+1:]
		}
		if spec.Name != nil {
			n = spec.Name.Name
		}
		imports[n] = true
	}
	var list []Problem
	ast.Walk(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && imports[id.Name] {
				if sel, ok := x.Sel.(*ast.Ident); ok && countBuiltins[sel.Name] {
					list = append(list, Problem{Pos: fromToken(name, x.Pos()),
						Msg: fmt.Sprintf("%s.%s is not allowed in a spec: its result's size is an argument, and one call can exhaust the machine; write the values out", id.Name, sel.Name)})
				}
			}
		case *ast.BinaryExpr:
			if x.Op == token.MUL && !(numeric(x.X) && numeric(x.Y)) {
				list = append(list, Problem{Pos: fromToken(name, x.OpPos),
					Msg: "* is allowed only between number literals (e.g. 8 * 1024 * 1024 * 1024): CUE's * also repeats strings, and one repetition can exhaust the machine"})
				return false
			}
		}
		return true
	}, nil)
	if len(list) > 0 {
		sortProblems(list)
		return &Errors{List: list}
	}
	return nil
}

// numeric tells an expression made of number literals only.
func numeric(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.INT || x.Kind == token.FLOAT
	case *ast.ParenExpr:
		return numeric(x.X)
	case *ast.UnaryExpr:
		return (x.Op == token.SUB || x.Op == token.ADD) && numeric(x.X)
	case *ast.BinaryExpr:
		switch x.Op {
		case token.ADD, token.SUB, token.MUL, token.QUO:
			return numeric(x.X) && numeric(x.Y)
		}
	}
	return false
}
