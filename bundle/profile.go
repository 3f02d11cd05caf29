// Package certs makes and keeps the certificate bundle of a cluster: a CA,
// per member a server and a peer certificate, and the client certificates
// (kube-apiserver, health checks, the admin user root).
//
// cfssl is used as a library for what it does well and cheaply: key and
// CSR generation (csr) and PEM parsing and signature algorithms (helpers).
// Signing applies the profiles below, written in cfssl's ca-config.json
// vocabulary, with crypto/x509: cfssl's own config and signer packages link
// zlint and publicsuffix, which cost ~12 ms of package init in every etcdgen
// run (even `etcdgen version`), for lints this bundle does not need.
//
// Nothing here reads the clock or the random source directly: both come in
// through Options, so the keep/re-issue decisions are testable.
package bundle

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/etcdgen/etcdgen/render"
)

// Profile is a signing policy, as a cfssl ca-config.json profile: the
// seeds' "server", "peer" and "client" profiles, plus the CA's own.
type Profile struct {
	Name string
	// Usages are cfssl's usage names: "signing", "key encipherment",
	// "server auth", "client auth", "cert sign", "crl sign".
	Usages []string
	CA     bool
}

// Profiles by name. Server certs have client auth too: etcd's gRPC gateway
// and health checks dial the member with its own server cert. "key
// encipherment" only applies to RSA keys (an ECDSA key cannot encipher);
// it is dropped for ECDSA.
var Profiles = map[string]Profile{
	"ca":     {Name: "ca", Usages: []string{"cert sign", "crl sign"}, CA: true},
	"server": {Name: "server", Usages: []string{"signing", "key encipherment", "server auth", "client auth"}},
	"peer":   {Name: "peer", Usages: []string{"signing", "key encipherment", "server auth", "client auth"}},
	"client": {Name: "client", Usages: []string{"signing", "key encipherment", "client auth"}},
}

// profileFor looks the profile up by name and fails on an unknown one:
// cfssl's signer.Profile would silently fall back to the default profile.
func profileFor(kind render.CertKind) (Profile, error) {
	p, ok := Profiles[kind.String()]
	if !ok {
		return Profile{}, fmt.Errorf("internal error: no signing profile %q", kind)
	}
	return p, nil
}

// keyUsages and extKeyUsages map cfssl's names (config.KeyUsage and
// config.ExtKeyUsage) to crypto/x509's.
var keyUsages = map[string]x509.KeyUsage{
	"signing":           x509.KeyUsageDigitalSignature,
	"digital signature": x509.KeyUsageDigitalSignature,
	"key encipherment":  x509.KeyUsageKeyEncipherment,
	"cert sign":         x509.KeyUsageCertSign,
	"crl sign":          x509.KeyUsageCRLSign,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"server auth": x509.ExtKeyUsageServerAuth,
	"client auth": x509.ExtKeyUsageClientAuth,
}

// usages resolves the profile for a key algorithm.
func (p Profile) usages(algo string) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	var eku []x509.ExtKeyUsage
	for _, u := range p.Usages {
		if k, ok := keyUsages[u]; ok {
			if k == x509.KeyUsageKeyEncipherment && algo != "rsa" {
				continue
			}
			ku |= k
		} else if e, ok := extKeyUsages[u]; ok {
			eku = append(eku, e)
		} else {
			return 0, nil, fmt.Errorf("internal error: profile %s: unknown usage %q", p.Name, u)
		}
	}
	return ku, eku, nil
}

// extUsageNames names extended key usages the way the profiles do.
func extUsageNames(list []x509.ExtKeyUsage) string {
	var out []string
	for _, e := range list {
		name := fmt.Sprintf("ext usage %d", e)
		for n, v := range extKeyUsages {
			if v == e {
				name = n
			}
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
