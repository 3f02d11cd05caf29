package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// Issue 12: every string field of the spec, given values full of shell,
// Jinja, systemd, Helm and YAML metacharacters, control characters and
// non-ASCII, is either refused by `etcdgen validate` with file:line:col,
// or reaches each real consumer as the same literal: bash sourcing the env
// files (`set -a; . file`, as etcdctl.env says) reads what systemd's
// EnvironmentFile= reads (parseEnvFile) and runs nothing; ansible-inventory
// reads what a YAML decoder reads and no Jinja delimiter is in it;
// `helm template` yields the k8s target's objects; systemd-analyze verify
// accepts the unit. The fixed values always run; ETCDGEN_PROPERTY_N adds
// random ones (ETCDGEN_PROPERTY_SEED picks the sequence) for longer runs
// by hand.
//
// Cost: one validate and one render take every spec, and each consumer
// that can read many files in one process does (see consumers); a process
// per spec and consumer cost about 3 CPU-minutes.

// stringFields are the spec's string fields, as JSON paths into base().
var stringFields = []string{
	"name", "version", "token", "dataDir", "walDir",
	"tls.caValidity", "tls.certValidity", "tls.renewBefore", "tls.dir",
	"tuning.autoCompaction.retention", "tuning.watchProgressNotifyInterval",
	"host.binary", "host.user",
	"apiserver.caFile", "apiserver.certFile", "apiserver.keyFile", "apiserver.prefix",
	"kubeadm.kubernetesVersion", "kubeadm.controlPlaneEndpoint",
	"members.0.name", "members.0.ip", "members.0.hostnames.0",
	"kubernetes.namespace", "kubernetes.clusterDomain", "kubernetes.statefulSetName",
	"kubernetes.image", "kubernetes.storageSize", "kubernetes.storageClass",
	"kubernetes.resources.requests.cpu", "kubernetes.resources.limits.example.com/gpu",
	"kubernetes.resources.requests[key]",
	"kubernetes.issuerRef.name", "kubernetes.issuerRef.group",
	// Fields added after the test was written (#13, #15): each reaches the
	// env file (extraFlags) or the k8s objects and the Helm chart's values.
	"extraFlags.max-request-bytes",
	"kubernetes.nodeSelector.disk", "kubernetes.podAnnotations.note", "kubernetes.podLabels.team",
	"kubernetes.priorityClassName", "kubernetes.serviceAccountName", "kubernetes.imagePullSecrets.0",
	"kubernetes.volumePermissions.image",
}

// hostile values: each would change meaning in some output language.
var hostile = []string{
	"/var/lib/etcd;{touch,pwned};", "/x/$(touch pwned)", "/x/`touch pwned`", "/x/${HOME}", "/x/~root",
	"/x/%H%u", "/x/$$x", "/x/a b", "/x/'q'", `/x/"q"`, `/x/a\b`, "/x/a#b", "/x/a&touch pwned",
	"{{ lookup('pipe','touch pwned') }}", "{% raw %}x", "{#c#}", "fast{{x}}", "a{{\"{{\"}}b",
	"- a", ": x", "&a *a", "!!binary x", "? x", "| x", "> x", "'", "\"", "null", "yes", "0x10", "1e3", "~",
	"a\nETCD_NAME=evil", "a\x00b", "a\rb", "a\tb", "a\x1b[2Jb", "a\u2028b", "a\u202eb", "\ufeffa",
	"éclair", "ünïcödé/路径", "😀", "/x/é", "x%%y", "%", "$", "\\", "",
}

const valuesMeta = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\x00\x1béü😀{{}}%%$$"

