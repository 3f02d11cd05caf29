package render

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// CertKind says what a certificate is for; it fixes the key usages.
type CertKind int

const (
	KindCA CertKind = iota
	// KindServer serves clients; it also has client auth because etcd's own
	// gRPC gateway and health checks dial the member with it.
	KindServer
	// KindPeer is both ends of member-to-member traffic.
	KindPeer
	// KindClient is a client of etcd (kube-apiserver, health checks, admin).
	KindClient
)

func (k CertKind) String() string {
	return [...]string{"ca", "server", "peer", "client"}[k]
}

// ServerAuth and ClientAuth report the extended key usages of a kind.
func (k CertKind) ServerAuth() bool { return k == KindServer || k == KindPeer }
func (k CertKind) ClientAuth() bool { return k != KindCA }

// Cert is one certificate the bundle makes.
type Cert struct {
	// Name is the bundle path without extension: "ca", "etcd1/server",
	// "clients/admin"; files are Name+".crt" and Name+".key".
	Name       string
	Kind       CertKind
	CommonName string
	DNSNames   []string
	IPs        []netip.Addr
	// Member owns the cert; "" for the CA and clients.
	Member string
}

// Client certificate names in the bundle, kubeadm's where kubeadm has one.
const (
	ClientAPIServer   = "clients/apiserver-etcd-client"
	ClientHealthcheck = "clients/healthcheck-client"
	ClientAdmin       = "clients/admin"
)

// Client certs and their CNs (the etcd user each acts as under auth).
var clientCerts = []struct{ name, cn string }{
	{ClientAPIServer, "kube-apiserver-etcd-client"},
	{ClientHealthcheck, "kube-etcd-healthcheck-client"},
	{ClientAdmin, "root"},
}

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.MustParseAddr("::1")
)

// planCerts lists the bundle. Member certs carry the member name, its
// hostnames and IP, and localhost/127.0.0.1/::1 on both server and peer
// certs: the env file listens on 127.0.0.1, and with peer cert auth etcd
// checks a peer's source address, which is loopback when members share a
// host (kubeadm's peer certs carry the same).
func planCerts(m *Model) []Cert {
	certs := []Cert{{Name: "ca", Kind: KindCA, CommonName: m.Name + "-ca"}}
	for _, mem := range m.Members {
		dns := append([]string{mem.Name}, mem.Hostnames...)
		dns = append(dns, "localhost")
		ips := uniqueAddrs(mem.IP, loopback4, loopback6)
		for _, kind := range []CertKind{KindServer, KindPeer} {
			certs = append(certs, Cert{
				Name:       mem.Name + "/" + kind.String(),
				Kind:       kind,
				CommonName: mem.Name,
				DNSNames:   unique(dns),
				IPs:        ips,
				Member:     mem.Name,
			})
		}
	}
	// Pods without cert-manager share one server and one peer cert from the
	// bundle (the k8s-secrets target puts them into Secrets).
	if c := m.Spec.Kubernetes; c != nil && !m.Kubernetes.CertManager {
		k := &m.Kubernetes
		var ips []netip.Addr
		for _, s := range k.CertIPAddresses() {
			ips = append(ips, netip.MustParseAddr(s))
		}
		for _, b := range []struct {
			name string
			kind CertKind
		}{{KubernetesServer, KindServer}, {KubernetesPeer, KindPeer}} {
			certs = append(certs, Cert{Name: b.name, Kind: b.kind, CommonName: k.StatefulSet, DNSNames: k.CertDNSNames(), IPs: ips})
		}
	}
	// Client certs carry no O=system:masters (kubeadm dropped it); CNs are
	// kubeadm's so etcd RBAC users match a kubeadm cluster's.
	for _, c := range clientCerts {
		certs = append(certs, Cert{Name: c.name, Kind: KindClient, CommonName: c.cn, DNSNames: []string{c.cn}})
	}
	return certs
}

func unique(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func uniqueAddrs(list ...netip.Addr) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, a := range list {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// Cert returns the planned cert with the given bundle name, or nil.
func (m *Model) Cert(name string) *Cert {
	for i := range m.Certs {
		if m.Certs[i].Name == name {
			return &m.Certs[i]
		}
	}
	return nil
}

// CheckCertHosts reports every host in a member's advertised or listen
// URLs that its certificate does not cover: the peer cert must cover the
// peer URLs, the server cert the client URLs. etcd would otherwise fail the
// TLS handshake at run time ("certificate is valid for ..., not ...").
// An unspecified listen address (0.0.0.0, ::) is no name a client dials.
func (m *Model) CheckCertHosts() error {
	if len(m.Certs) == 0 {
		return nil
	}
	var problems []string
	for _, mem := range m.Members {
		for _, c := range []struct {
			cert *Cert
			urls []string
		}{
			{mem.PeerCert, append([]string{mem.PeerURL}, mem.ListenPeerURLs...)},
			{mem.ServerCert, append([]string{mem.ClientURL}, mem.ListenClientURLs...)},
		} {
			if c.cert == nil {
				problems = append(problems, fmt.Sprintf("member %s has no planned certificate", mem.Name))
				continue
			}
			for _, raw := range c.urls {
				host, err := urlHost(raw)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", c.cert.Name, err))
					continue
				}
				if !c.cert.Covers(host) {
					problems = append(problems, fmt.Sprintf("%s does not cover %s (from %s)", c.cert.Name, host, raw))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("certificate plan: %s", strings.Join(problems, "; "))
	}
	return nil
}

func urlHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("URL %q has no host", raw)
	}
	return u.Hostname(), nil
}

// Covers reports whether host (an IP or a DNS name) is among the cert's
// SANs. Unspecified addresses are covered by definition: nobody dials them.
func (c *Cert) Covers(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		return ip.IsUnspecified() || slices.Contains(c.IPs, ip)
	}
	return slices.Contains(c.DNSNames, strings.ToLower(strings.TrimSuffix(host, ".")))
}
