package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// realAPIServerReady starts the real kube-apiserver (kubenode, built by
// `make test` as the one-node Kubernetes is) with the apiserver target's
// --etcd-* flags and the least else it needs to start, on a loopback
// address of this run, waits (bounded) until its /readyz answers 200 and
// returns /readyz?verbose. The process is stopped by its PID before
// returning. kube-apiserver runs its storage health and readiness checks
// (readyz: etcd, etcd-readiness) and writes its bootstrap objects as the
// etcd user the flags name.
func realAPIServerReady(t *testing.T, port int, pki string, etcdFlags []string) (string, error) {
	t.Helper()
	bin := kubenodeBin()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (make -C e2e node builds it)", bin, err)
	}
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	must(t, err)
	saKey, saPub := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	must(t, os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	must(t, os.WriteFile(saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))

	addr := fmt.Sprintf("127.0.%d.8", loopNet)
	args := append([]string{"kube-apiserver",
		"--bind-address=" + addr, "--advertise-address=" + addr, fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(dir, "serving"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/24", "--authorization-mode=AlwaysAllow",
		// A loopback address is refused by the endpoint reconciler (it
		// publishes the kubernetes Service's endpoints): none here.
		"--endpoint-reconciler-type=none",
		// The test reads /readyz as the bundle's admin client.
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--enable-priority-and-fairness=false", "--profiling=false", "--v=1"}, etcdFlags...)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	must(t, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	admin, err := tls.LoadX509KeyPair(filepath.Join(pki, "clients/admin.crt"), filepath.Join(pki, "clients/admin.key"))
	must(t, err)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		// Its serving cert is self-signed (--cert-dir): the test reads
		// /readyz, it does not trust the server.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{admin}}}}
	url := fmt.Sprintf("https://%s:%d/readyz?verbose", addr, port)
	// Bounded, and generous: alone it is ready in seconds, but on a 2-core
	// CI machine with the whole suite beside it a TLS handshake alone
	// timed out for minutes.
	const readyWithin = 4 * time.Minute
	deadline := time.Now().Add(readyWithin)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return "", fmt.Errorf("kube-apiserver exited: %v\n%s", err, logTail(filepath.Join(dir, "kube-apiserver.log")))
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body), nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", fmt.Errorf("kube-apiserver not ready after %v: %s\n%s", readyWithin, last, logTail(filepath.Join(dir, "kube-apiserver.log")))
}

// logTail is the end of a log file, for a failure message.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	return lastLines(string(b), 20)
}
