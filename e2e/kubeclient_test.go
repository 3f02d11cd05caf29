package e2e

// The k8s tests' own reads of the node (polls, pod logs, etcdctl in a pod,
// evictions) go through client-go in the test process. Each of them used
// to be a kubectl process of the node's multi-call binary (270 MB, every
// Kubernetes component's init): process accounting of a full `make test`
// counted 231 such runs from the test and 102 CPU-s for them, most in
// polls. What a user types stays the real kubectl and helm (kubectl apply
// of the k8s target's file, helm install), and plan.sh runs the real
// kubectl.
//
// The apiserver listens in the node's network namespace: a forwarder on
// this machine's loopback dials each connection from a thread moved into
// that namespace (setns(2)), so every client-go transport (REST, the
// WebSocket of exec) works unchanged.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// kubeTimeout bounds each call, as n.kubectl bounds a kubectl process.
const kubeTimeout = time.Minute

// kubeClient is the admin's client of the node's apiserver.
type kubeClient struct {
	cfg    *rest.Config
	core   corev1client.CoreV1Interface
	apps   appsv1client.AppsV1Interface
	policy policyv1client.PolicyV1Interface
}

// startKubeClient starts the loopback forwarder to the apiserver and makes
// the client; the forwarder stops with the node (n.stop closes it).
func (n *node) startKubeClient() {
	n.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(n.t, err)
	n.apiForward = l
	ns := fmt.Sprintf("/proc/%d/ns/net", n.holder.Process.Pid)
	go forward(l, func() (net.Conn, error) { return dialInNetns(ns, net.JoinHostPort(nodeIP, "6443")) })
	cfg := &rest.Config{
		Host: "https://" + l.Addr().String(),
		TLSClientConfig: rest.TLSClientConfig{
			// The apiserver's cert names the node's IP, not the forwarder's.
			ServerName: nodeIP,
			CAFile:     n.pki("ca.crt"), CertFile: n.pki("admin.crt"), KeyFile: n.pki("admin.key"),
		},
		QPS: 100, Burst: 200, Timeout: kubeTimeout,
	}
	kc := &kubeClient{cfg: cfg}
	kc.core, err = corev1client.NewForConfig(cfg)
	must(n.t, err)
	kc.apps, err = appsv1client.NewForConfig(cfg)
	must(n.t, err)
	kc.policy, err = policyv1client.NewForConfig(cfg)
	must(n.t, err)
	n.kc = kc
}

// forward copies each connection accepted on l to one dial makes, both
// ways, until either side ends; it returns when l is closed.
func forward(l net.Listener, dial func() (net.Conn, error)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := dial()
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(u, c); done <- struct{}{} }()
			go func() { io.Copy(c, u); done <- struct{}{} }()
			<-done
		}()
	}
}

// dialInNetns dials addr (an IP literal: no resolver goroutine) from a
// thread in the network namespace at nsPath. The socket keeps the namespace
// it was made in. The thread stays locked and so ends with its goroutine:
// it never runs other goroutines in the wrong namespace
// (runtime.LockOSThread).
func dialInNetns(nsPath, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(nsPath)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func kubeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), kubeTimeout)
}

// apiReady: the apiserver's /readyz answers 200.
func (kc *kubeClient) apiReady() error {
	ctx, cancel := kubeCtx()
	defer cancel()
	_, err := kc.core.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// nodeReady: the node's Ready condition.
func (kc *kubeClient) nodeReady(name string) (string, error) {
	ctx, cancel := kubeCtx()
	defer cancel()
	nd, err := kc.core.Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, c := range nd.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return string(c.Status), nil
		}
	}
	return "", nil
}

// pod is the pod, or nil when it does not exist.
func (kc *kubeClient) pod(ns, name string) (*corev1.Pod, error) {
	ctx, cancel := kubeCtx()
	defer cancel()
	p, err := kc.core.Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return p, err
}

// podsTable is what `kubectl get pods -o wide` tells of each pod: for
// error messages.
func (kc *kubeClient) podsTable(ns string) string {
	ctx, cancel := kubeCtx()
	defer cancel()
	l, err := kc.core.Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range l.Items {
		ready, restarts := 0, int32(0)
		for _, s := range p.Status.ContainerStatuses {
			if s.Ready {
				ready++
			}
			restarts += s.RestartCount
		}
		reason := string(p.Status.Phase)
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
				reason = s.State.Waiting.Reason
			}
		}
		fmt.Fprintf(&b, "%s %d/%d %s restarts=%d ip=%s\n", p.Name, ready, len(p.Spec.Containers), reason, restarts, p.Status.PodIP)
	}
	return b.String()
}

// logs is a container's log (of its previous run with previous).
func (kc *kubeClient) logs(ns, pod, container string, previous bool) (string, error) {
	ctx, cancel := kubeCtx()
	defer cancel()
	b, err := kc.core.Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
	return string(b), err
}

// exec runs argv in a container of a pod, as `kubectl exec` does (a
// WebSocket, kubectl's default transport), and returns its stdout; a
// non-zero exit is an error carrying its stderr.
func (kc *kubeClient) exec(ns, pod, container string, argv ...string) (string, error) {
	ctx, cancel := kubeCtx()
	defer cancel()
	req := kc.core.RESTClient().Post().Namespace(ns).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewWebSocketExecutor(kc.cfg, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	var out, errb bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}); err != nil {
		return out.String(), fmt.Errorf("exec %s/%s %s: %v: %s", ns, pod, strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// evict asks the Eviction API to evict a pod.
func (kc *kubeClient) evict(ns, pod string) error {
	ctx, cancel := kubeCtx()
	defer cancel()
	return kc.core.Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}})
}

// certificatesReady lists cert-manager's Certificates of a namespace as
// name=<Ready status> (a CRD: read as JSON, no cert-manager types here).
func (kc *kubeClient) certificatesReady(ns string) ([]string, error) {
	ctx, cancel := kubeCtx()
	defer cancel()
	b, err := kc.core.RESTClient().Get().AbsPath("/apis/cert-manager.io/v1/namespaces", ns, "certificates").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var l struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range l.Items {
		st := ""
		for _, cond := range c.Status.Conditions {
			if cond.Type == "Ready" {
				st = cond.Status
			}
		}
		out = append(out, c.Metadata.Name+"="+st)
	}
	return out, nil
}
