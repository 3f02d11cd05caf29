package k8s

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/etcdgen/etcdgen/render"
)

func intOrString(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }

// invariants checks decoded documents against the model, from the
// documents' side: what a cluster would do with them, not how Render built
// them.
func invariants(m *render.Model, d *docs) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	k := &m.Kubernetes

	if len(d.statefulSets) != 1 || len(d.pdbs) != 1 || len(d.services) != 2 {
		fail("want 1 StatefulSet, 1 PodDisruptionBudget, 2 Services; got %d, %d, %d", len(d.statefulSets), len(d.pdbs), len(d.services))
		return errs
	}
	sts := d.statefulSets[0]
	pod := sts.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		fail("want one container, got %d", len(pod.Spec.Containers))
		return errs
	}
	c := pod.Spec.Containers[0]

	// Replicas, names and selectors.
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != k.Replicas {
		fail("StatefulSet replicas: got %v, want %d", sts.Spec.Replicas, k.Replicas)
	}
	if sts.Spec.PodManagementPolicy != "Parallel" {
		fail("podManagementPolicy %q, want Parallel", sts.Spec.PodManagementPolicy)
	}
	if !selects(sts.Spec.Selector.MatchLabels, pod.Labels) {
		fail("StatefulSet selector %v does not select its pods %v", sts.Spec.Selector.MatchLabels, pod.Labels)
	}
	var headless *corev1.Service
	for _, s := range d.services {
		if !selects(s.Spec.Selector, pod.Labels) {
			fail("Service %s selector %v does not select the pods", s.Name, s.Spec.Selector)
		}
		if s.Name == sts.Spec.ServiceName {
			headless = s
		}
	}
	if headless == nil || headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		fail("no headless Service %s publishing not-ready pods", sts.Spec.ServiceName)
	}
	for _, o := range []string{sts.Namespace, d.pdbs[0].Namespace, d.services[0].Namespace, d.services[1].Namespace} {
		if o != k.Namespace {
			fail("object in namespace %q, want %q", o, k.Namespace)
		}
	}

	// Quorum: the budget never lets a majority go.
	pdb := d.pdbs[0]
	if !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) {
		fail("PodDisruptionBudget does not select the pods")
	}
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.Type != intstr.Int || k.Replicas-mu.IntValue() <= k.Replicas/2 {
		fail("PodDisruptionBudget maxUnavailable %v breaks the quorum of %d", mu, k.Replicas)
	} else if k.Replicas >= 3 && mu.IntValue() < 1 {
		fail("PodDisruptionBudget maxUnavailable %v blocks every drain of %d members", mu, k.Replicas)
	}

	// Flags: --initial-cluster names every pod at the URL it advertises.
	flags := map[string]string{}
	for _, a := range c.Args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if _, dup := flags[name]; dup {
			fail("flag --%s given twice", name)
		}
		flags[name] = value
	}
	entries := strings.Split(flags["initial-cluster"], ",")
	if len(entries) != k.Replicas {
		fail("--initial-cluster has %d entries, want %d (replicas)", len(entries), k.Replicas)
	}
	headlessName := sts.Spec.ServiceName
	for i, e := range entries {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		want := pod + "=" + render.URL(m.Scheme, pod+"."+headlessName, k.PeerPort)
		if e != want {
			fail("--initial-cluster entry %d is %q, want %q", i, e, want)
		}
		adv := strings.ReplaceAll(flags["initial-advertise-peer-urls"], "$(POD_NAME)", pod)
		if pod+"="+adv != e {
			fail("pod %s advertises %s, --initial-cluster says %s", pod, adv, e)
		}
	}
	if flags["name"] != "$(POD_NAME)" || !hasFieldEnv(c, "POD_NAME", "metadata.name") {
		fail("--name is not the pod name from the downward API")
	}
	if flags["listen-metrics-urls"] != fmt.Sprintf("http://0.0.0.0:%d", k.MetricsPort) {
		fail("metrics not on plain HTTP port %d: %q", k.MetricsPort, flags["listen-metrics-urls"])
	}
	for i, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		switch {
		case p == nil:
			fail("probe %d missing", i)
		case p.HTTPGet != nil && p.HTTPGet.Scheme == corev1.URISchemeHTTP && p.HTTPGet.Port.String() == portMetrics:
		case i > 0 && p.TCPSocket != nil && p.TCPSocket.Port.String() == portMetrics:
		default:
			fail("probe %+v is not on the metrics port over plain HTTP", p)
		}
	}
	if m.Version.AtLeast(3, 6) {
		for name := range flags {
			if strings.HasPrefix(name, "experimental-") {
				fail("etcd %s has no --%s", m.Version, name)
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if want := render.URL(m.Scheme, "localhost", k.ClientPort); env["ETCDCTL_ENDPOINTS"] != want {
		fail("ETCDCTL_ENDPOINTS %q, want %q", env["ETCDCTL_ENDPOINTS"], want)
	}

	if !m.TLS.Enabled {
		if len(d.certs)+len(d.issuers) != 0 || len(pod.Spec.Volumes) != 0 {
			fail("TLS off, yet %d Certificates, %d Issuers, %d volumes", len(d.certs), len(d.issuers), len(pod.Spec.Volumes))
		}
		for name, v := range flags {
			if strings.Contains(v, "https://") || strings.Contains(name, "cert") {
				fail("TLS off, yet --%s=%s", name, v)
			}
		}
		return errs
	}

	// TLS: every file etcd and etcdctl read is in a mounted Secret that a
	// Certificate writes, and those Secrets are all that is mounted.
	written := map[string]*Certificate{}
	for _, cert := range d.certs {
		if !cert.Spec.IsCA {
			written[cert.Spec.SecretName] = cert
		}
	}
	mounted := map[string]string{} // mount dir -> secret
	for _, v := range pod.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == v.Name {
				mounted[vm.MountPath] = v.Secret.SecretName
			}
		}
		if written[v.Secret.SecretName] == nil {
			fail("mounted Secret %s is written by no Certificate", v.Secret.SecretName)
		}
	}
	if got, want := slices.Sorted(maps.Values(mounted)), slices.Sorted(maps.Keys(written)); !slices.Equal(got, want) {
		fail("mounted Secrets %v, Certificates write %v", got, want)
	}
	secretOf := func(what, file string) *Certificate {
		s, ok := mounted[path.Dir(file)]
		if !ok || !slices.Contains([]string{"tls.crt", "tls.key", "ca.crt"}, path.Base(file)) {
			fail("%s %q is not a file of a mounted Secret", what, file)
			return nil
		}
		return written[s]
	}
	server := secretOf("--cert-file", flags["cert-file"])
	for _, f := range []string{"key-file", "trusted-ca-file"} {
		if secretOf("--"+f, flags[f]) != server {
			fail("--%s and --cert-file come from different Secrets", f)
		}
	}
	peer := secretOf("--peer-cert-file", flags["peer-cert-file"])
	for _, f := range []string{"peer-key-file", "peer-trusted-ca-file"} {
		if secretOf("--"+f, flags[f]) != peer {
			fail("--%s and --peer-cert-file come from different Secrets", f)
		}
	}
	var client *Certificate
	for _, e := range []string{"ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_CACERT"} {
		if env[e] == "" {
			fail("%s is not set", e)
			continue
		}
		if c := secretOf(e, env[e]); client == nil {
			client = c
		} else if c != client {
			fail("%s comes from another Secret than ETCDCTL_CERT", e)
		}
	}
	if flags["client-cert-auth"] != fmt.Sprint(m.TLS.ClientCertAuth) || flags["peer-client-cert-auth"] != fmt.Sprint(m.TLS.PeerCertAuth) {
		fail("cert auth flags %q, %q do not follow the spec", flags["client-cert-auth"], flags["peer-client-cert-auth"])
	}

	// Names and usages.
	for _, cert := range []*Certificate{server, peer} {
		if cert == nil {
			continue
		}
		for _, p := range k.Pods {
			for _, name := range p.DNSNames {
				if !slices.Contains(cert.Spec.DNSNames, name) {
					fail("Certificate %s lacks pod name %s", cert.Name, name)
				}
			}
		}
		if !slices.Contains(cert.Spec.IPAddresses, "127.0.0.1") || !slices.Contains(cert.Spec.DNSNames, "localhost") {
			fail("Certificate %s lacks localhost or 127.0.0.1 (etcdctl in the pod)", cert.Name)
		}
		for _, u := range []string{usageServerAuth, usageClientAuth, usageDigitalSignature} {
			if !slices.Contains(cert.Spec.Usages, u) {
				fail("Certificate %s lacks usage %q", cert.Name, u)
			}
		}
	}
	if server != nil {
		host := strings.TrimPrefix(flags["advertise-client-urls"], m.Scheme+"://")
		host = strings.ReplaceAll(host[:strings.LastIndex(host, ":")], "$(POD_NAME)", k.Pods[0].Name)
		if !slices.Contains(server.Spec.DNSNames, host) {
			fail("advertised client host %s is not in Certificate %s", host, server.Name)
		}
	}
	if client != nil && (!slices.Contains(client.Spec.Usages, usageClientAuth) || slices.Contains(client.Spec.Usages, usageServerAuth)) {
		fail("client Certificate %s usages %v, want client auth only", client.Name, client.Spec.Usages)
	}
	for _, cert := range d.certs {
		pk := cert.Spec.PrivateKey
		if pk == nil || pk.RotationPolicy == "" || pk.Algorithm != strings.ToUpper(m.TLS.KeyAlgorithm) || pk.Size != m.TLS.KeySize {
			fail("Certificate %s private key %+v does not follow the spec", cert.Name, pk)
		}
		if cert.Spec.Duration == "" || cert.Spec.RenewBefore == "" {
			fail("Certificate %s has no duration or renewBefore", cert.Name)
		}
	}

	// The chain: leaves signed by the spec's issuer, or by a CA Issuer
	// reading the Secret of the one isCA Certificate, itself self-signed.
	if ref := k.IssuerRef; ref != nil {
		if len(d.issuers) != 0 || len(d.certs) != 3 {
			fail("with issuerRef want only the 3 leaf Certificates, got %d Certificates and %d Issuers", len(d.certs), len(d.issuers))
		}
		for _, cert := range d.certs {
			if cert.Spec.IssuerRef != (IssuerRef{Name: ref.Name, Kind: ref.Kind, Group: ref.Group}) {
				fail("Certificate %s issued by %+v, want the spec's %+v", cert.Name, cert.Spec.IssuerRef, *ref)
			}
		}
		return errs
	}
	var ca *Certificate
	for _, cert := range d.certs {
		if cert.Spec.IsCA {
			if ca != nil {
				fail("two CA Certificates")
			}
			ca = cert
		}
	}
	if ca == nil {
		fail("no CA Certificate")
		return errs
	}
	if iss := d.issuer(ca.Spec.IssuerRef.Name); iss == nil || iss.Spec.SelfSigned == nil || ca.Spec.IssuerRef.Kind != "Issuer" {
		fail("CA Certificate %s is not signed by a selfSigned Issuer", ca.Name)
	}
	for _, cert := range written {
		iss := d.issuer(cert.Spec.IssuerRef.Name)
		if iss == nil || cert.Spec.IssuerRef.Kind != "Issuer" || iss.Spec.CA == nil || iss.Spec.CA.SecretName != ca.Spec.SecretName {
			fail("Certificate %s is not signed by a CA Issuer reading %s", cert.Name, ca.Spec.SecretName)
		}
	}
	if len(d.issuers) != 2 {
		fail("want 2 Issuers (selfSigned, CA), got %d", len(d.issuers))
	}
	return errs
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasFieldEnv(c corev1.Container, name, field string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == field {
			return true
		}
	}
	return false
}
