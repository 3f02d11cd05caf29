package e2e

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/klog/v2"
)

// apiserverSpec points the apiserver target's cert paths at the test bundle
// (on a control-plane host they are kubeadm's /etc/kubernetes/pki/...).
func apiserverSpec(dir string) string {
	pki := filepath.Join(dir, "pki")
	return fmt.Sprintf("apiserver: {caFile: %q, certFile: %q, keyFile: %q}\n",
		filepath.Join(pki, "ca.crt"),
		filepath.Join(pki, "clients/apiserver-etcd-client.crt"),
		filepath.Join(pki, "clients/apiserver-etcd-client.key"))
}

// Scenario 6: the flags of `etcdgen render --target apiserver`, parsed by
// kube-apiserver's own EtcdOptions flag set, reach the live TLS cluster
// through the apiserver's etcd health and readiness checks.
func TestAPIServerFlags(t *testing.T) {
	dir := t.TempDir()
	c := newClusterIn(t, dir, spec{Members: []string{"etcd1", "etcd2", "etcd3"}, Port: 21600, TLS: true, Extra: apiserverSpec(dir)})
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	eo := apiserverOptions(t, c)
	if got := strings.Join(eo.StorageConfig.Transport.ServerList, ","); got != strings.Join(c.endpoints(), ",") {
		t.Fatalf("--etcd-servers parsed as %s, want %s", got, strings.Join(c.endpoints(), ","))
	}
	if eo.StorageConfig.Transport.CertFile == "" || eo.StorageConfig.Transport.KeyFile == "" || eo.StorageConfig.Transport.TrustedCAFile == "" {
		t.Fatalf("TLS flags missing: %+v", eo.StorageConfig.Transport)
	}
	start := time.Now()
	apiserverHealthy(t, eo.StorageConfig)
	t.Logf("etcd health and readiness checks passed after %v", time.Since(start).Round(time.Millisecond))

	// Control: the same check with a client cert the cluster's CA did not
	// sign stays unhealthy. (gRPC logs each refused handshake through klog:
	// silence it.)
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	foreign := filepath.Join(c.dir, "foreign-pki")
	c.etcdgen("certs", "--out", foreign, "etcdgen.cue")
	bad := eo.StorageConfig
	bad.Transport.CertFile = filepath.Join(foreign, "clients/apiserver-etcd-client.crt")
	bad.Transport.KeyFile = filepath.Join(foreign, "clients/apiserver-etcd-client.key")
	// (This takes ~20s: the apiserver's check holds its lock while its etcd
	// client dials, and that dial gives up only after its 20s timeout.)
	bad.HealthcheckTimeout, bad.ReadycheckTimeout = time.Second, time.Second
	start = time.Now()
	if err := healthCheck(t, bad, 3*time.Second); err == nil {
		t.Fatal("etcd health check passed with a client cert from another CA")
	} else {
		t.Logf("foreign client cert: unhealthy for %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
}

// apiserverOptions renders the apiserver target and parses it with the real
// kube-apiserver flag set.
// apiserverFlags are the flags `etcdgen render --target apiserver` writes,
// one a line, comments left out.
func apiserverFlags(c *cluster) []string {
	out := c.etcdgen("render", "--target", "apiserver", "etcdgen.cue")
	var args []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args = append(args, line)
	}
	return args
}

func apiserverOptions(t *testing.T, c *cluster) *options.EtcdOptions {
	t.Helper()
	args := apiserverFlags(c)
	t.Logf("apiserver flags: %q", args)
	eo := options.NewEtcdOptions(storagebackend.NewDefaultConfig("/registry", nil))
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	eo.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("kube-apiserver flag parsing: %v", err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("not flags: %q", fs.Args())
	}
	if errs := eo.Validate(); len(errs) != 0 {
		t.Fatalf("EtcdOptions.Validate: %v", errs)
	}
	return eo
}

// apiserverHealthy waits (bounded) for the apiserver's etcd health check
// and readiness check to pass.
func apiserverHealthy(t *testing.T, cfg storagebackend.Config) {
	t.Helper()
	if err := healthCheck(t, cfg, 20*time.Second); err != nil {
		t.Fatalf("kube-apiserver etcd health check: %v", err)
	}
}

func healthCheck(t *testing.T, cfg storagebackend.Config, d time.Duration) error {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	health, err := factory.CreateHealthCheck(cfg, stop)
	if err != nil {
		t.Fatalf("CreateHealthCheck: %v", err)
	}
	ready, err := factory.CreateReadyCheck(cfg, stop)
	if err != nil {
		t.Fatalf("CreateReadyCheck: %v", err)
	}
	deadline := time.Now().Add(d)
	for {
		err := errors.Join(health(), ready())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
}