// TestSpecValuesReachConsumers is the property test of issue 12.
func TestSpecValuesReachConsumers(t *testing.T) {
	// It starts no etcd, so one run is enough: the default version's (make
	// test runs the suite once per tested version).
	if vs, err := testedEtcdVersions(); err == nil && len(vs) > 0 && etcdVersion != vs[0] {
		t.Skipf("runs on the default etcd %s only: it starts no etcd", vs[0])
	}
	helm, err := filepath.Abs(filepath.Join(*binDir, "helm"))
	must(t, err)
	var missing []string
	for _, tool := range []string{"bash", "ansible-inventory", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, b := range []string{helm, filepath.Join(filepath.Dir(helm), "helm-templateall")} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing %v (make -C e2e deps bin installs them)", missing)
	}

	type tc struct{ field, value string }
	var cases []tc
	for _, f := range stringFields {
		for _, v := range hostile {
			cases = append(cases, tc{f, v})
		}
	}
	n, _ := strconv.Atoi(os.Getenv("ETCDGEN_PROPERTY_N"))
	seed, _ := strconv.ParseUint(os.Getenv("ETCDGEN_PROPERTY_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 12))
	meta := []rune(valuesMeta)
	for i := 0; i < n; i++ {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteString("/var/lib/")
		}
		for j := rng.IntN(12); j >= 0; j-- {
			if rng.IntN(3) == 0 {
				b.WriteString("etcd")
			} else {
				b.WriteRune(meta[rng.IntN(len(meta))])
			}
		}
		cases = append(cases, tc{stringFields[rng.IntN(len(stringFields))], b.String()})
	}

	dir := t.TempDir()
	specs := filepath.Join(dir, "specs")
	must(t, os.Mkdir(specs, 0o755))
	// Each case's cluster is p<case> (its value, for the name field), so
	// one validate and one render take them all.
	nameOf := func(i int) string {
		if cases[i].field == "name" {
			return cases[i].value
		}
		return fmt.Sprintf("p%d", i)
	}
	files := make([]string, len(cases))
	for i, c := range cases {
		s := base(nameOf(i))
		set(s, c.field, c.value)
		data, err := json.MarshalIndent(s, "", "  ")
		must(t, err)
		files[i] = fmt.Sprintf("s%04d.json", i)
		must(t, os.WriteFile(filepath.Join(specs, files[i]), data, 0o644))
	}
	// byName splits cases into groups holding each cluster name once (one
	// validate or render call refuses two specs of one name; random name
	// values may repeat): a process per spec costs more than the work,
	// mostly the schema's compilation.
	byName := func(idx []int) [][]int {
		var groups [][]int
		var names []map[string]bool
		for _, i := range idx {
			n := nameOf(i)
			g := 0
			for g < len(names) && names[g][n] {
				g++
			}
			if g == len(names) {
				names = append(names, map[string]bool{})
				groups = append(groups, nil)
			}
			names[g][n] = true
			groups[g] = append(groups[g], i)
		}
		return groups
	}
	all := make([]int, len(cases))
	for i := range all {
		all[i] = i
	}
	runs := map[string]*usage{} // processes and CPU, by program
	var stderr bytes.Buffer
	validates := byName(all)
	for _, g := range validates {
		args := []string{"validate"}
		for _, i := range g {
			args = append(args, filepath.Join(specs, files[i]))
		}
		cmd := exec.Command(etcdgenBin, args...)
		cmd.Stderr = &stderr
		_ = cmd.Run()
		account(runs, "etcdgen validate", cmd)
	}
	refused := map[string]bool{}
	posRe := regexp.MustCompile(`^` + regexp.QuoteMeta(specs) + `/(s[0-9]{4}\.json):([0-9]+):([0-9]+): \S`)
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.HasPrefix(line, specs) || strings.Contains(line, ": warning: ") {
			continue
		}
		m := posRe.FindStringSubmatch(line)
		if m == nil || m[2] == "0" {
			t.Errorf("a problem without a position: %q", line)
			continue
		}
		refused[m[1]] = true
	}
	if strings.Contains(stderr.String(), "internal error") || strings.Contains(stderr.String(), "goroutine ") {
		t.Fatalf("validate:\n%s", stderr.String())
	}

	// Render the accepted ones, a group at a time, and hand the output to
	// the consumers. A failed group is rendered again spec by spec, so one
	// refused render does not hide another's.
	var accepted []int
	for i := range cases {
		if !refused[files[i]] {
			accepted = append(accepted, i)
		}
	}
	roots := map[int]string{} // case -> its cluster's render
	renders := byName(accepted)
	for g, group := range renders {
		out := filepath.Join(dir, "out", fmt.Sprintf("g%d", g))
		args := []string{"render", "--out", out}
		for _, i := range group {
			args = append(args, filepath.Join(specs, files[i]))
		}
		r := exec.Command(etcdgenBin, args...)
		err := r.Run()
		account(runs, "etcdgen render", r)
		if err == nil {
			for _, i := range group {
				roots[i] = filepath.Join(out, nameOf(i))
			}
			continue
		}
		for _, i := range group {
			c := cases[i]
			out := filepath.Join(dir, "out", files[i])
			r := exec.Command(etcdgenBin, "render", "--out", out, filepath.Join(specs, files[i]))
			b, err := r.CombinedOutput()
			account(runs, "etcdgen render", r)
			if err != nil {
				t.Errorf("%s=%q: validate accepted it, render failed: %v\n%s", c.field, c.value, err, b)
				continue
			}
			roots[i] = filepath.Join(out, nameOf(i))
		}
	}

	var rendered []int
	var rootsOf []string
	for _, i := range accepted {
		c, root := cases[i], roots[i]
		switch {
		case root == "":
		case !exists(root):
			t.Errorf("%s=%q: render succeeded but wrote no %s", c.field, c.value, root)
		default:
			rendered = append(rendered, i)
			rootsOf = append(rootsOf, root)
		}
	}
	cons := newConsumers(t, helm, rootsOf, runs)
	for _, i := range rendered {
		c, root := cases[i], roots[i]
		seen := cons.read(root)
		if c.value != "" && len(c.value) > 2 && !seen[c.value] && !containsIn(seen, c.value) {
			t.Errorf("%s=%q: accepted, but no consumer read the value literally", c.field, c.value)
		}
	}
	t.Logf("%d values: %d refused with a position, %d accepted and read back by bash, systemd's reader, ansible-inventory and helm", len(cases), len(refused), len(accepted))
	var self syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	t.Logf("CPU: %v; this test process (and all others of the binary) %.1fs", runs,
		time.Duration(syscall.TimevalToNsec(self.Utime)+syscall.TimevalToNsec(self.Stime)).Seconds())
}

