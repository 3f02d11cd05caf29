// Package render resolves a validated spec into the Model every target
// reads (URLs, the initial cluster, certificate plans, host paths), and
// owns the File type and the emitter that writes what targets produce.
// All derivation happens here, once; targets only format.
package render

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdgen/etcdgen/render/etcdflags"
	"github.com/etcdgen/etcdgen/schema"
)

// Model is a cluster with everything derived. Targets must not change it.
type Model struct {
	Name    string
	Version Version
	// Spec is the validated spec, for knobs targets pass through as-is.
	Spec *schema.Cluster

	// Scheme is "https" with TLS on, "http" without.
	Scheme string
	TLS    schema.TLS
	Token  string

	// Members placed on hosts; empty for a Kubernetes-only spec.
	Members []Member
	// InitialCluster is --initial-cluster for the host members.
	InitialCluster string
	// ClientURLs are the members' advertised client URLs, in member order:
	// what kube-apiserver and etcdctl dial.
	ClientURLs []string
	// MetricsPort on hosts; 0 when off.
	MetricsPort int

	// HostTLS are the certificate paths on the members' hosts.
	HostTLS HostTLS

	// Certs is the bundle: the CA first, then per member server and peer,
	// then the clients. Nil with TLS off.
	Certs []Cert

	// Bundle, when set, holds the certificates host targets place into the
	// member trees (render --certs DIR).
	Bundle *Bundle

	memo memo

	// Kubernetes is the cluster as pods; always resolved (a spec without a
	// kubernetes block gets the defaults).
	Kubernetes Kubernetes

	// Ops is derived for the operations outputs (render/ops.go).
	Ops Ops
}

// Member is one host member with its URLs.
type Member struct {
	Name         string
	IP           netip.Addr
	Hostnames    []string
	InitialState string

	PeerURL          string   // advertised peer URL
	ClientURL        string   // advertised client URL
	ListenPeerURLs   []string // what the member binds for peers
	ListenClientURLs []string // ... for clients (its IP, then 127.0.0.1)
	// ListenClientHTTPURLs serve the client API's HTTP side (JSON gateway,
	// /health, /version) on their own port, so ListenClientURLs are gRPC
	// only: etcd warns "Running http and grpc server on single port. This
	// is not recommended for production." without them (embed.Config
	// Validate, 3.5 to 3.7).
	ListenClientHTTPURLs []string
	ListenMetricsURLs    []string // empty when metrics are off

	ServerCert *Cert
	PeerCert   *Cert
}

// HostTLS are absolute paths of the certificate files on a member host.
type HostTLS struct {
	Dir            string
	CAFile         string
	CertFile       string
	KeyFile        string
	PeerCertFile   string
	PeerKeyFile    string
	ClientCertFile string // the admin client, for etcdctl on the host
	ClientKeyFile  string
}

// Version is an etcd release.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// ParseVersion parses "3.6.16" (the schema has checked the shape).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: want major.minor.patch", s)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: want major.minor.patch", s)
		}
		n[i] = x
	}
	return Version{n[0], n[1], n[2]}, nil
}

// HostMetricsPort and PodMetricsPort are the metrics defaults: kubeadm's
// 2381 on hosts, the etcd Kubernetes guide's 8080 in pods.
const (
	HostMetricsPort = 2381
	PodMetricsPort  = 8080
)

