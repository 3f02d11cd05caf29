package plan

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/k8s"
)

// Kinds of the Kubernetes plan (a spec without host members: the k8s
// target's StatefulSet, kubernetes.replicas pods).
const (
	// ScaleUp adds the pod of the next ordinal: member add --learner
	// through a running pod, apply the step's manifest (one replica more),
	// member promote once the learner has caught up.
	ScaleUp Kind = "scale-up"
	// ScaleDown removes the pod of the highest ordinal: leadership away if
	// it leads, member remove by ID, apply the step's manifest (one
	// replica less), wait until the pod is gone, delete its claims.
	ScaleDown Kind = "scale-down"
	// Create applies the manifest of a new StatefulSet and waits until
	// every pod is a healthy member (the Kubernetes Bootstrap).
	Create Kind = "create"
)

// Files of a Kubernetes step, under steps/NN-<what>/.
const (
	// KubeManifest is the k8s target's etcd.yaml at the step's replicas.
	KubeManifest = k8s.File
	// KubeCertificates are the cert-manager objects of KubeManifest
	// alone: plan.sh applies them first and waits until they are issued,
	// so that the new pod mounts a certificate naming it.
	KubeCertificates = "certificates.yaml"
)

// isKube says whether p is a Kubernetes plan.
func isKube(p *Plan) bool { return len(p.New.Members) == 0 }

// kubeNew plans a new StatefulSet: apply the k8s target's manifest, wait
// until every pod is a healthy member.
func kubeNew(m *render.Model) (*Plan, error) {
	k := &m.Kubernetes
	files, err := kubeManifest(m, k.Replicas, 0, m.Spec.InitialClusterState, false)
	if err != nil {
		return nil, err
	}
	p := &Plan{New: m}
	p.Steps = append(p.Steps, Step{Kind: Create, Version: m.Version.String(), Voters: podNames(k, k.Replicas),
		Why: fmt.Sprintf("A new cluster: apply the k8s target's manifest (StatefulSet %s, %d pods started in parallel, initial cluster state %q) in namespace %s and wait until every pod answers as a healthy member. Skipped when every pod already does.",
			k.StatefulSet, k.Replicas, m.Spec.InitialClusterState, k.Namespace),
		Files: files})
	number(p)
	return p, nil
}