// base is a valid spec touching every string field.
func base(name string) map[string]any {
	return map[string]any{
		"name":    name,
		"version": "3.6.16",
		"token":   "tok",
		"dataDir": "/var/lib/etcd", "walDir": "/var/lib/etcd-wal",
		"tls": map[string]any{"caValidity": "87600h", "certValidity": "43800h", "renewBefore": "720h", "dir": "/etc/etcd/pki"},
		"tuning": map[string]any{
			"autoCompaction":              map[string]any{"mode": "periodic", "retention": "1h"},
			"watchProgressNotifyInterval": "5s",
		},
		"host":      map[string]any{"binary": "/usr/local/bin/etcd", "user": "etcd"},
		"apiserver": map[string]any{"caFile": "/pki/ca.crt", "certFile": "/pki/c.crt", "keyFile": "/pki/c.key", "prefix": "/registry"},
		"kubeadm":   map[string]any{"kubernetesVersion": "v1.36.3", "controlPlaneEndpoint": "api.example.com:6443"},
		"members": []any{
			map[string]any{"name": "etcd1", "ip": "10.0.0.11", "hostnames": []any{"etcd1.example.com"}},
			map[string]any{"name": "etcd2", "ip": "10.0.0.12"},
			map[string]any{"name": "etcd3", "ip": "10.0.0.13"},
		},
		"kubernetes": map[string]any{
			"namespace": "db", "clusterDomain": "cluster.local", "statefulSetName": "etcd",
			"image": "gcr.io/etcd-development/etcd:v3.6.16", "storageSize": "1Gi", "storageClass": "fast",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "100m"},
				"limits":   map[string]any{"example.com/gpu": "1"},
			},
			"issuerRef":          map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
			"nodeSelector":       map[string]any{"disk": "ssd"},
			"podAnnotations":     map[string]any{"note": "n"},
			"podLabels":          map[string]any{"team": "db"},
			"priorityClassName":  "etcd-critical",
			"serviceAccountName": "etcd",
			"imagePullSecrets":   []any{"regcred"},
			"volumePermissions":  map[string]any{"image": "busybox:1.37"},
		},
		"extraFlags": map[string]any{"max-request-bytes": "10485760"},
	}
}

// set puts v at path. Two paths are map entries: limits' key holds a dot,
// and "requests[key]" puts v in a key.
func set(s map[string]any, path string, v string) {
	res := s["kubernetes"].(map[string]any)["resources"].(map[string]any)
	switch path {
	case "kubernetes.resources.limits.example.com/gpu":
		res["limits"] = map[string]any{"example.com/gpu": v}
		return
	case "kubernetes.resources.requests[key]":
		res["requests"] = map[string]any{v: "1"}
		return
	}
	var cur any = s
	parts := strings.Split(path, ".")
	for i, p := range parts {
		last := i == len(parts)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				x[p] = v
				return
			}
			cur = x[p]
		case []any:
			j, _ := strconv.Atoi(p)
			if last {
				x[j] = v
				return
			}
			cur = x[j]
		}
	}
}

