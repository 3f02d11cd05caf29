package schema

import (
	"fmt"
	"net/netip"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMembers is the hard cap on members. etcd recommends at most 7 (its
// FAQ, "What is maximum cluster size?"): every write waits for a majority,
// so more members only slow writes. The cap is 15, as for
// kubernetes.replicas: room for a migration that briefly doubles a 7-member
// cluster, while the output, which grows with the square of the member count
// (every member's env file and certificate lists every member), stays small.
const MaxMembers = 15

// MaxStatefulSetName bounds the StatefulSet's name (the cluster name by
// default). Kubernetes labels every pod with controller-revision-hash
// "<statefulset>-<10-character hash>", a label value of at most 63
// characters (kubernetes/kubernetes#64023), so the StatefulSet name can be
// at most 63-11 = 52 characters; the client Service "<name>-client" (59)
// and the pods "<name>-<i>" then fit in a DNS label too.
const MaxStatefulSetName = 52

// reservedNames would make a member's certificate or /etc/hosts line mean
// something else: "localhost" is every server cert's own SAN.
var reservedNames = map[string]bool{"localhost": true, "localhost.localdomain": true}

// checkStrings refuses control characters and invalid UTF-8 in every
// string of the spec, map keys included: they would be written raw into
// env files, unit files, etcd's flags and YAML, where a newline starts a
// new setting and a NUL ends a C string early. It walks the decoded
// structs, so fields added to the schema later are covered too.
func checkStrings(c *Cluster, bad func(path, format string, args ...any)) {
	walkStrings(reflect.ValueOf(c).Elem(), "", func(p, s string) {
		if !utf8.ValidString(s) {
			bad(p, "%q is not valid UTF-8; want text", s)
			return
		}
		if i := strings.IndexFunc(s, unsafeRune); i >= 0 {
			r, _ := utf8.DecodeRuneInString(s[i:])
			bad(p, "%q holds the control character %U at byte %d; want printable characters only (it would be written raw into env files, unit files and YAML)", s, r, i)
		}
	})
}

// unsafeRune: C0 and C1 controls, DEL, line and paragraph separators (a
// newline to YAML 1.1 and JavaScript), and bidirectional overrides, which
// make a value read differently from what it is (CVE-2021-42574).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\ufeff'
}

func walkStrings(v reflect.Value, p string, f func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		f(p, v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), p, f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" || !t.Field(i).IsExported() {
				continue
			}
			walkStrings(v.Field(i), join(p, name), f)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", p, i), f)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			kp := join(p, fmt.Sprint(k))
			if k.Kind() == reflect.String {
				f(kp, k.String())
			}
			walkStrings(v.MapIndex(k), kp, f)
		}
	}
}