// kubeDiff plans kubernetes.replicas N -> M, one pod at a time. What a
// running StatefulSet cannot change in place is refused.
func kubeDiff(old, new *render.Model) (*Plan, error) {
	var why []string
	refuse := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	switch {
	case len(old.Members) > 0 && len(new.Members) == 0:
		refuse("members: the old spec runs on hosts and the new one on Kubernetes only; etcdgen does not move a cluster between them in place: build the new cluster and restore a snapshot into it")
	case len(old.Members) == 0 && len(new.Members) > 0:
		refuse("members: the old spec runs on Kubernetes only and the new one on hosts; etcdgen does not move a cluster between them in place: build the new cluster and restore a snapshot into it")
	}
	if len(why) > 0 {
		return nil, &Refused{why}
	}
	ok, nk := &old.Kubernetes, &new.Kubernetes
	if old.Name != new.Name {
		refuse("name: the cluster name changes from %q to %q; a running cluster keeps its name (it names the token, the certificates and the Kubernetes objects): render a new cluster and move the data with a snapshot restore", old.Name, new.Name)
	}
	if old.Token != new.Token {
		refuse("token: the cluster token changes from %q to %q; etcd reads it only when a cluster is born: keep %q, or restore a snapshot into a new cluster", old.Token, new.Token, old.Token)
	}
	if ok.Namespace != nk.Namespace {
		refuse("kubernetes.namespace: the namespace changes from %q to %q; a StatefulSet and its volumes cannot move: keep %q, or build the cluster in the new namespace and restore a snapshot into it", ok.Namespace, nk.Namespace, ok.Namespace)
	}
	if ok.StatefulSet != nk.StatefulSet {
		refuse("kubernetes.statefulSetName: the StatefulSet changes from %q to %q; it names every pod, member and peer URL: keep %q", ok.StatefulSet, nk.StatefulSet, ok.StatefulSet)
	}
	if old.TLS.Enabled != new.TLS.Enabled {
		refuse("tls.enabled: switching TLS %s in place changes every peer and client URL at once (etcd's peer URLs cannot change scheme member by member without losing quorum); build a new cluster and restore a snapshot into it", onOff(new.TLS.Enabled))
	} else if new.TLS.Enabled && ok.CertManager != nk.CertManager {
		refuse("kubernetes.certManager: switching who issues the pods' certificates (%t to %t) replaces the TLS Secrets under running members; change it in its own maintenance, not in a plan", ok.CertManager, nk.CertManager)
	}
	// The API server refuses any change of a StatefulSet's
	// volumeClaimTemplates ("updates to statefulset spec for fields other
	// than 'replicas', 'ordinals', 'template', 'updateStrategy', ... are
	// forbidden"): every step's apply would fail.
	var claims []string
	if ok.StorageSize != nk.StorageSize {
		claims = append(claims, fmt.Sprintf("storageSize %s to %s", ok.StorageSize, nk.StorageSize))
	}
	if ok.StorageClass != nk.StorageClass {
		claims = append(claims, fmt.Sprintf("storageClass %q to %q", ok.StorageClass, nk.StorageClass))
	}
	if (ok.WALMount == "") != (nk.WALMount == "") {
		claims = append(claims, fmt.Sprintf("a WAL volume of its own %t to %t", ok.WALMount != "", nk.WALMount != ""))
	}
	if len(claims) > 0 {
		refuse("kubernetes: the volume claim templates change (%s); the API server refuses any change of a StatefulSet's volumeClaimTemplates: keep them (resize the claims themselves if their storage class allows it)", strings.Join(claims, ", "))
	}
	if ok.PeerPort != nk.PeerPort || ok.ClientPort != nk.ClientPort {
		refuse("ports: the peer or client port changes (%d/%d to %d/%d); every member's URLs would change at once: keep the ports", ok.PeerPort, ok.ClientPort, nk.PeerPort, nk.ClientPort)
	}
	if old.Version != new.Version {
		switch msg := versionGate(old.Version, new.Version); {
		case msg != "":
			refuse("version: %s", msg)
		case ok.Replicas != nk.Replicas:
			refuse("version: the etcd version (%s to %s) and kubernetes.replicas change together; change the replicas first, then the version, in two changes", old.Version, new.Version)
		default:
			refuse("version: %s to %s: a Kubernetes plan changes kubernetes.replicas only; for the version, take a snapshot and apply `etcdgen render --target k8s` (the StatefulSet's RollingUpdate restarts one pod at a time, waiting until it is ready)", old.Version, new.Version)
		}
	}
	if len(why) > 0 {
		return nil, &Refused{why}
	}

	p := &Plan{Old: old, New: new}
	n := ok.Replicas
	for n < nk.Replicas {
		pod := nk.Pods[n]
		files, err := kubeManifest(new, n+1, n, "existing", true)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, Step{Kind: ScaleUp, Member: pod.Name, PeerURL: pod.PeerURL, ClientURL: pod.ClientURL,
			Version: new.Version.String(), Keep: podNames(nk, n), Voters: podNames(nk, n+1),
			Why: fmt.Sprintf("%s joins as a learner (it votes only once it has caught up, so the quorum does not grow while it copies the data), then is promoted: %d voting members. "+
				"The step's manifest has %d replicas, --initial-cluster of exactly this membership with --initial-cluster-state existing, and rollingUpdate.partition %d: "+
				"only the new pod gets that template, the %d running pods are not restarted.", pod.Name, n+1, n+1, n, n),
			Files: files})
		n++
	}
	for n > nk.Replicas {
		pod := ok.Pods[n-1]
		files, err := kubeManifest(new, n-1, n-1, "existing", false)
		if err != nil {
			return nil, err
		}
		keep := podNames(nk, n-1)
		p.Steps = append(p.Steps, Step{Kind: ScaleDown, Member: pod.Name, PeerURL: pod.PeerURL, ClientURL: pod.ClientURL,
			Version: old.Version.String(), Keep: keep, Need: quorum(n - 1), Others: keep, Voters: keep,
			Why: fmt.Sprintf("%s leaves (a StatefulSet scales down from its highest ordinal): if it leads, leadership moves first to a pod that stays (move-leader), then it is removed by ID through a pod that stays, the manifest with %d replicas is applied (partition %d: no running pod restarts), and once the pod is gone its volume claims are deleted. "+
				"They hold the data of a removed member: a pod re-created on them later (a scale-up) would start as that member and fail to join, and the StatefulSet keeps them (whenScaled: Retain). "+
				"%d voting members.", pod.Name, n-1, n-1, n-1),
			Files: files})
		n--
	}
	number(p)
	return p, nil
}

func podNames(k *render.Kubernetes, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", k.StatefulSet, i))
	}
	return out
}

// kubeManifest renders the k8s target for m at replicas pods, with the
// initial cluster state state and rollingUpdate partition partition.
// With certs and cert-manager, the certificates are also in a file of
// their own (a scale-up applies them before the pod exists).
func kubeManifest(m *render.Model, replicas, partition int, state string, certs bool) ([]render.File, error) {
	spec := *m.Spec
	ks := render.DefaultKubernetes()
	if spec.Kubernetes != nil {
		ks = *spec.Kubernetes
	}
	ks.Replicas = replicas
	spec.Kubernetes = &ks
	spec.InitialClusterState = state
	mm, err := render.Resolve(&spec)
	if err != nil {
		return nil, err
	}
	mm.Bundle = m.Bundle
	mm.Kubernetes.Partition = partition
	files, err := k8s.Render(mm)
	if err != nil {
		return nil, err
	}
	if !certs || !mm.TLS.Enabled || !mm.Kubernetes.CertManager {
		return files, nil
	}
	docs, err := k8s.Documents(mm)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The cert-manager objects of %s alone: plan.sh applies them first and\n# waits until they are issued, so that a new pod mounts a certificate naming it.\n", KubeManifest)
	for _, d := range docs {
		if d.Kind == "Issuer" || d.Kind == "Certificate" {
			b.WriteString("---\n")
			b.Write(d.YAML)
		}
	}
	return append(files, render.File{Path: KubeCertificates, Mode: 0o644, Data: b.Bytes()}), nil
}