// consumers runs the real consumers on renders. Where a consumer can read
// many files in one process, it does (a process per file cost far more than
// the reading): bash sources every env file in a subshell of one bash,
// systemd-analyze verifies every unit in one call, and ansible reads every
// inventory through ansible-inventory's own code in one Python process
// (testdata/ansible-inventory-list.py). helm template takes one chart: helm's
// own template code renders every chart in one process (bin/helm-templateall,
// tools/helm/templateall), checked against the real helm on two charts.
type consumers struct {
	t       *testing.T
	helm    string
	helmOut map[string]helmRun    // by chart
	bash    map[string]bashRun    // by env file
	verify  map[string][]string   // by unit: systemd-analyze's messages
	ansible map[string]ansibleRun // by inventory
	runs    map[string]*usage     // by program
}

// usage is what a consumer cost: processes and their CPU time.
type usage struct {
	n   int
	cpu time.Duration
}

func (u *usage) String() string { return fmt.Sprintf("%d runs %.1fs CPU", u.n, u.cpu.Seconds()) }

func (c *consumers) ran(name string, cmd *exec.Cmd) { account(c.runs, name, cmd) }

func account(runs map[string]*usage, name string, cmd *exec.Cmd) {
	u := runs[name]
	if u == nil {
		u = &usage{}
		runs[name] = u
	}
	u.n++
	if ps := cmd.ProcessState; ps != nil {
		u.cpu += ps.UserTime() + ps.SystemTime()
	}
}

type helmRun struct {
	out []byte
	err error
}

type bashRun struct {
	vars map[string]string
	left string // a file a command left in the scratch directory
	err  error
}

type ansibleRun struct {
	List struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	} `json:"list"`
	Error string `json:"error"`
}

// envFiles, units and inventory are the files of one render the consumers
// read.
func envFiles(root string) []string {
	envs, _ := filepath.Glob(filepath.Join(root, "systemd", "*", "etc", "etcd", "*"))
	more, _ := filepath.Glob(filepath.Join(root, "apiserver", "*.env"))
	return append(envs, more...)
}

func unit(root string) string {
	units, _ := filepath.Glob(filepath.Join(root, "systemd", "*", "etc", "systemd", "system", "etcd.service"))
	if len(units) == 0 {
		return ""
	}
	return units[0]
}

func inventory(root string) string {
	if inv := filepath.Join(root, "ansible", "inventory.yaml"); exists(inv) {
		return inv
	}
	return ""
}

// newConsumers runs the batch consumers on every render of roots.
func newConsumers(t *testing.T, helm string, roots []string, runs map[string]*usage) *consumers {
	c := &consumers{t: t, helm: helm, helmOut: map[string]helmRun{}, bash: map[string]bashRun{}, verify: map[string][]string{},
		ansible: map[string]ansibleRun{}, runs: runs}
	var envs, units, invs, charts []string
	for _, root := range roots {
		envs = append(envs, envFiles(root)...)
		if u := unit(root); u != "" {
			units = append(units, u)
		}
		if inv := inventory(root); inv != "" {
			invs = append(invs, inv)
		}
		if chart := filepath.Join(root, "helm"); exists(chart) {
			charts = append(charts, root)
		}
	}
	c.sourceAll(envs)
	c.verifyAll(units)
	c.readInventories(invs)
	c.templateAll(charts)
	return c
}

// chartOf is a render's chart, the k8s target's objects and their
// namespace: the chart installs into the release namespace, which must be
// the spec's (its URLs and certificates name it).
func chartOf(t *testing.T, root string) (chart string, exp map[string]any, ns string) {
	want, err := os.ReadFile(filepath.Join(root, "k8s", "etcd.yaml"))
	must(t, err)
	exp = objects(t, want)
	ns = "default"
	for _, o := range exp {
		if m, ok := o.(map[string]any)["metadata"].(map[string]any); ok {
			if n, ok := m["namespace"].(string); ok {
				ns = n
				break
			}
		}
	}
	return filepath.Join(root, "helm"), exp, ns
}

