package render

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// ClientView is what one target hands etcd's clients (kube-apiserver): the
// endpoints it dials and, with TLS on, the files it reads on the
// control-plane host. Targets that point a client at etcd export a function
// returning theirs and build their output from it, so that the consistency
// check sees exactly what they write.
type ClientView struct {
	// Target names the target in messages ("kubeadm", "apiserver").
	Target    string
	Endpoints []string
	// CA, Cert and Key are zero with TLS off.
	CA, Cert, Key TLSFile
}

// TLSFile is a certificate or key file as some host reads it.
type TLSFile struct {
	// Path is where the file lives on the host.
	Path string
	// Bundle is the file of the certificate bundle it is a copy of, such
	// as "ca.crt" or "clients/apiserver-etcd-client.key".
	Bundle string
}

// CertFile and KeyFile are the bundle files of a planned cert.
func CertFile(name string) string { return name + ".crt" }
func KeyFile(name string) string  { return name + ".key" }

// APIServerEndpoints are what kube-apiserver dials: the members' advertised
// client URLs in member order, or the pods' for a Kubernetes-only spec.
func APIServerEndpoints(m *Model) []string {
	if len(m.Members) > 0 {
		return append([]string(nil), m.ClientURLs...)
	}
	return append([]string(nil), m.Kubernetes.ClientURLs...)
}

// APIServerTLS are kube-apiserver's etcd client files: the paths from the
// spec's apiserver block (kubeadm's layout by default), filled from the
// bundle's CA and its apiserver-etcd-client cert. Zero with TLS off.
func APIServerTLS(m *Model) (ca, cert, key TLSFile) {
	if !m.TLS.Enabled {
		return
	}
	a := m.Spec.APIServer
	return TLSFile{a.CAFile, CertFile("ca")},
		TLSFile{a.CertFile, CertFile(ClientAPIServer)},
		TLSFile{a.KeyFile, KeyFile(ClientAPIServer)}
}

// memberRoles name MemberTLS's files, in its order.
var memberRoles = []string{"CA file", "server cert", "server key", "peer cert", "peer key", "admin cert", "admin key"}

// MemberTLS are the TLS files on a member's host and the bundle files they
// are copies of (HostTLS mapped to bundle names): the CA, then server,
// peer and admin cert and key. Nil with TLS off.
func MemberTLS(m *Model, mem *Member) []TLSFile {
	if !m.TLS.Enabled {
		return nil
	}
	h := m.HostTLS
	return []TLSFile{
		{h.CAFile, CertFile("ca")},
		{h.CertFile, CertFile(mem.Name + "/server")},
		{h.KeyFile, KeyFile(mem.Name + "/server")},
		{h.PeerCertFile, CertFile(mem.Name + "/peer")},
		{h.PeerKeyFile, KeyFile(mem.Name + "/peer")},
		{h.ClientCertFile, CertFile(ClientAdmin)},
		{h.ClientKeyFile, KeyFile(ClientAdmin)},
	}
}

// ConsistencyError lists every way the generated files would not work
// together.
type ConsistencyError struct {
	Cluster  string
	Problems []string
}

func (e *ConsistencyError) Error() string {
	return fmt.Sprintf("cluster %s: the generated files would not work together:\n  %s",
		e.Cluster, strings.Join(e.Problems, "\n  "))
}

// CheckConsistency checks that what the targets write agrees, before any
// of it is written, and returns every problem at once (a
// *ConsistencyError), or nil:
//
//   - every URL is well formed: scheme https with TLS on and http without
//     (metrics are always http), one "//", a host (IPv6 in brackets), a
//     port, nothing else; advertised URLs name a host a client can dial;
//   - every host a member advertises or listens on for clients is a SAN of
//     its server cert, and for peers of its peer cert;
//   - --initial-cluster lists every member's advertised peer URL;
//   - each view's endpoints are the members' advertised client URLs (the
//     pods' for a Kubernetes-only spec), each once, in member order;
//   - with TLS on, every file a host reads is one the bundle makes, of the
//     right kind, and the client cert kube-apiserver presents comes from
//     the one CA the members trust; with TLS off, no cert file is named.
//
// Most of these can only fail through a bug in etcdgen; the cert paths of
// the apiserver block come from the user.
func CheckConsistency(m *Model, views ...ClientView) error {
	c := &checker{m: m}
	if m.TLS.Enabled {
		c.ca = c.theCA()
	}
	c.urls()
	c.sans()
	c.initialCluster()
	for _, v := range views {
		c.view(v)
	}
	c.memberFiles()
	if len(c.problems) == 0 {
		return nil
	}
	return &ConsistencyError{Cluster: m.Name, Problems: c.problems}
}

