package schema

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// comprehension makes a spec whose evaluation grows as 10^n: legal CUE, a
// few lines long.
func comprehension(n int) string {
	var b strings.Builder
	b.WriteString("name: \"etcd-prod\"\nmembers: [{name: \"etcd1\", ip: \"10.0.0.11\"}]\n_l: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n_m: [")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "for a%d in _l ", i)
	}
	b.WriteString("{a: 1}]\n")
	return b.String()
}

func TestLoadStopsRunawayEvaluation(t *testing.T) {
	defer func(d time.Duration) { MaxEvalTime = d }(MaxEvalTime)
	MaxEvalTime = 50 * time.Millisecond
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = l.Load("bomb.cue", []byte(comprehension(4)))
	if err == nil || !strings.Contains(err.Error(), "took over 50ms; stopped") {
		t.Fatalf("err = %v, want the evaluation stopped", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopped after %v", d)
	}
	// The Loader's context is still busy: it refuses the next spec.
	_, _, err = l.Load("next.cue", []byte("name: \"x\"\nmembers: [{name: \"a\", ip: \"10.0.0.1\"}]\n"))
	if err == nil || !strings.Contains(err.Error(), "stopped evaluating bomb.cue") {
		t.Errorf("next load: %v", err)
	}
}

func TestLoadStopsMemoryHog(t *testing.T) {
	defer func(n uint64) { MaxEvalHeapBytes = n }(MaxEvalHeapBytes)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	MaxEvalHeapBytes = ms.HeapAlloc + 8<<20
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Load("bomb.cue", []byte(comprehension(4)))
	if err == nil || !strings.Contains(err.Error(), "MiB of memory; stopped") {
		t.Fatalf("err = %v, want the evaluation stopped for memory", err)
	}
}

func TestLoadInTime(t *testing.T) {
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	// A small comprehension, as a person writes one, is fine.
	if _, _, err := l.Load("ok.cue", []byte(comprehension(2))); err != nil {
		t.Fatal(err)
	}
}

// Problems come out in file order, the same on every load.
func TestErrorOrderDeterministic(t *testing.T) {
	spec := `name: "Etcd_Prod"
ports: {client: 0, peer: 65536}
members: [
	{name: "etcd1", ip: "010.1.1.1"},
	{name: "etcd1", ip: "10.0.0.12", hostname: "x"},
]
tls: enabeld: true
memebers: []
zzz: 1
aaa: 2
`
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	var first string
	var last error
	for i := 0; i < 20; i++ {
		_, _, err := l.Load("spec.cue", []byte(spec))
		last = err
		if err == nil {
			t.Fatal("no error")
		}
		if i == 0 {
			first = err.Error()
			continue
		}
		if err.Error() != first {
			t.Fatalf("run %d differs:\n%s\n--- first:\n%s", i, err, first)
		}
	}
	var lines []int
	for _, p := range last.(*Errors).List {
		lines = append(lines, p.Pos.Line)
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Errorf("not in file order: %v\n%s", lines, first)
		}
	}
}

func TestSyntaxPositions(t *testing.T) {
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"s.json", "{\n  \"name\": \"x\",\n}\n", "s.json:3:1: syntax error: invalid character '}' looking for beginning of object key string; JSON allows no comma after the last element"},
		{"s.json", "{\"name\": \"x\"", "s.json:1:13: syntax error: unexpected end of JSON input; a bracket or brace is not closed"},
		{"s.yaml", "name: x\nmembers:\n\t- a\n", "s.yaml:3:1: syntax error: found character that cannot start any token; YAML indents with spaces, not tabs"},
		{"s.yaml", "name: x\nmembers: [\n", "s.yaml:2: syntax error: did not find expected node content"},
		{"s.cue", "name: \"x\"\nname: \"y\"\n", "s.cue:2:7: name: conflicting values \"y\" and \"x\"; a field is set more than once with different values: keep one"},
		{"-", "{\"name\": 1,}", "-:1:12: syntax error: invalid character '}' looking for beginning of object key string; JSON allows no comma after the last element"},
	} {
		_, _, err := l.Load(tc.name, []byte(tc.spec))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.spec, err, tc.want)
		}
	}
}

// TestLoadBytes: every error about the bytes of a spec has a position and
// a message; RFC 8259's byte order mark and surrogate pairs are accepted.
func TestLoadBytes(t *testing.T) {
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	const members = `"members": [{"name": "etcd1", "ip": "10.0.0.11"}]`
	for _, tc := range []struct {
		name, data, want string // want "" means the spec loads
	}{
		{"bom.json", "\ufeff{\"name\": \"etcd-prod\", " + members + "}", ""},
		{"bom.yaml", "\ufeffname: etcd-prod\nmembers: [{name: etcd1, ip: 10.0.0.11}]\n", ""},
		// The pair decodes to one character, which a name then refuses.
		{"pair.json", `{"name": "x\ud83d\ude00", ` + members + `}`, "pair.json:1:10: name: \"x😀\" is not allowed; want a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. \"etcd-prod\")"},
		{"lone.json", `{"name": "etcd-prod", ` + members + `, "token": "a\udc00"}`, "lone.json:1:85: syntax error: \\udc00 is half of a UTF-16 surrogate pair; want a whole character"},
		{"utf8.yaml", "name: etcd-prod\nmembers: [{name: etcd1, ip: 10.0.0.11}]\ntoken: \"a\xffb\"\n", "utf8.yaml:3:10: syntax error: byte 0xff is not UTF-8; want the spec saved as UTF-8 text"},
		{"nul.yaml", "name: etcd-prod\nmembers: [{name: etcd1, ip: 10.0.0.11}]\ntoken: a\x00b\n", "nul.yaml:3:9: syntax error: control character U+0000; want text (write it as an escape in a string if it is meant)"},
		{"nul.cue", "name: \"etcd-prod\"\x00\n", "nul.cue:1:18: syntax error: control character U+0000; want text (write it as an escape in a string if it is meant)"},
		{"bigint.json", `{"name": "etcd-prod", ` + members + `, "tuning": {"heartbeatInterval": 36893488147419103232000}}`, "bigint.json:1:106: tuning.heartbeatInterval: integer out of range; want milliseconds from 1 to 10000 (default 100)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := l.Load(tc.name, []byte(tc.data))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