// templateAll renders the chart of every root as `helm template etcd CHART
// -n NS` would, in one helm-templateall process; the real helm renders the
// first and the last chart too, and the two must print the same bytes.
func (c *consumers) templateAll(roots []string) {
	t := c.t
	if len(roots) == 0 {
		return
	}
	dir := t.TempDir()
	var jobs strings.Builder
	outs, nss := make([]string, len(roots)), make([]string, len(roots))
	for i, root := range roots {
		chart, _, ns := chartOf(t, root)
		outs[i], nss[i] = filepath.Join(dir, fmt.Sprintf("t%d.yaml", i)), ns
		fmt.Fprintf(&jobs, "etcd\t%s\t%s\t%s\n", chart, ns, outs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(c.helm), "helm-templateall"))
	cmd.Stdin = strings.NewReader(jobs.String())
	out, err := cmd.CombinedOutput()
	c.ran("helm-templateall", cmd)
	if err != nil {
		t.Fatalf("helm-templateall on %d charts: %v\n%s", len(roots), err, out)
	}
	for i, root := range roots {
		chart := filepath.Join(root, "helm")
		if b, err := os.ReadFile(outs[i]); err == nil {
			c.helmOut[chart] = helmRun{out: b}
		} else if e, err2 := os.ReadFile(outs[i] + ".err"); err2 == nil {
			c.helmOut[chart] = helmRun{err: errors.New(strings.TrimSpace(string(e)))}
		} else {
			c.helmOut[chart] = helmRun{err: err}
		}
	}
	for _, i := range []int{0, len(roots) - 1} {
		chart, ns := filepath.Join(roots[i], "helm"), nss[i]
		cmd := exec.CommandContext(ctx, c.helm, "template", "etcd", chart, "-n", ns)
		real, err := cmd.Output()
		c.ran("helm template", cmd)
		if got := c.helmOut[chart]; (err == nil) != (got.err == nil) || !bytes.Equal(real, got.out) {
			t.Errorf("control: helm template %s -n %s (%v) and helm-templateall (%v) differ:\n%s\n---\n%s", chart, ns, err, got.err, real, got.out)
		}
	}
}

// read checks one cluster's render with every consumer and returns the
// strings they read; it fails the test where two readers of one file
// disagree.
func (c *consumers) read(root string) map[string]bool {
	t := c.t
	seen := map[string]bool{}
	for _, f := range envFiles(root) {
		for k, v := range c.envBothWays(f) {
			seen[k+"="+v], seen[v] = true, true
		}
	}
	if u := unit(root); u != "" {
		for _, line := range c.verify[u] {
			t.Errorf("systemd-analyze verify %s: %s", u, line)
		}
		for _, line := range strings.Split(string(read(t, u)), "\n") {
			if _, v, ok := strings.Cut(line, "="); ok {
				seen[strings.NewReplacer("%%", "%", "$$", "$").Replace(v)] = true
			}
		}
	}
	kubeadm, _ := filepath.Glob(filepath.Join(root, "kubeadm", "*.yaml"))
	for _, f := range kubeadm {
		var v any
		if err := yaml.Unmarshal(read(t, f), &v); err != nil {
			t.Errorf("YAML decoder on %s: %v", f, err)
		}
		collect(v, seen)
	}
	if inv := inventory(root); inv != "" {
		collect(c.ansibleRead(inv), seen)
	}
	if chart := filepath.Join(root, "helm"); exists(chart) {
		_, exp, ns := chartOf(t, root)
		if r := c.helmOut[chart]; r.err != nil || r.out == nil {
			t.Errorf("helm template %s -n %s: %v", chart, ns, r.err)
		} else {
			got := objects(t, r.out)
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s: helm template objects differ from the k8s target's", chart)
			}
			for _, o := range exp {
				collect(o, seen)
			}
		}
	}
	return seen
}

