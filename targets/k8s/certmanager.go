package k8s

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/etcdgen/etcdgen/render"
)

// cert-manager.io/v1 Issuer and Certificate, only the fields etcdgen
// writes. Own structs rather than github.com/cert-manager/cert-manager's
// API package: that module would pin our k8s.io versions to its own and
// bring its ACME and gateway-api types along, for a dozen fields. Field
// names and JSON tags are cert-manager's (pkg/apis/certmanager/v1).
const certManagerAPIVersion = "cert-manager.io/v1"

type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              IssuerSpec `json:"spec"`
}

type IssuerSpec struct {
	SelfSigned *SelfSignedIssuer `json:"selfSigned,omitempty"`
	CA         *CAIssuer         `json:"ca,omitempty"`
}

type SelfSignedIssuer struct{}

type CAIssuer struct {
	SecretName string `json:"secretName"`
}

type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CertificateSpec `json:"spec"`
}

type CertificateSpec struct {
	SecretName     string                 `json:"secretName"`
	SecretTemplate *SecretTemplate        `json:"secretTemplate,omitempty"`
	IssuerRef      IssuerRef              `json:"issuerRef"`
	IsCA           bool                   `json:"isCA,omitempty"`
	CommonName     string                 `json:"commonName,omitempty"`
	DNSNames       []string               `json:"dnsNames,omitempty"`
	IPAddresses    []string               `json:"ipAddresses,omitempty"`
	Duration       string                 `json:"duration,omitempty"`
	RenewBefore    string                 `json:"renewBefore,omitempty"`
	Usages         []string               `json:"usages,omitempty"`
	PrivateKey     *CertificatePrivateKey `json:"privateKey,omitempty"`
}

type SecretTemplate struct {
	Labels map[string]string `json:"labels,omitempty"`
}

type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

type CertificatePrivateKey struct {
	Algorithm      string `json:"algorithm,omitempty"`
	Size           int    `json:"size,omitempty"`
	RotationPolicy string `json:"rotationPolicy,omitempty"`
}

// cert-manager key usages (KeyUsage values).
const (
	usageDigitalSignature = "digital signature"
	usageKeyEncipherment  = "key encipherment"
	usageCertSign         = "cert sign"
	usageCRLSign          = "crl sign"
	usageServerAuth       = "server auth"
	usageClientAuth       = "client auth"
)

// Names of the cert-manager objects.
func selfSignedIssuerName(k *render.Kubernetes) string { return k.StatefulSet + "-selfsigned" }
func caIssuerName(k *render.Kubernetes) string         { return k.StatefulSet + "-ca" }
func caCertName(k *render.Kubernetes) string           { return k.StatefulSet + "-ca" }
func serverCertName(k *render.Kubernetes) string       { return k.StatefulSet + "-server" }
func peerCertName(k *render.Kubernetes) string         { return k.StatefulSet + "-peer" }
func clientCertName(k *render.Kubernetes) string       { return k.StatefulSet + "-client" }