// Resolve derives the Model from a validated spec.
func Resolve(c *schema.Cluster) (*Model, error) {
	v, err := ParseVersion(c.Version)
	if err != nil {
		return nil, err
	}
	if etcdflags.For(fmt.Sprintf("%d.%d", v.Major, v.Minor)) == nil {
		return nil, fmt.Errorf("version %q: etcd %d.%d has no flag table (render/etcdflags)", c.Version, v.Major, v.Minor)
	}
	m := &Model{
		Name:    c.Name,
		Version: v,
		Spec:    c,
		Scheme:  "http",
		TLS:     c.TLS,
		Token:   c.Token,
	}
	if c.TLS.Enabled {
		m.Scheme = "https"
	}
	if m.Token == "" {
		m.Token = c.Name
	}
	m.MetricsPort = HostMetricsPort
	if c.Ports.Metrics != nil {
		m.MetricsPort = *c.Ports.Metrics
	}
	dir := c.TLS.Dir
	m.HostTLS = HostTLS{
		Dir:            dir,
		CAFile:         dir + "/ca.crt",
		CertFile:       dir + "/server.crt",
		KeyFile:        dir + "/server.key",
		PeerCertFile:   dir + "/peer.crt",
		PeerKeyFile:    dir + "/peer.key",
		ClientCertFile: dir + "/admin.crt",
		ClientKeyFile:  dir + "/admin.key",
	}

	var initial []string
	for _, sm := range c.Members {
		ip, msg := schema.ParseMemberIP(sm.IP)
		if msg != "" {
			return nil, fmt.Errorf("member %s: ip %q %s", sm.Name, sm.IP, msg)
		}
		mem := Member{
			Name:         sm.Name,
			IP:           ip,
			Hostnames:    append([]string(nil), sm.Hostnames...),
			InitialState: sm.InitialState,
		}
		if mem.InitialState == "" {
			mem.InitialState = c.InitialClusterState
		}
		mem.PeerURL = URL(m.Scheme, ip.String(), c.Ports.Peer)
		mem.ClientURL = URL(m.Scheme, ip.String(), c.Ports.Client)
		mem.ListenPeerURLs = []string{mem.PeerURL}
		mem.ListenClientURLs = []string{mem.ClientURL}
		mem.ListenClientHTTPURLs = []string{URL(m.Scheme, ip.String(), c.Ports.ClientHTTP)}
		if c.ListenLocalhost && !ip.IsLoopback() {
			mem.ListenClientURLs = append(mem.ListenClientURLs, URL(m.Scheme, "127.0.0.1", c.Ports.Client))
			mem.ListenClientHTTPURLs = append(mem.ListenClientHTTPURLs, URL(m.Scheme, "127.0.0.1", c.Ports.ClientHTTP))
		}
		if m.MetricsPort != 0 {
			// Metrics, /readyz and /livez are plain HTTP so probes and
			// Prometheus need no client cert (etcd's own recommendation).
			mem.ListenMetricsURLs = []string{URL("http", ip.String(), m.MetricsPort)}
			if c.ListenLocalhost && !ip.IsLoopback() {
				mem.ListenMetricsURLs = append(mem.ListenMetricsURLs, URL("http", "127.0.0.1", m.MetricsPort))
			}
		}
		initial = append(initial, mem.Name+"="+mem.PeerURL)
		m.ClientURLs = append(m.ClientURLs, mem.ClientURL)
		m.Members = append(m.Members, mem)
	}
	m.InitialCluster = strings.Join(initial, ",")

	m.Kubernetes = resolveKubernetes(c, m.Scheme)
	m.Ops = resolveOps(c, m)

	if c.TLS.Enabled {
		m.Certs = planCerts(m)
		byName := map[string]*Cert{}
		for i := range m.Certs {
			byName[m.Certs[i].Name] = &m.Certs[i]
		}
		for i := range m.Members {
			m.Members[i].ServerCert = byName[m.Members[i].Name+"/server"]
			m.Members[i].PeerCert = byName[m.Members[i].Name+"/peer"]
		}
	}
	return m, nil
}

// memo caches artifacts derived from the model. Targets run in parallel
// on one model, and some share work (the helm target wraps the k8s
// target's documents).
type memo struct {
	mu   sync.Mutex
	once map[string]*memoEntry
}

type memoEntry struct {
	once sync.Once
	val  any
	err  error
}

// Memo computes f once per model and key; every caller gets its result.
// f must be a pure function of the model.
func (m *Model) Memo(key string, f func() (any, error)) (any, error) {
	m.memo.mu.Lock()
	if m.memo.once == nil {
		m.memo.once = map[string]*memoEntry{}
	}
	e := m.memo.once[key]
	if e == nil {
		e = &memoEntry{}
		m.memo.once[key] = e
	}
	m.memo.mu.Unlock()
	e.once.Do(func() { e.val, e.err = f() })
	return e.val, e.err
}

// URL joins scheme, host and port; IPv6 hosts get brackets.
func URL(scheme, host string, port int) string {
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// Duration parses a duration the schema has already checked.
func Duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
