package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Scenario 7: the generated unit passes Debian's `systemd-analyze verify`
// with ExecStart pointed (host.binary) at the built etcd. verify exits 0 on
// unknown keys and bad EnvironmentFile= lines, only warning: any output
// fails the test too.
func TestSystemdVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not installed (make -C e2e deps installs Debian's systemd)")
	}
	for _, tls := range []bool{true, false} {
		name := map[bool]string{true: "tls", false: "plain"}[tls]
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, spec{Members: []string{"etcd1", "etcd2", "etcd3"}, Port: 21700, TLS: tls,
				Extra: "host: binary: \"" + etcdBin + "\"\n"})
			for _, m := range c.members {
				unit := filepath.Join(m.tree, "etc/systemd/system/etcd.service")
				// The unit's EnvironmentFile= names the env file of its tree.
				u := string(read(t, unit))
				var envFile string
				for _, line := range strings.Split(u, "\n") {
					if v, ok := strings.CutPrefix(line, "EnvironmentFile="); ok {
						envFile = strings.TrimPrefix(v, "-")
					}
				}
				if envFile == "" {
					t.Fatalf("%s: no EnvironmentFile= in the unit", unit)
				}
				if _, err := os.Stat(filepath.Join(m.tree, envFile)); err != nil {
					t.Fatalf("%s: EnvironmentFile=%s is not in the member's tree: %v", unit, envFile, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, sa, "verify", "--man=no", unit)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				cancel()
				if err != nil || out.Len() > 0 {
					t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out.String())
				}
			}
		})
	}
}