// certManager returns the issuers and certificates: with no issuerRef, a
// selfSigned Issuer signs one CA Certificate and a CA Issuer made from its
// Secret signs the rest, so every leaf chains to one root (seed 001 made each
// Certificate its own root). With an issuerRef, only the leaves.
func certManager(m *render.Model, labels map[string]string) ([]any, error) {
	k := &m.Kubernetes
	if err := checkDurations(m); err != nil {
		return nil, err
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: k.Namespace, Labels: labels}
	}
	issuerType := metav1.TypeMeta{APIVersion: certManagerAPIVersion, Kind: "Issuer"}
	certType := metav1.TypeMeta{APIVersion: certManagerAPIVersion, Kind: "Certificate"}

	var objs []any
	issuer := IssuerRef{Name: caIssuerName(k), Kind: "Issuer", Group: "cert-manager.io"}
	if ref := k.IssuerRef; ref != nil {
		issuer = IssuerRef{Name: ref.Name, Kind: ref.Kind, Group: ref.Group}
	} else {
		objs = append(objs,
			&Issuer{TypeMeta: issuerType, ObjectMeta: meta(selfSignedIssuerName(k)),
				Spec: IssuerSpec{SelfSigned: &SelfSignedIssuer{}}},
			&Certificate{TypeMeta: certType, ObjectMeta: meta(caCertName(k)), Spec: CertificateSpec{
				SecretName:     k.CASecret,
				SecretTemplate: &SecretTemplate{Labels: labels},
				IssuerRef:      IssuerRef{Name: selfSignedIssuerName(k), Kind: "Issuer", Group: "cert-manager.io"},
				IsCA:           true,
				CommonName:     m.Name + "-ca",
				Duration:       m.TLS.CAValidity,
				RenewBefore:    m.TLS.RenewBefore,
				Usages:         []string{usageDigitalSignature, usageCertSign, usageCRLSign},
				// Never: a renewed CA keeps its key, so leaves signed
				// before the renewal still verify while pods pick up
				// the new ca.crt one by one.
				PrivateKey: privateKey(m, "Never"),
			}},
			&Issuer{TypeMeta: issuerType, ObjectMeta: meta(caIssuerName(k)),
				Spec: IssuerSpec{CA: &CAIssuer{SecretName: k.CASecret}}},
		)
	}

	leaf := func(name, secret, cn string, dns, ips, usages []string) *Certificate {
		return &Certificate{TypeMeta: certType, ObjectMeta: meta(name), Spec: CertificateSpec{
			SecretName:     secret,
			SecretTemplate: &SecretTemplate{Labels: labels},
			IssuerRef:      issuer,
			CommonName:     cn,
			DNSNames:       dns,
			IPAddresses:    ips,
			Duration:       m.TLS.CertValidity,
			RenewBefore:    m.TLS.RenewBefore,
			Usages:         usages,
			// Always: a re-issued leaf gets a fresh key.
			PrivateKey: privateKey(m, "Always"),
		}}
	}
	dns, ips := k.CertDNSNames(), k.CertIPAddresses()
	// Server and peer certs need client auth too: etcd dials itself with
	// the server cert (gRPC gateway) and peers are both ends of a
	// connection. Without explicit usages cert-manager grants server auth
	// only.
	both := leafUsages(m, usageServerAuth, usageClientAuth)
	objs = append(objs,
		leaf(serverCertName(k), k.ServerSecret, k.StatefulSet, dns, ips, both),
		leaf(peerCertName(k), k.PeerSecret, k.StatefulSet, dns, ips, both),
		// The client cert is etcdctl's inside the pods; CN root is the
		// admin of etcd's RBAC, as the host bundle's admin cert.
		leaf(clientCertName(k), k.ClientSecret, "root", nil, nil, leafUsages(m, usageClientAuth)),
	)
	return objs, nil
}

// leafUsages adds the key usages the key type needs: key encipherment only
// for RSA (RSA key exchange); ECDSA keys sign only.
func leafUsages(m *render.Model, ext ...string) []string {
	out := []string{usageDigitalSignature}
	if m.TLS.KeyAlgorithm == "rsa" {
		out = append(out, usageKeyEncipherment)
	}
	return append(out, ext...)
}

func privateKey(m *render.Model, rotation string) *CertificatePrivateKey {
	alg := "ECDSA"
	if m.TLS.KeyAlgorithm == "rsa" {
		alg = "RSA"
	}
	return &CertificatePrivateKey{Algorithm: alg, Size: m.TLS.KeySize, RotationPolicy: rotation}
}

// checkDurations applies cert-manager's own rules, so a bad spec fails here
// and not in the cluster after apply.
func checkDurations(m *render.Model) error {
	renew := render.Duration(m.TLS.RenewBefore)
	for _, d := range []struct{ field, value string }{
		{"tls.caValidity", m.TLS.CAValidity},
		{"tls.certValidity", m.TLS.CertValidity},
	} {
		v := render.Duration(d.value)
		if v < time.Hour {
			return fmt.Errorf("%s %s: cert-manager needs a duration of at least 1h", d.field, d.value)
		}
		if renew >= v {
			return fmt.Errorf("tls.renewBefore %s must be shorter than %s %s", m.TLS.RenewBefore, d.field, d.value)
		}
	}
	if renew < 5*time.Minute {
		return fmt.Errorf("tls.renewBefore %s: cert-manager needs at least 5m", m.TLS.RenewBefore)
	}
	return nil
}