// shellName is a name bash can give a variable.
var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// sourceAll reads every env file as bash does after `set -a; . file`: one
// bash, started with PATH alone in its environment, sources each file in a
// subshell (a fork: each file sees a fresh copy of that shell and nothing
// of the others) in the file's own scratch directory, so a command that
// ran leaves a file there; printf, a builtin, prints the value bash gives
// each name systemd's reading found (the names envBothWays compares),
// NUL-separated.
func (c *consumers) sourceAll(files []string) {
	t := c.t
	if len(files) == 0 {
		return
	}
	dir := t.TempDir()
	// The jobs come from a file (fd 3, closed for the file sourced), one
	// line each. Given as arguments, with an exec of env -0 per file, they
	// cost 23 CPU-s of a full make test: a subshell of a bash holding
	// thousands of arguments costs three times one of a small bash.
	var jobs strings.Builder
	for i, f := range files {
		scratch := filepath.Join(dir, fmt.Sprintf("s%d", i))
		must(t, os.Mkdir(scratch, 0o755))
		var names []string
		vars, _ := readEnvFile(f) // its error is envBothWays's to report
		for _, v := range vars {
			// Only a shell name can be a variable bash sets.
			if shellName.MatchString(v.Key) {
				names = append(names, v.Key)
			}
		}
		fmt.Fprintf(&jobs, "%s\t%s\t%s\t%s\n", scratch, f, filepath.Join(dir, fmt.Sprintf("env%d", i)), strings.Join(names, " "))
	}
	jobFile := filepath.Join(dir, "jobs")
	must(t, os.WriteFile(jobFile, []byte(jobs.String()), 0o644))
	args := []string{"-c", `
while IFS=$'\t' read -r -u 3 __egd __egf __ego __egn; do
	( exec 3<&-; cd "$__egd" || exit 1; set -a; . "$__egf"; set +a; IFS=' '
	  for __egv in $__egn; do [[ -v $__egv ]] && printf '%s=%s\0' "$__egv" "${!__egv}"; done >"$__ego" )
done 3<"$1"`, "bash", jobFile}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	c.ran("bash", cmd)
	if err != nil {
		t.Fatalf("bash sourcing %d env files: %v\n%s", len(files), err, out)
	}
	for i, f := range files {
		out, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("env%d", i)))
		if err != nil {
			c.bash[f] = bashRun{err: err}
			continue
		}
		r := bashRun{vars: map[string]string{}}
		for _, kv := range strings.Split(string(out), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.vars[k] = v
			}
		}
		if left, _ := os.ReadDir(filepath.Join(dir, fmt.Sprintf("s%d", i))); len(left) > 0 {
			r.left = left[0].Name()
		}
		c.bash[f] = r
	}
}

// envBothWays reads an env file as bash does (sourceAll) and as systemd's
// EnvironmentFile= does, and insists they agree.
func (c *consumers) envBothWays(file string) map[string]string {
	t := c.t
	vars, err := readEnvFile(file)
	if err != nil {
		t.Errorf("systemd's reading of %s: %v", file, err)
		return nil
	}
	r, ok := c.bash[file]
	if !ok || r.err != nil {
		t.Errorf("bash sourcing %s: no output: %v", file, r.err)
		return nil
	}
	if r.left != "" {
		t.Errorf("sourcing %s ran a command: it left %s", file, r.left)
	}
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value
		if r.vars[v.Key] != v.Value {
			t.Errorf("%s: %s is %q to systemd, %q to bash", file, v.Key, v.Value, r.vars[v.Key])
		}
	}
	return got
}

// verifyAll runs one systemd-analyze verify on every unit. The units are
// all etcd.service and verify would load one unit of a name, so each is
// copied to etcd-u<i>.service (the unit names nothing by its own name: no
// specifier, no Alias=); each message names the copy's path or unit name,
// which tells whose it is.
func (c *consumers) verifyAll(units []string) {
	t := c.t
	if len(units) == 0 {
		return
	}
	dir := t.TempDir()
	args := []string{"verify", "--man=no"}
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = fmt.Sprintf("etcd-u%d.service", i)
		copied := filepath.Join(dir, names[i])
		must(t, os.WriteFile(copied, read(t, u), 0o644))
		args = append(args, copied)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-analyze", args...)
	out, _ := cmd.CombinedOutput()
	c.ran("systemd-analyze verify", cmd)
	if ctx.Err() != nil {
		t.Fatalf("systemd-analyze verify on %d units: %v", len(units), ctx.Err())
	}
	name := regexp.MustCompile(`etcd-u([0-9]+)\.service\b`)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The binary and the user exist on a member host, not here.
		if line == "" || strings.Contains(line, "is not executable") || strings.Contains(line, "No such file") {
			continue
		}
		m := name.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("systemd-analyze verify: %s", line)
			continue
		}
		i, _ := strconv.Atoi(m[1])
		u := units[i]
		line = strings.ReplaceAll(line, filepath.Join(dir, names[i]), u)
		c.verify[u] = append(c.verify[u], strings.ReplaceAll(line, names[i], "etcd.service"))
	}
}