type checker struct {
	m        *Model
	ca       *Cert // the plan's one CA; nil with TLS off or a broken plan
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) tlsWord() string {
	if c.m.TLS.Enabled {
		return "on"
	}
	return "off"
}

// urls checks the members' and pods' own URLs.
func (c *checker) urls() {
	s := c.m.Scheme
	for _, mem := range c.m.Members {
		who := "member " + mem.Name
		c.url(who+": advertised peer URL", mem.PeerURL, s, true)
		c.url(who+": advertised client URL", mem.ClientURL, s, true)
		for _, u := range mem.ListenPeerURLs {
			c.url(who+": listen peer URL", u, s, false)
		}
		for _, u := range mem.ListenClientURLs {
			c.url(who+": listen client URL", u, s, false)
		}
		for _, u := range mem.ListenMetricsURLs {
			c.url(who+": listen metrics URL", u, "http", false)
		}
	}
	if len(c.m.Members) == 0 {
		for _, p := range c.m.Kubernetes.Pods {
			c.url("pod "+p.Name+": peer URL", p.PeerURL, s, true)
			c.url("pod "+p.Name+": client URL", p.ClientURL, s, true)
		}
	}
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// url checks one URL and returns its host ("" when it has none worth
// checking further). advertised URLs are dialled by others.
func (c *checker) url(what, raw, scheme string, advertised bool) string {
	bad := func(format string, args ...any) string {
		c.addf("%s %q: %s", what, raw, fmt.Sprintf(format, args...))
		return ""
	}
	// The shape first, on the string: url.Parse reads "https:/host" as a
	// path and refuses an unbracketed IPv6 host without saying why.
	i := strings.Index(raw, "://")
	if i < 0 {
		return bad("want %s://host:port, with exactly one // after the scheme", scheme)
	}
	if got := raw[:i]; got != scheme {
		if got == "http" || got == "https" {
			return bad("scheme %s, want %s (TLS is %s)", got, scheme, c.tlsWord())
		}
		return bad("scheme %q, want %s", got, scheme)
	}
	rest := raw[i+3:]
	if strings.HasPrefix(rest, "/") || strings.Contains(rest, "//") {
		return bad("want exactly one // after %s:", scheme)
	}
	authority := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority = rest[:j]
	}
	if strings.Count(authority, ":") > 1 && !strings.HasPrefix(authority, "[") {
		return bad("an IPv6 address needs brackets, as %s://[fd00::1]:2379", scheme)
	}
	if strings.HasPrefix(authority, "[") {
		end := strings.Index(authority, "]")
		if end < 0 {
			return bad("no ] after the [ of an IPv6 address")
		}
		if a, err := netip.ParseAddr(authority[1:end]); err != nil || !a.Is6() || a.Is4In6() {
			return bad("brackets are for IPv6 addresses only")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("does not parse: %v", errorTail(err))
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("want %s://host:port and nothing else (etcd refuses a path)", scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return bad("want host:port after %s://", scheme)
	}
	if host == "" {
		return bad("no host before the port; etcd needs the address (seed 000's http://:2380 mistake)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return bad("port %q is not a number from 1 to 65535", port)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if advertised && addr.IsUnspecified() {
			return bad("advertises %s, an address no client can dial", host)
		}
		return host
	}
	if !dnsName.MatchString(host) {
		return bad("host %q is neither an IP address nor a DNS name", host)
	}
	return host
}

// errorTail drops url.Error's repetition of the URL.
func errorTail(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// hostOf returns a well-formed URL's host, or "".
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	h, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return ""
	}
	return h
}

// sans checks that every host a member's URLs name is a SAN of the cert
// that serves it.
func (c *checker) sans() {
	if !c.m.TLS.Enabled {
		return
	}
	for i := range c.m.Members {
		mem := &c.m.Members[i]
		who := "member " + mem.Name
		server := c.memberCert(mem, mem.ServerCert, "server")
		peer := c.memberCert(mem, mem.PeerCert, "peer")
		if server != nil {
			for _, u := range append([]string{mem.ClientURL}, mem.ListenClientURLs...) {
				c.covered(who+": client URL "+u, hostOf(u), server)
			}
		}
		if peer != nil {
			for _, u := range append([]string{mem.PeerURL}, mem.ListenPeerURLs...) {
				c.covered(who+": peer URL "+u, hostOf(u), peer)
			}
		}
	}
}

// memberCert checks a member's server or peer cert is planned and can do
// its job: both ends of TLS (etcd's gateway dials the member with its
// server cert; a peer cert serves and dials).
func (c *checker) memberCert(mem *Member, cert *Cert, role string) *Cert {
	want := mem.Name + "/" + role
	switch {
	case cert == nil:
		c.addf("member %s has no %s cert; the bundle plan has no %s", mem.Name, role, want)
		return nil
	case cert.Name != want || c.m.Cert(want) == nil:
		c.addf("member %s uses cert %s as its %s cert; want %s from the bundle", mem.Name, cert.Name, role, want)
		return nil
	case !cert.Kind.ServerAuth() || !cert.Kind.ClientAuth():
		c.addf("member %s: %s is a %s cert; want server and client auth", mem.Name, want, cert.Kind)
	}
	return cert
}

// covered checks a host is a SAN of cert (Cert.Covers: unspecified listen
// addresses bind every interface and are nothing a client dials).
func (c *checker) covered(what, host string, cert *Cert) {
	if host == "" || cert.Covers(host) {
		return // "": malformed, reported by urls
	}
	c.addf("%s: %s is not a SAN of cert %s (%s)", what, host, cert.Name, sanList(cert))
}

func sanList(cert *Cert) string {
	var out []string
	out = append(out, cert.DNSNames...)
	for _, ip := range cert.IPs {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		return "no SANs"
	}
	return "SANs: " + strings.Join(out, ", ")
}

// initialCluster checks --initial-cluster names every member with its
// advertised peer URL, in member order.
func (c *checker) initialCluster() {
	if len(c.m.Members) == 0 {
		return
	}
	var want []string
	for _, mem := range c.m.Members {
		want = append(want, mem.Name+"="+mem.PeerURL)
	}
	if got := strings.Join(want, ","); c.m.InitialCluster != got {
		c.addf("--initial-cluster %q differs from the members' advertised peer URLs %q", c.m.InitialCluster, got)
	}
}

// view checks what one target hands kube-apiserver.
func (c *checker) view(v ClientView) {
	want, whose := c.m.ClientURLs, "the members' advertised client URLs"
	if len(c.m.Members) == 0 {
		want, whose = c.m.Kubernetes.ClientURLs, "the pods' client URLs"
	}
	// ClientURLs are derived alongside the members; recompute them from
	// the members themselves so a drift between the two is caught too.
	if len(c.m.Members) > 0 {
		want = nil
		for _, mem := range c.m.Members {
			want = append(want, mem.ClientURL)
		}
	}
	for _, e := range v.Endpoints {
		c.url(v.Target+" target: endpoint", e, c.m.Scheme, true)
	}
	if d := listDiff(v.Endpoints, want); d != "" {
		c.addf("%s target: endpoints %s differ from %s %s: %s", v.Target, strings.Join(v.Endpoints, ","), whose, strings.Join(want, ","), d)
	}

	files := []struct {
		role string
		f    TLSFile
	}{{"CA file", v.CA}, {"cert file", v.Cert}, {"key file", v.Key}}
	if !c.m.TLS.Enabled {
		for _, x := range files {
			if x.f != (TLSFile{}) {
				c.addf("%s target: TLS is off, but it names a %s (%s)", v.Target, x.role, x.f.Path)
			}
		}
		return
	}
	for _, x := range files {
		c.file(v.Target+" target: "+x.role, x.f, x.role == "key file")
	}
	c.distinct(v.Target+" target", []TLSFile{v.CA, v.Cert, v.Key})

	// The chain: kube-apiserver must trust the CA that signs the members'
	// server certs, and present a client cert that CA signed. The bundle
	// signs every leaf with its one CA, so at plan level this is: the CA
	// file is that CA's cert, and cert and key are one client cert's pair.
	ca := c.ca
	if ca != nil && v.CA.Bundle != "" && v.CA.Bundle != CertFile(ca.Name) {
		c.addf("%s target: CA file %s is a copy of %s, not of the CA %s that signs the members' certs", v.Target, v.CA.Path, v.CA.Bundle, CertFile(ca.Name))
	}
	certName := strings.TrimSuffix(v.Cert.Bundle, ".crt")
	keyName := strings.TrimSuffix(v.Key.Bundle, ".key")
	if v.Cert.Bundle != "" && v.Key.Bundle != "" && certName != keyName {
		c.addf("%s target: cert file %s (%s) and key file %s (%s) are not one pair", v.Target, v.Cert.Path, v.Cert.Bundle, v.Key.Path, v.Key.Bundle)
	}
	if cert := c.m.Cert(certName); cert != nil && cert.Kind != KindClient {
		c.addf("%s target: cert file %s is a copy of %s, a %s cert; kube-apiserver needs a client cert (%s)", v.Target, v.Cert.Path, v.Cert.Bundle, cert.Kind, CertFile(ClientAPIServer))
	}
}

// listDiff says how got differs from want ("" when equal): missing,
// extra or repeated entries, or the order.
func listDiff(got, want []string) string {
	if strings.Join(got, "\x00") == strings.Join(want, "\x00") && len(got) == len(want) {
		return ""
	}
	in := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	var msgs []string
	var missing, extra, repeated []string
	for _, w := range want {
		if !in(got, w) {
			missing = append(missing, w)
		}
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] && !in(repeated, g) {
			repeated = append(repeated, g)
		}
		seen[g] = true
		if !in(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		msgs = append(msgs, "missing "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		msgs = append(msgs, "not a member's: "+strings.Join(extra, ", "))
	}
	if len(repeated) > 0 {
		msgs = append(msgs, "listed more than once: "+strings.Join(repeated, ", "))
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "same URLs in another order; want member order")
	}
	return strings.Join(msgs, "; ")
}

// theCA returns the plan's one CA, and reports a plan with none or
// several.
func (c *checker) theCA() *Cert {
	var cas []*Cert
	for i := range c.m.Certs {
		if c.m.Certs[i].Kind == KindCA {
			cas = append(cas, &c.m.Certs[i])
		}
	}
	if len(cas) == 1 {
		return cas[0]
	}
	c.addf("the bundle plan has %d CAs; want exactly one, trusted by members and clients alike", len(cas))
	return nil
}

// bundleFile reports whether the bundle makes a file: each planned
// cert's .crt and .key.
func (c *checker) bundleFile(name string) bool {
	for _, cert := range c.m.Certs {
		if name == CertFile(cert.Name) || name == KeyFile(cert.Name) {
			return true
		}
	}
	return false
}

// file checks one referenced TLS file: an absolute path, a copy of a file
// the bundle makes, and not a key where a cert belongs or the reverse.
func (c *checker) file(what string, f TLSFile, key bool) {
	switch {
	case f.Path == "":
		c.addf("%s: no path; TLS is on", what)
	case !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path:
		c.addf("%s %s: want an absolute, clean path", what, f.Path)
	case key && strings.HasSuffix(f.Path, ".crt"):
		c.addf("%s %s: a .crt path for a private key; cert and key swapped?", what, f.Path)
	case !key && strings.HasSuffix(f.Path, ".key"):
		c.addf("%s %s: a .key path for a certificate; cert and key swapped?", what, f.Path)
	}
	switch {
	case f.Bundle == "":
		c.addf("%s %s: not a file of the certificate bundle", what, f.Path)
	case !c.bundleFile(f.Bundle):
		c.addf("%s %s: the certificate bundle makes no %s", what, f.Path, f.Bundle)
	case key != strings.HasSuffix(f.Bundle, ".key"):
		kind := "certificate"
		if key {
			kind = "private key"
		}
		c.addf("%s %s: holds %s, which is not a %s", what, f.Path, f.Bundle, kind)
	}
}

// distinct reports two different files placed at one path on a host.
func (c *checker) distinct(who string, files []TLSFile) {
	at := map[string]string{}
	for _, f := range files {
		if f.Path == "" {
			continue
		}
		if prev, ok := at[f.Path]; ok && prev != f.Bundle {
			c.addf("%s: %s would hold both %s and %s", who, f.Path, prev, f.Bundle)
			continue
		}
		at[f.Path] = f.Bundle
	}
}

// memberFiles checks the TLS files on the members' hosts.
func (c *checker) memberFiles() {
	if !c.m.TLS.Enabled {
		return
	}
	ca := c.ca
	for i := range c.m.Members {
		mem := &c.m.Members[i]
		files := MemberTLS(c.m, mem)
		for j, f := range files {
			role := memberRoles[j]
			c.file("member "+mem.Name+": "+role, f, strings.HasSuffix(role, " key"))
		}
		c.distinct("member "+mem.Name, files)
		if ca != nil && files[0].Bundle != CertFile(ca.Name) {
			c.addf("member %s: trusted CA file %s is a copy of %s, not of the CA %s", mem.Name, files[0].Path, files[0].Bundle, CertFile(ca.Name))
		}
	}
}
