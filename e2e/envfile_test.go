package e2e

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// envVar is one assignment of an env file, in file order.
type envVar struct{ Key, Value string }

var envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// readEnvFile reads path the way systemd's EnvironmentFile= does
// (systemd.exec(5)): blank lines and lines starting with # or ; are comments;
// KEY=VALUE with surrounding whitespace dropped; an unquoted value follows
// shell backslash rules and a trailing backslash continues the line; a value
// in single quotes is verbatim, in double quotes \" \\ \` \$ and
// backslash-newline are escapes; both may span lines.
//
// systemd skips (with a warning) lines without "=" and invalid keys; etcdgen
// must never write such a line, so they are errors here.
func readEnvFile(path string) ([]envVar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnvFile(path, string(b))
}

func parseEnvFile(name, s string) ([]envVar, error) {
	var vars []envVar
	line := 1
	i := 0
	for i < len(s) {
		// One logical line: skip leading whitespace.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := line
		if s[i] == '\n' {
			i++
			line++
			continue
		}
		if s[i] == '#' || s[i] == ';' {
			for i < len(s) && s[i] != '\n' {
				i++
			}
			continue
		}
		// Key up to '='.
		j := i
		for j < len(s) && s[j] != '=' && s[j] != '\n' {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			return nil, fmt.Errorf("%s:%d: no '=' (systemd would skip this line)", name, start)
		}
		key := strings.TrimRight(s[i:j], " \t\r")
		if !envKeyRe.MatchString(key) {
			return nil, fmt.Errorf("%s:%d: invalid variable name %q (systemd would skip it)", name, start, key)
		}
		i = j + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
		var val strings.Builder
		switch {
		case i < len(s) && s[i] == '\'':
			i++
			k := strings.IndexByte(s[i:], '\'')
			if k < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated single quote", name, start)
			}
			val.WriteString(s[i : i+k])
			line += strings.Count(s[i:i+k], "\n")
			i += k + 1
			if err := restOfLine(name, s, &i, start); err != nil {
				return nil, err
			}
		case i < len(s) && s[i] == '"':
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '"' {
					i++
					closed = true
					break
				}
				if c == '\\' && i+1 < len(s) {
					n := s[i+1]
					switch n {
					case '"', '\\', '`', '$':
						val.WriteByte(n)
					case '\n':
						line++
					default:
						val.WriteByte('\\')
						val.WriteByte(n)
					}
					i += 2
					continue
				}
				if c == '\n' {
					line++
				}
				val.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%s:%d: unterminated double quote", name, start)
			}
			if err := restOfLine(name, s, &i, start); err != nil {
				return nil, err
			}
		default:
			for i < len(s) && s[i] != '\n' {
				if s[i] == '\\' && i+1 < len(s) {
					if s[i+1] == '\n' {
						line++
					} else {
						val.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				val.WriteByte(s[i])
				i++
			}
		}
		vars = append(vars, envVar{key, strings.TrimRight(val.String(), " \t\r")})
	}
	return vars, nil
}

// restOfLine accepts only whitespace after a closing quote.
func restOfLine(name, s string, i *int, line int) error {
	for *i < len(s) && s[*i] != '\n' {
		if c := s[*i]; c != ' ' && c != '\t' && c != '\r' {
			return fmt.Errorf("%s:%d: text after the closing quote", name, line)
		}
		*i++
	}
	return nil
}

// environ turns vars into an exec environment: later assignments win, as in
// systemd, and PATH is the only variable added.
func environ(vars []envVar) []string {
	seen := map[string]int{}
	var env []string
	for _, v := range vars {
		kv := v.Key + "=" + v.Value
		if k, ok := seen[v.Key]; ok {
			env[k] = kv
			continue
		}
		seen[v.Key] = len(env)
		env = append(env, kv)
	}
	if _, ok := seen["PATH"]; !ok {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}

func TestParseEnvFile(t *testing.T) {
	in := "# comment\n; also a comment\n\n  A=1\nB = two words  \nC='x # y'\nD=\"q\\\"uote\\\\ \\n\"\nE=a\\\nb\nF=\n"
	got, err := parseEnvFile("in", in)
	if err != nil {
		t.Fatal(err)
	}
	want := []envVar{{"A", "1"}, {"B", "two words"}, {"C", "x # y"}, {"D", `q"uote\ \n`}, {"E", "ab"}, {"F", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS\n", "1X=2\n", "A='open\n", "A=\"x\" y\n"} {
		if _, err := parseEnvFile("bad", bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
