package render

import (
	"fmt"
	"path"
	"strings"

	"github.com/etcdgen/etcdgen/schema"
)

// Kubernetes is the cluster as a StatefulSet.
type Kubernetes struct {
	Namespace     string
	Replicas      int
	ClusterDomain string
	// StatefulSet is also the headless Service's name: pods resolve as
	// <pod>.<StatefulSet>.
	StatefulSet   string
	ClientService string
	Image         string
	StorageSize   string
	StorageClass  string
	AntiAffinity  string
	MetricsPort   int
	ClientPort    int
	// ClientHTTPPort is --listen-client-http-urls (see Member).
	ClientHTTPPort int
	PeerPort       int
	Resources      schema.Resources
	IssuerRef      *schema.IssuerRef
	// CertManager: cert-manager makes the TLS Secrets; otherwise the
	// bundle's kubernetes/server and kubernetes/peer certs do
	// (k8s-secrets target).
	CertManager bool
	// Volumes: the data volume is mounted at DataMount (the spec's
	// dataDir) and etcd keeps its data in DataDir, a subdirectory it makes
	// 0700 itself (a volume's root is group-writable for fsGroup and may
	// hold lost+found). WALMount is set when the spec's walDir lies outside
	// dataDir and so gets a volume of its own; WALDir is then inside it.
	DataMount, DataDir string
	WALMount, WALDir   string
	// Labels selecting the pods (app.kubernetes.io/name, .../instance).
	Labels map[string]string
	Pods   []Pod
	// InitialCluster is --initial-cluster of the pods.
	InitialCluster string
	// ClientURLs are the pods' advertised client URLs, in pod order.
	ClientURLs []string
	// Secret names the certificates are written to.
	CASecret, ServerSecret, PeerSecret, ClientSecret string

	// The pod template's placement and identity, as the spec says (none
	// has a default; cluster.cue documents each).
	NodeSelector              map[string]string
	Tolerations               []schema.Toleration
	PriorityClassName         string
	TopologySpreadConstraints []schema.TopologySpread
	PodLabels, PodAnnotations map[string]string
	ImagePullSecrets          []string
	ServiceAccountName        string
	// VolumePermissionsImage, when set, runs an init container of this
	// image as root to chown the data and WAL volumes to the pods' user.
	VolumePermissionsImage string

	// Partition is the StatefulSet's rollingUpdate.partition: pods with a
	// lower ordinal keep their revision when the template changes. Never
	// from a spec (0: none); etcdgen plan sets it in a step's manifest so
	// that the pods running before the step are not restarted.
	Partition int
}

// Pod is one StatefulSet pod.
type Pod struct {
	Name string
	// PeerURL is <scheme>://<pod>.<svc>:<peer>, as etcd's Kubernetes guide.
	PeerURL string
	// ClientURL uses <pod>.<svc>.<ns>.svc, which resolves from any
	// namespace (kube-apiserver is rarely in etcd's).
	ClientURL string
	// DNSNames are every name the pod answers to, short to fully qualified.
	DNSNames []string
}

// DefaultKubernetes is the kubernetes block of a spec that has none: the
// schema's defaults (cluster.cue #Kubernetes).
func DefaultKubernetes() schema.Kubernetes {
	return schema.Kubernetes{Namespace: "default", ClusterDomain: "cluster.local", StorageSize: "1Gi", AntiAffinity: "required", CertManager: true}
}