func join(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

// checkPaths refuses host paths that are not clean ("." or ".." names: the
// schema's pattern already refuses empty names) and data or WAL dirs that
// would put etcd's database on the root or a kernel filesystem.
func checkPaths(c *Cluster, bad func(path, format string, args ...any)) {
	paths := []struct{ field, value string }{
		{"dataDir", c.DataDir}, {"walDir", c.WALDir}, {"tls.dir", c.TLS.Dir},
		{"host.binary", c.Host.Binary}, {"apiserver.caFile", c.APIServer.CAFile},
		{"apiserver.certFile", c.APIServer.CertFile}, {"apiserver.keyFile", c.APIServer.KeyFile},
		{"apiserver.prefix", c.APIServer.Prefix},
	}
	for _, p := range paths {
		if p.value == "" {
			continue
		}
		if clean := path.Clean(p.value); clean != p.value {
			bad(p.field, "%q has a \".\" or \"..\" element; want the clean path %q", p.value, clean)
		}
	}
	for _, p := range paths[:2] {
		for _, sys := range []string{"/proc", "/sys", "/dev"} {
			if p.value == sys || strings.HasPrefix(p.value, sys+"/") {
				bad(p.field, "%q is under %s, a kernel filesystem; want a directory on a disk, e.g. \"/var/lib/etcd\"", p.value, sys)
			}
		}
	}
}

// checkHostnames refuses a member's hostnames that name another member or
// its address (that member's name would land in the wrong certificate and
// /etc/hosts line), an address written as a hostname, a reserved name, or
// a label over 63 characters (RFC 1035 2.3.4).
func checkHostnames(members []Member, bad func(path, format string, args ...any)) {
	owner := map[string]int{}
	for i, m := range members {
		owner[m.Name] = i
		if reservedNames[m.Name] {
			bad(fmt.Sprintf("members[%d].name", i), "%q is reserved: every server certificate already names localhost; want the host's own name", m.Name)
		}
	}
	ips := map[string]int{}
	for i, m := range members {
		if a, err := netip.ParseAddr(m.IP); err == nil {
			ips[a.String()] = i
		}
	}
	for i, m := range members {
		for k, h := range m.Hostnames {
			p := fmt.Sprintf("members[%d].hostnames[%d]", i, k)
			if a, err := netip.ParseAddr(h); err == nil {
				if j, ok := ips[a.String()]; ok && j != i {
					bad(p, "%q is the address of members[%d]; want a DNS name of this member's host", h, j)
				} else {
					bad(p, "%q is an address; want a DNS name (the member's address is its ip field)", h)
				}
				continue
			}
			if j, ok := owner[h]; ok && j != i {
				bad(p, "%q is the name of members[%d]; want a name of this member's own host", h, j)
				continue
			}
			if reservedNames[h] {
				bad(p, "%q is reserved: every server certificate already names it", h)
				continue
			}
			for _, label := range strings.Split(h, ".") {
				if len(label) > 63 {
					bad(p, "label %q is %d characters long; want at most 63 per label (RFC 1035)", label[:20]+"...", len(label))
					break
				}
			}
			owner[h] = i
		}
	}
}

// checkKubernetesNames checks, on the spec field that makes them, the
// names the k8s target derives: the StatefulSet (a DNS-1035 label for its
// Services, at most MaxStatefulSetName) and the pods' longest DNS name
// (at most 253 characters, for cert-manager's dnsNames).
func checkKubernetesNames(c *Cluster, has func(string) bool, bad func(path, format string, args ...any)) {
	field, sts := "name", c.Name
	ns, domain, replicas := "default", "cluster.local", 3
	if k := c.Kubernetes; k != nil {
		if k.StatefulSetName != "" {
			field, sts = "kubernetes.statefulSetName", k.StatefulSetName
		}
		ns, domain = k.Namespace, k.ClusterDomain
		replicas = k.Replicas
	}
	if replicas == 0 {
		replicas = len(c.Members)
	}
	replicas = max(replicas, 1)
	switch {
	case len(sts) > MaxStatefulSetName:
		bad(field, "%q is %d characters long; want at most %d: it names the StatefulSet, and its pods' controller-revision-hash label \"<name>-<hash>\" must fit in 63 characters", short(sts), len(sts), MaxStatefulSetName)
	case sts != "" && (sts[0] < 'a' || sts[0] > 'z'):
		bad(field, "%q starts with a digit; want a letter first: the Kubernetes Services are named after it, and a Service name is a DNS-1035 label", sts)
	}
	fqdn := fmt.Sprintf("%s-%d.%s.%s.svc.%s", sts, replicas-1, sts, ns, domain)
	if len(fqdn) > 253 {
		at := "kubernetes.clusterDomain"
		if !has(at) {
			at = field
		}
		bad(at, "makes the pod DNS name %q %d characters long; want at most 253", short(fqdn), len(fqdn))
	}
}

var (
	// A Kubernetes resource name: a qualified name, optionally prefixed
	// by a DNS subdomain ("cpu", "example.com/gpu").
	resourceName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	// A plain Kubernetes quantity: a decimal number and a binary or
	// decimal suffix. resource.ParseQuantity takes more (exponents), but
	// this subset is what people write and what it always accepts.
	quantity = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,9})?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$`)
)

// checkResources refuses resource names and quantities Kubernetes would
// refuse, on their field, instead of failing in the k8s target.
func checkResources(c *Cluster, bad func(path, format string, args ...any)) {
	if c.Kubernetes == nil || c.Kubernetes.Resources == nil {
		return
	}
	for _, part := range []struct {
		name string
		m    map[string]string
	}{{"requests", c.Kubernetes.Resources.Requests}, {"limits", c.Kubernetes.Resources.Limits}} {
		keys := make([]string, 0, len(part.m))
		for k := range part.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := "kubernetes.resources." + part.name + "." + k
			if strings.IndexFunc(k, unsafeRune) >= 0 || strings.IndexFunc(part.m[k], unsafeRune) >= 0 {
				continue // checkStrings reports it
			}
			if !resourceName.MatchString(k) {
				bad(p, "%q is not a Kubernetes resource name; want e.g. \"cpu\", \"memory\" or \"example.com/gpu\"", short(k))
				continue
			}
			if !quantity.MatchString(part.m[k]) {
				bad(p, "%q is not a Kubernetes quantity (e.g. 500m, 1Gi)", short(part.m[k]))
			}
		}
	}
}