// readInventories has ansible read every inventory: one Python process
// runs ansible-inventory --list's own code on each (see
// testdata/ansible-inventory-list.py), under the interpreter
// ansible-inventory runs under. One real `ansible-inventory --list`, on
// the last inventory (the one most exposed to state left by the others),
// checks that the batch reads what the command reads.
func (c *consumers) readInventories(invs []string) {
	t := c.t
	if len(invs) == 0 {
		return
	}
	script, err := filepath.Abs(filepath.Join("testdata", "ansible-inventory-list.py"))
	must(t, err)
	ai, err := exec.LookPath("ansible-inventory")
	must(t, err)
	first, _, _ := strings.Cut(string(read(t, ai)), "\n")
	interp := strings.Fields(strings.TrimPrefix(first, "#!"))
	if !strings.HasPrefix(first, "#!") || len(interp) == 0 {
		t.Fatalf("%s: no #! line: %q", ai, first)
	}
	env := append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(append(interp[1:], script), invs...)
	cmd := exec.CommandContext(ctx, interp[0], args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	c.ran("ansible (one python3)", cmd)
	if err != nil {
		t.Fatalf("%s %s on %d inventories: %v\n%s", interp[0], script, len(invs), err, stderr.Bytes())
	}
	must(t, json.Unmarshal(out, &c.ansible))
	var batch map[string]struct {
		List any `json:"list"`
	}
	must(t, json.Unmarshal(out, &batch))

	inv := invs[len(invs)-1]
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := exec.CommandContext(ctx, "ansible-inventory", "-i", inv, "--list")
	cli.Env = env
	out, err = cli.Output()
	c.ran("ansible-inventory", cli)
	if err != nil {
		t.Fatalf("ansible-inventory -i %s --list: %v", inv, err)
	}
	var want any
	must(t, json.Unmarshal(out, &want))
	if got := batch[inv].List; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the batch read\n%v\nansible-inventory --list read\n%v", inv, got, want)
	}
}

// ansibleRead is the inventory as ansible-inventory reads it; it must be
// what a YAML decoder reads, with no Jinja delimiter in any value.
func (c *consumers) ansibleRead(inv string) any {
	t := c.t
	r, ok := c.ansible[inv]
	if !ok || r.Error != "" {
		t.Errorf("ansible-inventory %s: not read: %q", inv, r.Error)
		return nil
	}
	list := r.List
	data, err := os.ReadFile(inv)
	must(t, err)
	var doc struct {
		All struct {
			Children struct {
				Etcd struct {
					Hosts map[string]map[string]any `json:"hosts"`
					Vars  map[string]any            `json:"vars"`
				} `json:"etcd"`
			} `json:"children"`
		} `json:"all"`
	}
	must(t, yaml.Unmarshal(data, &doc))
	for host, vars := range doc.All.Children.Etcd.Hosts {
		want := map[string]any{}
		for k, v := range doc.All.Children.Etcd.Vars {
			want[k] = v
		}
		for k, v := range vars {
			want[k] = v
		}
		got := list.Meta.Hostvars[host]
		for k, v := range want {
			if !reflect.DeepEqual(jsonRound(got[k]), jsonRound(v)) {
				t.Errorf("%s: host %s var %s is %v to ansible, %v to YAML", inv, host, k, got[k], v)
			}
		}
	}
	for _, open := range []string{"{{", "{%", "{#"} {
		if bytes.Contains(data, []byte(open)) {
			t.Errorf("%s holds %q: Jinja would template it", inv, open)
		}
	}
	return list.Meta.Hostvars
}

func jsonRound(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func collect(v any, seen map[string]bool) {
	switch x := v.(type) {
	case string:
		seen[x] = true
	case map[string]any:
		for k, e := range x {
			seen[k] = true
			collect(e, seen)
		}
	case map[string]map[string]any:
		for k, e := range x {
			seen[k] = true
			collect(e, seen)
		}
	case []any:
		for _, e := range x {
			collect(e, seen)
		}
	}
}

func containsIn(seen map[string]bool, s string) bool {
	for k := range seen {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
