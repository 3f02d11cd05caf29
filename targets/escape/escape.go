// Package escape holds the one escaping rule of each output language a
// spec value is written into, so that the value reaches every consumer as
// the same literal: a shell and systemd reading an env file, systemd
// reading a unit, Jinja reading an Ansible inventory, Helm reading a
// template. The schema refuses most dangerous characters first (see
// schema/cluster.cue #HostPath); these functions are the last line, and
// say so with an error rather than write a file that means something else.
package escape

import (
	"bytes"
	"fmt"
	"strings"
)

// plain are the characters that mean themselves, unquoted, to a POSIX
// shell in an assignment word (no field splitting or globbing there:
// POSIX 2.9.1), to systemd's EnvironmentFile= reader and to its unit
// parser outside of % and $. "~" is missing: bash expands it after "=" and
// ":" in assignments.
func plain(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("._/@+,=:[]%-", r)
}

// control tells a character no output language carries literally.
func control(r rune) bool { return r < 0x20 || r == 0x7f }

// EnvValue is value as written after KEY= in an env file that systemd's
// EnvironmentFile= (systemd.exec(5)) and a POSIX shell's `set -a; . file`
// both read: plain values unquoted, others in single quotes, which both
// read verbatim (systemd expands neither $ nor \ inside them). A value
// with a single quote or a control character has no such spelling.
func EnvValue(value string) (string, error) {
	if value != "" && strings.IndexFunc(value, func(r rune) bool { return !plain(r) }) < 0 {
		return value, nil
	}
	if strings.IndexFunc(value, control) >= 0 || strings.ContainsRune(value, '\'') {
		return "", fmt.Errorf("internal error: env value %q holds a quote or control character that no env file spelling carries to both systemd and a shell", value)
	}
	return "'" + value + "'", nil
}

// UnitText is value as written in a systemd unit setting that is text,
// such as Description=: "%" starts a specifier (systemd.unit(5),
// "Specifiers") and is doubled.
func UnitText(value string) (string, error) {
	if strings.IndexFunc(value, control) >= 0 {
		return "", fmt.Errorf("internal error: unit text %q holds a control character", value)
	}
	return strings.ReplaceAll(value, "%", "%%"), nil
}

// UnitExecPath is a program path as the first word of ExecStart=: "%" and
// "$" are doubled (specifiers and environment expansion, systemd.service(5)
// "Command lines"); whitespace, quotes and backslashes would split or
// unquote it, and a leading "@-:+!|" is a prefix that changes how the
// command runs, so they are refused.
func UnitExecPath(value string) (string, error) {
	if !strings.HasPrefix(value, "/") || strings.IndexFunc(value, func(r rune) bool {
		return control(r) || r == ' ' || strings.ContainsRune("\"'\\;", r)
	}) >= 0 {
		return "", fmt.Errorf("internal error: ExecStart path %q is not an absolute path without spaces, quotes or backslashes", value)
	}
	return strings.NewReplacer("%", "%%", "$", "$$").Replace(value), nil
}

// AnsibleValue checks a value for an Ansible inventory: Ansible templates
// every inventory string with Jinja when a playbook uses it, so "{{", "{%"
// and "{#" would run as code on the controller. Such values are refused
// (marking them !unsafe would need a YAML encoder that writes tags).
func AnsibleValue(value string) (string, error) {
	for _, open := range []string{"{{", "{%", "{#"} {
		if strings.Contains(value, open) {
			return "", fmt.Errorf("internal error: inventory value %q holds %q, which Ansible's Jinja would template", value, open)
		}
	}
	return value, nil
}

// Helm makes a Kubernetes document a Helm template that renders to
// exactly itself: every "{{" (the only delimiter Go's text/template
// knows) becomes the action {{"{{"}}, which prints it.
func Helm(doc []byte) []byte {
	if !bytes.Contains(doc, []byte("{{")) {
		return doc
	}
	return bytes.ReplaceAll(doc, []byte("{{"), []byte(`{{"{{"}}`))
}

// Shell is value as one POSIX shell word: plain values (no glob or other
// special characters) as they are, others single-quoted, with each
// single quote written '\”.
func Shell(value string) string {
	if value != "" && strings.IndexFunc(value, func(r rune) bool { return !plain(r) || r == '[' || r == ']' }) < 0 {
		return value
	}
	return "'" + strings.ReplaceAll(value, "'", `'\''`) + "'"
}
