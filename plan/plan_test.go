package plan

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
)

func spec(version string, members ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"c\"\nversion: %q\nmembers: [\n", version)
	for _, m := range members {
		fmt.Fprintf(&b, "\t%s,\n", m)
	}
	b.WriteString("]\n")
	return b.String()
}

func m(t *testing.T, version string, members ...string) *render.Model {
	return rendertest.Model(t, spec(version, members...))
}

var (
	a = `{name: "a", ip: "10.0.0.1"}`
	b = `{name: "b", ip: "10.0.0.2"}`
	c = `{name: "c", ip: "10.0.0.3"}`
	d = `{name: "d", ip: "10.0.0.4"}`
	e = `{name: "e", ip: "10.0.0.5"}`
)

func kinds(p *Plan) string {
	var s []string
	for _, st := range p.Steps {
		s = append(s, st.Dir())
	}
	return strings.Join(s, " ")
}

func TestVersionGate(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		refused  bool
	}{
		{"3.6.15", "3.6.16", false},
		{"3.6.16", "3.6.15", false}, // a patch downgrade is a patch roll
		{"3.5.26", "3.6.0", false},
		{"3.5.25", "3.6.16", true}, // under the minimum patch
		{"3.6.10", "3.7.3", true},
		{"3.6.11", "3.7.3", false},
		{"3.5.30", "3.7.3", true}, // a minor skipped
		{"3.6.16", "3.5.30", true},
		{"3.6.16", "4.0.0", true},
	} {
		o, _ := render.ParseVersion(tc.old)
		n, _ := render.ParseVersion(tc.new)
		if got := versionGate(o, n); (got != "") != tc.refused {
			t.Errorf("%s -> %s: %q, want refused %v", tc.old, tc.new, got, tc.refused)
		}
	}
}

func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *render.Model
		want     string
	}{
		{"grow", m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, b, c, d, e), "01-add-d 02-add-e"},
		{"shrink", m(t, "3.6.16", a, b, c, d, e), m(t, "3.6.16", a, b, c), "01-remove-d 02-remove-e"},
		// Adds before removes: the fault tolerance never dips.
		{"swap", m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, b, d), "01-add-d 02-remove-c"},
		// The dead member first, then the readdressed one.
		{"replace", m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, `{name: "b", ip: "10.0.0.12"}`, `{name: "c", ip: "10.0.0.3", replace: true}`),
			"01-replace-c 02-replace-b"},
		{"rename", m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, b, `{name: "x", ip: "10.0.0.3"}`), "01-replace-x"},
		{"upgrade", m(t, "3.6.15", a, b, c), m(t, "3.6.16", a, b, c), "01-snapshot 02-upgrade-a 03-upgrade-b 04-upgrade-c"},
		{"nothing", m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, b, c), ""},
	} {
		p, err := Diff(tc.old, tc.new)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := kinds(p); got != tc.want {
			t.Errorf("%s: steps %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A member added while another is still to be removed joins a cluster
// that still has it: its initial cluster lists it (etcd compares the two
// member for member).
func TestJoinInitialCluster(t *testing.T) {
	p, err := Diff(m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, b, d))
	if err != nil {
		t.Fatal(err)
	}
	var conf string
	for _, f := range p.Steps[0].Files {
		if strings.HasSuffix(f.Path, "etc/etcd/etcd.conf") {
			conf = string(f.Data)
		}
	}
	for _, want := range []string{
		"ETCD_INITIAL_CLUSTER=a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380,d=https://10.0.0.4:2380\n",
		"ETCD_INITIAL_CLUSTER_STATE=existing\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("d's env file lacks %q:\n%s", want, conf)
		}
	}
}

func TestRefusedQuorum(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *render.Model
	}{
		{"two dead of three", m(t, "3.6.16", a, b, c), m(t, "3.6.16", `{name: "a", ip: "10.0.0.1", replace: true}`, `{name: "b", ip: "10.0.0.2", replace: true}`, c)},
		{"the only member readdressed", m(t, "3.6.16", a), m(t, "3.6.16", `{name: "a", ip: "10.0.0.9"}`)},
		{"upgrade of one", m(t, "3.6.15", a), m(t, "3.6.16", a)},
	} {
		_, err := Diff(tc.old, tc.new)
		var r *Refused
		if !errors.As(err, &r) || !strings.Contains(err.Error(), "quorum") {
			t.Errorf("%s: %v, want a quorum refusal", tc.name, err)
		}
	}
}

// Every spec value lands in plan.sh as one word that bash reads back
// verbatim.
func TestQuote(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	vals := []string{"plain", "it's", `"$(touch pwned)"`, "`id`", "a b\tc\nd", `back\slash`, "'", "", "$HOME", "!x"}
	script := filepath.Join(t.TempDir(), "q.sh")
	var s strings.Builder
	s.WriteString("for v in " + words(vals...) + "; do printf '%s\\0' \"$v\"; done\n")
	if err := os.WriteFile(script, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(vals) {
		t.Fatalf("got %d words, want %d: %q", len(got), len(vals), got)
	}
	for i := range vals {
		if got[i] != vals[i] {
			t.Errorf("word %d: %q, want %q", i, got[i], vals[i])
		}
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "pwned")); err == nil {
		t.Error("a quoted value ran a command")
	}
}

// plan.sh parses (bash -n) for every kind of step.
func TestScriptSyntax(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for _, pair := range [][2]*render.Model{
		{m(t, "3.6.16", a, b, c), m(t, "3.6.16", a, `{name: "b", ip: "10.0.0.9"}`, d, e)},
		{m(t, "3.6.15", a, b, c), m(t, "3.6.16", a, b, c)},
	} {
		p, err := Diff(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "plan.sh")
		if err := os.WriteFile(f, Script(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Fatalf("bash -n: %v\n%s", err, out)
		}
	}
}

// TestDiffLiveDown: members the running cluster reports down count out of
// the quorum (plan --live), as members marked replace do.
func TestDiffLiveDown(t *testing.T) {
	three := m(t, "3.7.3", a, b, c)
	two := m(t, "3.7.3", a, b)
	// Removing c with a and b up is safe; with b down, a alone is not a
	// quorum of the two left.
	if _, err := DiffLive(three, two, nil); err != nil {
		t.Fatalf("nobody down: %v", err)
	}
	_, err := DiffLive(three, two, map[string]bool{"b": true})
	var r *Refused
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "after removing c, 1 of 2 voting members are healthy") {
		t.Fatalf("b down, c removed: %v; want refused for the quorum", err)
	}
	// Removing the member that is down is safe.
	if p, err := DiffLive(three, m(t, "3.7.3", a, c), map[string]bool{"b": true}); err != nil || kinds(p) != "01-remove-b" {
		t.Fatalf("b down, b removed: %v %v", p, err)
	}
	// Two of three down: nothing can be planned.
	_, err = DiffLive(three, m(t, "3.7.3", a, b, c, d), map[string]bool{"b": true, "c": true})
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "with b, c not answering") {
		t.Fatalf("b and c down: %v; want refused, naming them", err)
	}
	// A rolling upgrade stops one member at a time: with one of three
	// down, stopping another loses the quorum.
	if _, err := DiffLive(three, m(t, "3.7.4", a, b, c), nil); err != nil {
		t.Fatalf("upgrade, nobody down: %v", err)
	}
	_, err = DiffLive(three, m(t, "3.7.4", a, b, c), map[string]bool{"c": true})
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "with c not answering, 2 of 3 voting members are healthy") {
		t.Fatalf("upgrade with c down: %v; want refused", err)
	}
}
