package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
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
	if _, err := os.Stat(helm); err != nil {
		missing = append(missing, helm)
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

	// One validate over a directory of specs: it reports every spec's
	// problems at once.
	dir := t.TempDir()
	specs := filepath.Join(dir, "specs")
	must(t, os.Mkdir(specs, 0o755))
	for i, c := range cases {
		s := base(fmt.Sprintf("p%d", i))
		set(s, c.field, c.value)
		data, err := json.MarshalIndent(s, "", "  ")
		must(t, err)
		must(t, os.WriteFile(filepath.Join(specs, fmt.Sprintf("s%04d.json", i)), data, 0o644))
	}
	cmd := exec.Command(etcdgenBin, "validate", specs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
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

	// Render the accepted ones, each alone (a refused render must not
	// hide another's), and hand the output to the consumers.
	accepted := 0
	for i, c := range cases {
		file := fmt.Sprintf("s%04d.json", i)
		if refused[file] {
			continue
		}
		accepted++
		out := filepath.Join(dir, "out", file)
		r := exec.Command(etcdgenBin, "render", "--out", out, filepath.Join(specs, file))
		if b, err := r.CombinedOutput(); err != nil {
			t.Errorf("%s=%q: validate accepted it, render failed: %v\n%s", c.field, c.value, err, b)
			continue
		}
		cluster := fmt.Sprintf("p%d", i)
		if c.field == "name" {
			cluster = c.value
		}
		seen := consumersRead(t, helm, filepath.Join(out, cluster))
		if c.value != "" && len(c.value) > 2 && !seen[c.value] && !containsIn(seen, c.value) {
			t.Errorf("%s=%q: accepted, but no consumer read the value literally", c.field, c.value)
		}
	}
	t.Logf("%d values: %d refused with a position, %d accepted and read back by bash, systemd's reader, ansible-inventory and helm", len(cases), len(refused), accepted)
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

// consumersRead runs every consumer on one cluster's render and returns
// the strings they read; it fails the test where two readers of one file
// disagree.
func consumersRead(t *testing.T, helm, root string) map[string]bool {
	seen := map[string]bool{}
	envs, _ := filepath.Glob(filepath.Join(root, "systemd", "*", "etc", "etcd", "*"))
	more, _ := filepath.Glob(filepath.Join(root, "apiserver", "*.env"))
	for _, f := range append(envs, more...) {
		for k, v := range envBothWays(t, f) {
			seen[k+"="+v], seen[v] = true, true
		}
	}
	units, _ := filepath.Glob(filepath.Join(root, "systemd", "*", "etc", "systemd", "system", "etcd.service"))
	if len(units) > 0 {
		verifyUnit(t, units[0])
		for _, line := range strings.Split(string(read(t, units[0])), "\n") {
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
	if inv := filepath.Join(root, "ansible", "inventory.yaml"); exists(inv) {
		collect(ansibleRead(t, inv), seen)
	}
	if chart := filepath.Join(root, "helm"); exists(chart) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		want, err := os.ReadFile(filepath.Join(root, "k8s", "etcd.yaml"))
		must(t, err)
		exp := objects(t, want)
		// The chart installs into the release namespace, which must be the
		// spec's (its URLs and certificates name it).
		ns := "default"
		for _, o := range exp {
			if m, ok := o.(map[string]any)["metadata"].(map[string]any); ok {
				if n, ok := m["namespace"].(string); ok {
					ns = n
					break
				}
			}
		}
		out, err := exec.CommandContext(ctx, helm, "template", "etcd", chart, "-n", ns).Output()
		if err != nil {
			t.Errorf("helm template %s -n %s: %v", chart, ns, err)
		} else {
			got := objects(t, out)
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

// envBothWays reads an env file as bash does after `set -a; . file` (in a
// scratch directory, so a command that ran would leave a file) and as
// systemd's EnvironmentFile= does, and insists they agree.
func envBothWays(t *testing.T, file string) map[string]string {
	vars, err := readEnvFile(file)
	if err != nil {
		t.Errorf("systemd's reading of %s: %v", file, err)
		return nil
	}
	scratch := t.TempDir()
	cmd := exec.Command("bash", "-c", `set -a; . "$1"; set +a; env -0`, "bash", file)
	cmd.Dir = scratch
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("bash sourcing %s: %v", file, err)
		return nil
	}
	bash := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			bash[k] = v
		}
	}
	if left, _ := os.ReadDir(scratch); len(left) > 0 {
		t.Errorf("sourcing %s ran a command: it left %s", file, left[0].Name())
	}
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value
		if bash[v.Key] != v.Value {
			t.Errorf("%s: %s is %q to systemd, %q to bash", file, v.Key, v.Value, bash[v.Key])
		}
	}
	return got
}

func verifyUnit(t *testing.T, unit string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The binary and the user exist on a member host, not here.
		if line == "" || strings.Contains(line, "is not executable") || strings.Contains(line, "No such file") {
			continue
		}
		t.Errorf("systemd-analyze verify %s: %s", unit, line)
	}
}

// ansibleRead is the inventory as ansible-inventory reads it; it must be
// what a YAML decoder reads, with no Jinja delimiter in any value.
func ansibleRead(t *testing.T, inv string) any {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ansible-inventory", "-i", inv, "--list")
	cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("ansible-inventory %s: %v", inv, err)
		return nil
	}
	var list struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	}
	must(t, json.Unmarshal(out, &list))
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
