package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The operations outputs judged by the tools that consume them: promtool,
// nft, systemd-sysusers, systemd-tmpfiles and systemd-analyze (issue 16).

// opsSpec turns every operations block on; the rules' unit tests
// (testdata/ops/rules_test.yml) are written for this cluster name and these
// thresholds.
const opsSpec = `name: "ops"
members: [
	{name: "etcd1", ip: "10.0.0.11"},
	{name: "etcd2", ip: "10.0.0.12"},
	{name: "etcd3", ip: "fd00::13"},
]
host: user: "etcd"
walDir: "/var/lib/etcd-wal"
backup: enabled: true
defrag: enabled: true
monitoring: enabled: true
firewall: {enabled: true, clientsFrom: ["10.0.0.0/24", "fd00::/64"], metricsFrom: ["10.0.1.5/32"]}
`

// renderSpec writes spec to dir and renders one target into dir/out.
func renderSpec(t *testing.T, dir, spec, target string) string {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, "etcdgen.cue"), []byte(spec), 0o644))
	out := filepath.Join(dir, "out")
	runTool(t, dir, etcdgenBin, "render", "--target", target, "--out", out, "etcdgen.cue")
	return out
}

// runTool runs a command (bounded) and fails the test with its output when
// it fails.
func runTool(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	out, err := runToolErr(dir, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return out
}

func runToolErr(dir, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (make -C e2e deps installs it)", name)
	}
	return p
}

// promtool checks the scrape config (and the rule file it loads), the
// rules, and runs the rules' unit tests: every alert the rules define has a
// case where it fires and one where it does not.
func TestPrometheusRules(t *testing.T) {
	promtool := lookTool(t, "promtool")
	dir := t.TempDir()
	out := renderSpec(t, dir, opsSpec, "prometheus")
	runTool(t, out, promtool, "check", "config", "etcd-scrape.yml")
	runTool(t, out, promtool, "check", "rules", "etcd-rules.yml")

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	must(t, yaml.Unmarshal(read(t, filepath.Join(out, "etcd-rules.yml")), &rules))
	annotations := map[string]string{}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			a, err := json.Marshal(r.Annotations)
			must(t, err)
			annotations[r.Alert] = string(a)
			alerts = append(alerts, r.Alert)
		}
	}
	// The tests name each alert's expected annotations as @Name@: they are
	// text, not logic; labels and timing are spelt out in the tests.
	tests := string(read(t, "testdata/ops/rules_test.yml"))
	for name, a := range annotations {
		tests = strings.ReplaceAll(tests, "@"+name+"@", a)
	}
	if i := strings.Index(tests, "@Etcd"); i >= 0 {
		t.Fatalf("rules_test.yml names an alert the rules do not have: %.40s", tests[i:])
	}
	must(t, os.WriteFile(filepath.Join(out, "rules_test.yml"), []byte(tests), 0o644))

	// Coverage: each alert fires in some case and stays silent in another.
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	must(t, yaml.Unmarshal([]byte(tests), &suite))
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	slices.Sort(alerts)
	for _, a := range alerts {
		if !fires[a] || !silent[a] {
			t.Errorf("alert %s: firing test %v, not-firing test %v; want both", a, fires[a], silent[a])
		}
	}
	if len(alerts) != 11 {
		t.Errorf("rules define %d alerts %v, want 11", len(alerts), alerts)
	}
	runTool(t, out, promtool, "test", "rules", "rules_test.yml")
}

// nft -c parses each member's fragment against the kernel's nftables
// (check only, nothing is loaded).
func TestNftablesFragments(t *testing.T) {
	nft := lookTool(t, "nft")
	out := renderSpec(t, t.TempDir(), opsSpec, "systemd")
	for _, m := range []string{"etcd1", "etcd2", "etcd3"} {
		f := filepath.Join(out, m, "etc/nftables.d/etcd-ops.nft")
		runTool(t, out, nft, "-c", "-f", f)
	}
	// nft -c does refuse a broken fragment: the check can fail.
	bad := filepath.Join(t.TempDir(), "bad.nft")
	must(t, os.WriteFile(bad, bytes.ReplaceAll(read(t, filepath.Join(out, "etcd1/etc/nftables.d/etcd-ops.nft")), []byte("ipv4_addr"), []byte("ipv5_addr")), 0o644))
	if o, err := runToolErr(out, nft, "-c", "-f", bad); err == nil {
		t.Fatalf("nft -c accepted a broken fragment:\n%s", o)
	}
}