func resolveKubernetes(c *schema.Cluster, scheme string) Kubernetes {
	spec := DefaultKubernetes()
	if c.Kubernetes != nil {
		spec = *c.Kubernetes
	}
	k := Kubernetes{
		Namespace:      spec.Namespace,
		Replicas:       spec.Replicas,
		ClusterDomain:  spec.ClusterDomain,
		StatefulSet:    spec.StatefulSetName,
		Image:          spec.Image,
		StorageSize:    spec.StorageSize,
		StorageClass:   spec.StorageClass,
		AntiAffinity:   spec.AntiAffinity,
		MetricsPort:    PodMetricsPort,
		ClientPort:     c.Ports.Client,
		ClientHTTPPort: c.Ports.ClientHTTP,
		PeerPort:       c.Ports.Peer,
		IssuerRef:      spec.IssuerRef,
		CertManager:    spec.CertManager,

		NodeSelector:              spec.NodeSelector,
		Tolerations:               spec.Tolerations,
		PriorityClassName:         spec.PriorityClassName,
		TopologySpreadConstraints: spec.TopologySpreadConstraints,
		PodLabels:                 spec.PodLabels,
		PodAnnotations:            spec.PodAnnotations,
		ImagePullSecrets:          spec.ImagePullSecrets,
		ServiceAccountName:        spec.ServiceAccountName,
	}
	if spec.VolumePermissions != nil {
		k.VolumePermissionsImage = spec.VolumePermissions.Image
	}
	if c.Ports.Metrics != nil && *c.Ports.Metrics != 0 {
		k.MetricsPort = *c.Ports.Metrics
	}
	if k.Replicas == 0 {
		k.Replicas = len(c.Members)
		if k.Replicas == 0 {
			k.Replicas = 3
		}
	}
	k.DataMount = c.DataDir
	k.DataDir = path.Join(c.DataDir, "data")
	if w := c.WALDir; w != "" {
		k.WALDir = w
		if w != c.DataDir && !strings.HasPrefix(w, strings.TrimSuffix(c.DataDir, "/")+"/") {
			k.WALMount = w
			k.WALDir = path.Join(w, "wal")
		}
	}
	if k.StatefulSet == "" {
		k.StatefulSet = c.Name
	}
	k.ClientService = k.StatefulSet + "-client"
	if k.Image == "" {
		k.Image = "gcr.io/etcd-development/etcd:v" + c.Version
	}
	if spec.Resources != nil {
		k.Resources = *spec.Resources
	} else {
		k.Resources = schema.Resources{Requests: map[string]string{"cpu": "100m", "memory": "256Mi"}}
	}
	k.Labels = map[string]string{
		"app.kubernetes.io/name":     "etcd",
		"app.kubernetes.io/instance": c.Name,
	}
	k.CASecret = k.StatefulSet + "-ca"
	k.ServerSecret = k.StatefulSet + "-server-tls"
	k.PeerSecret = k.StatefulSet + "-peer-tls"
	k.ClientSecret = k.StatefulSet + "-client-tls"

	svc, ns, dom := k.StatefulSet, k.Namespace, k.ClusterDomain
	var initial []string
	for i := 0; i < k.Replicas; i++ {
		name := fmt.Sprintf("%s-%d", k.StatefulSet, i)
		p := Pod{
			Name:      name,
			PeerURL:   URL(scheme, name+"."+svc, k.PeerPort),
			ClientURL: URL(scheme, name+"."+svc+"."+ns+".svc", k.ClientPort),
			DNSNames: []string{
				name,
				name + "." + svc,
				name + "." + svc + "." + ns,
				name + "." + svc + "." + ns + ".svc",
				name + "." + svc + "." + ns + ".svc." + dom,
			},
		}
		initial = append(initial, name+"="+p.PeerURL)
		k.ClientURLs = append(k.ClientURLs, p.ClientURL)
		k.Pods = append(k.Pods, p)
	}
	k.InitialCluster = joinComma(initial)
	return k
}

// ServiceDNSNames are the names of the Services, short to fully qualified.
func (k *Kubernetes) ServiceDNSNames() []string {
	var out []string
	for _, svc := range []string{k.StatefulSet, k.ClientService} {
		out = append(out, svc, svc+"."+k.Namespace, svc+"."+k.Namespace+".svc", svc+"."+k.Namespace+".svc."+k.ClusterDomain)
	}
	return out
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
