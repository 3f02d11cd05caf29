package render

// Bundle names of the certificates the pods share, for clusters without
// cert-manager (the k8s-secrets target): one server and one peer cert carry
// every pod's names, since a StatefulSet mounts the same Secret in each pod.
const (
	KubernetesServer = "kubernetes/server"
	KubernetesPeer   = "kubernetes/peer"
)

// CertDNSNames are the DNS names of the pods' shared server and peer
// certificates: every pod name short to fully qualified, the Services, and
// localhost (etcdctl inside the pod dials https://localhost). With peer cert
// auth etcd resolves these names to check the dialing pod's address, so the
// list must be exhaustive.
func (k *Kubernetes) CertDNSNames() []string {
	var out []string
	for _, p := range k.Pods {
		out = append(out, p.DNSNames...)
	}
	out = append(out, k.ServiceDNSNames()...)
	out = append(out, "localhost")
	return unique(out)
}

// CertIPAddresses are the IP SANs of the pods' server and peer certificates:
// loopback only (as the host certs), since pod IPs are not known in advance.
func (k *Kubernetes) CertIPAddresses() []string {
	return []string{"127.0.0.1", "::1"}
}