// The service user and its directories: systemd-sysusers creates the user
// in a temporary root, then systemd-tmpfiles --create (this systemd, 252,
// has no --dry-run) makes the directories there with the modes and owner
// etcd needs; the TLS dir's keys become the user's.
func TestServiceUserFragments(t *testing.T) {
	sysusers, tmpfiles := lookTool(t, "systemd-sysusers"), lookTool(t, "systemd-tmpfiles")
	out := renderSpec(t, t.TempDir(), opsSpec, "systemd")
	tree := filepath.Join(out, "etcd1")
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	runTool(t, root, sysusers, "--dry-run", "--root="+root, filepath.Join(tree, "etc/sysusers.d/etcd.conf"))
	runTool(t, root, sysusers, "--root="+root, filepath.Join(tree, "etc/sysusers.d/etcd.conf"))
	passwd := string(read(t, filepath.Join(root, "etc/passwd")))
	var uid int
	for _, l := range strings.Split(passwd, "\n") {
		if f := strings.Split(l, ":"); len(f) == 7 && f[0] == "etcd" {
			if f[5] != "/var/lib/etcd" || f[6] != "/usr/sbin/nologin" {
				t.Errorf("passwd entry %q: want home /var/lib/etcd, shell /usr/sbin/nologin", l)
			}
			fmt.Sscan(f[2], &uid)
		}
	}
	if uid == 0 {
		t.Fatalf("no etcd user in %s:\n%s", filepath.Join(root, "etc/passwd"), passwd)
	}
	// A key placed as root before tmpfiles runs.
	must(t, os.MkdirAll(filepath.Join(root, "etc/etcd/pki"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/etcd/pki/server.key"), nil, 0o600))
	runTool(t, root, tmpfiles, "--create", "--root="+root, filepath.Join(tree, "etc/tmpfiles.d/etcd.conf"))
	for _, c := range []struct {
		path string
		mode os.FileMode
		uid  int
	}{
		{"var/lib/etcd", 0o700 | os.ModeDir, uid},
		{"var/lib/etcd-wal", 0o700 | os.ModeDir, uid},
		{"etc/etcd/pki", 0o700 | os.ModeDir, uid},
		{"etc/etcd/pki/server.key", 0o600, uid},
		{"var/backups/etcd", 0o700 | os.ModeDir, 0},
	} {
		fi, err := os.Stat(filepath.Join(root, c.path))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != c.mode || int(st.Uid) != c.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", c.path, fi.Mode(), st.Uid, c.mode, c.uid)
		}
	}
}

// systemd-analyze verify accepts every snapshot and defrag service and
// timer (calendar expressions included). verify wants ExecStart= to exist,
// so each service is checked with ExecStart= pointing at the script in the
// member's tree; nothing else changes. Any output fails the test.
func TestOpsUnitsVerify(t *testing.T) {
	sa := lookTool(t, "systemd-analyze")
	out := renderSpec(t, t.TempDir(), opsSpec, "systemd")
	for _, m := range []string{"etcd1", "etcd2", "etcd3"} {
		tree := filepath.Join(out, m)
		units := t.TempDir()
		var args []string
		for _, name := range []string{"etcd-snapshot.service", "etcd-snapshot.timer", "etcd-defrag.service", "etcd-defrag.timer"} {
			b := read(t, filepath.Join(tree, "etc/systemd/system", name))
			b = bytes.ReplaceAll(b, []byte("\nExecStart=/"), []byte("\nExecStart="+tree+"/"))
			p := filepath.Join(units, name)
			must(t, os.WriteFile(p, b, 0o644))
			args = append(args, p)
		}
		o, err := runToolErr(units, sa, append([]string{"verify", "--man=no"}, args...)...)
		if err != nil || o != "" {
			t.Errorf("%s: systemd-analyze verify: %v\n%s", m, err, o)
		}
	}
}

// The k8s target's PrometheusRule (monitoring.kubernetes) with cert-manager:
// its certificate-expiry alert, on cert-manager's metric, fires for one of
// the cluster's certificates within tls.renewBefore (720h) of expiry and
// stays silent for a fresh one and for another namespace's certificate.
func TestPrometheusRuleCertExpiry(t *testing.T) {
	promtool := lookTool(t, "promtool")
	dir := t.TempDir()
	out := renderSpec(t, dir, "name: \"ops\"\nkubernetes: namespace: \"etcd\"\nmonitoring: {enabled: true, kubernetes: true}\n", "k8s")
	var spec string
	for _, doc := range strings.Split(string(read(t, filepath.Join(out, "etcd.yaml"))), "\n---\n") {
		if strings.Contains(doc, "\nkind: PrometheusRule\n") {
			spec = doc
		}
	}
	var rule struct {
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	must(t, yaml.Unmarshal([]byte(spec), &rule))
	rules, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	must(t, err)
	if !strings.Contains(string(rules), "EtcdCertManagerCertificateExpiringSoon") {
		t.Fatalf("the PrometheusRule has no certificate-expiry alert:\n%s", rules)
	}
	must(t, os.WriteFile(filepath.Join(out, "rules.yml"), rules, 0o644))
	runTool(t, out, promtool, "check", "rules", "rules.yml")
	var typed struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	must(t, yaml.Unmarshal(rules, &typed))
	var annotations []byte
	for _, r := range typed.Groups[0].Rules {
		if r.Alert == "EtcdCertManagerCertificateExpiringSoon" {
			annotations, err = json.Marshal(r.Annotations)
			must(t, err)
		}
	}
	// At eval time 2h, time() is 7200: 7200+86400 is a day left (fires after
	// its for: 1h), 1e10 is far away.
	const tests = `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'certmanager_certificate_expiration_timestamp_seconds{namespace="etcd",name="ops-server"}'
    values: '93600x180'
  - series: 'certmanager_certificate_expiration_timestamp_seconds{namespace="etcd",name="ops-peer"}'
    values: '10000000000x180'
  - series: 'certmanager_certificate_expiration_timestamp_seconds{namespace="other",name="ops-client"}'
    values: '93600x180'
  alert_rule_test:
  - eval_time: 30m
    alertname: EtcdCertManagerCertificateExpiringSoon
    exp_alerts: []
  - eval_time: 2h
    alertname: EtcdCertManagerCertificateExpiringSoon
    exp_alerts:
    - exp_labels: {severity: warning, namespace: etcd, name: ops-server}
      exp_annotations: @annotations@
`
	must(t, os.WriteFile(filepath.Join(out, "rules_test.yml"), []byte(strings.Replace(tests, "@annotations@", string(annotations), 1)), 0o644))
	runTool(t, out, promtool, "test", "rules", "rules_test.yml")
}
