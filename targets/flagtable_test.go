package targets_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render/etcdflags"
	"github.com/etcdgen/etcdgen/render/rendertest"
	"github.com/etcdgen/etcdgen/targets/k8s"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// TestFlagsInTable: every ETCD_* variable of the env file and every flag
// of the pod's arguments is one the spec's etcd minor accepts without a
// warning, with every knob set, on every minor of the table. etcd only
// logs an unknown ETCD_* variable and runs without it.
func TestFlagsInTable(t *testing.T) {
	for _, v := range etcdflags.Tested() {
		t.Run(v, func(t *testing.T) {
			m := rendertest.Model(t, fmt.Sprintf(`
name: "c"
version: %q
members: [{name: "e1", ip: "10.0.0.1"}, {name: "e2", ip: "10.0.0.2"}, {name: "e3", ip: "10.0.0.3"}]
walDir: "/var/lib/etcd-wal"
ports: metrics: 2381
kubernetes: {}
tuning: {quotaBackendBytes: 4294967296, initialCorruptCheck: true, watchProgressNotifyInterval: "5s", autoCompaction: retention: "1h"}
`, v))
			table := m.Flags()
			check := func(where, name string) {
				if !table.Has(name) {
					t.Errorf("%s: etcd %s has no flag --%s (status %d)", where, table.Minor, name, table.Status(name))
				}
			}
			env, err := systemd.EnvFileFor(m, &m.Members[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(env), "\n") {
				key, _, ok := strings.Cut(line, "=")
				if !ok || strings.HasPrefix(line, "#") {
					continue
				}
				check("env file "+key, strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(key, "ETCD_")), "_", "-"))
			}
			for _, arg := range k8s.Args(m) {
				name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
				check("pod argument "+arg, name)
			}
		})
	}
}
