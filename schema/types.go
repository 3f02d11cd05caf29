package schema

// Cluster is a validated spec with the schema's defaults filled in. Field
// comments live in cluster.cue, the user-facing contract; these structs only
// mirror it for decoding. Optional fields are pointers or empty values.
type Cluster struct {
	Name                string      `json:"name"`
	Version             string      `json:"version"`
	Members             []Member    `json:"members"`
	Ports               Ports       `json:"ports"`
	DataDir             string      `json:"dataDir"`
	WALDir              string      `json:"walDir"`
	Token               string      `json:"token"`
	InitialClusterState string      `json:"initialClusterState"`
	ListenLocalhost     bool        `json:"listenLocalhost"`
	TLS                 TLS         `json:"tls"`
	Tuning              Tuning      `json:"tuning"`
	Host                Host        `json:"host"`
	APIServer           APIServer   `json:"apiserver"`
	Kubeadm             Kubeadm     `json:"kubeadm"`
	Kubernetes          *Kubernetes `json:"kubernetes"`
	// ExtraFlags are etcd flags etcdgen does not model, name -> value.
	ExtraFlags map[string]string `json:"extraFlags"`

	// Operations (backup, defrag, auth, monitoring, firewall).
	Backup     Backup     `json:"backup"`
	Defrag     Defrag     `json:"defrag"`
	Auth       Auth       `json:"auth"`
	Monitoring Monitoring `json:"monitoring"`
	Firewall   Firewall   `json:"firewall"`

	// Source is where the spec came from, as the user named it ("-" for
	// stdin, "" for the built-in example).
	Source string `json:"-"`
	// HasMembers tells a Kubernetes-only spec (members left out) from one
	// with members.
	HasMembers bool `json:"-"`
}

type Member struct {
	Name         string   `json:"name"`
	IP           string   `json:"ip"`
	Hostnames    []string `json:"hostnames"`
	InitialState string   `json:"initialState"`
	Replace      bool     `json:"replace"`
}

type Ports struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
	// Metrics is nil when the spec leaves it to the target's default.
	Metrics *int `json:"metrics"`
	// ClientHTTP is the port of --listen-client-http-urls.
	ClientHTTP int `json:"clientHTTP"`
}

type TLS struct {
	Enabled        bool   `json:"enabled"`
	ClientCertAuth bool   `json:"clientCertAuth"`
	PeerCertAuth   bool   `json:"peerCertAuth"`
	KeyAlgorithm   string `json:"keyAlgorithm"`
	KeySize        int    `json:"keySize"`
	CAValidity     string `json:"caValidity"`
	CertValidity   string `json:"certValidity"`
	RenewBefore    string `json:"renewBefore"`
	MinVersion     string `json:"minVersion"`
	Dir            string `json:"dir"`
}

type Tuning struct {
	HeartbeatInterval           int             `json:"heartbeatInterval"`
	ElectionTimeout             int             `json:"electionTimeout"`
	SnapshotCount               int             `json:"snapshotCount"`
	QuotaBackendBytes           int64           `json:"quotaBackendBytes"`
	AutoCompaction              *AutoCompaction `json:"autoCompaction"`
	InitialCorruptCheck         bool            `json:"initialCorruptCheck"`
	WatchProgressNotifyInterval string          `json:"watchProgressNotifyInterval"`
}

type AutoCompaction struct {
	Mode      string `json:"mode"`
	Retention string `json:"retention"`
}

type Host struct {
	Binary      string `json:"binary"`
	User        string `json:"user"`
	LimitNOFILE int    `json:"limitNOFILE"`
}

type APIServer struct {
	CAFile   string `json:"caFile"`
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
	Prefix   string `json:"prefix"`
}

type Kubeadm struct {
	APIVersion           string `json:"apiVersion"`
	KubernetesVersion    string `json:"kubernetesVersion"`
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint"`
}

type Kubernetes struct {
	Namespace       string     `json:"namespace"`
	Replicas        int        `json:"replicas"`
	ClusterDomain   string     `json:"clusterDomain"`
	StatefulSetName string     `json:"statefulSetName"`
	Image           string     `json:"image"`
	StorageSize     string     `json:"storageSize"`
	StorageClass    string     `json:"storageClass"`
	AntiAffinity    string     `json:"antiAffinity"`
	Resources       *Resources `json:"resources"`
	CertManager     bool       `json:"certManager"`
	IssuerRef       *IssuerRef `json:"issuerRef"`

	// The pod template's placement and identity (cluster.cue says each
	// default).
	NodeSelector              map[string]string  `json:"nodeSelector"`
	Tolerations               []Toleration       `json:"tolerations"`
	PriorityClassName         string             `json:"priorityClassName"`
	TopologySpreadConstraints []TopologySpread   `json:"topologySpreadConstraints"`
	PodLabels                 map[string]string  `json:"podLabels"`
	PodAnnotations            map[string]string  `json:"podAnnotations"`
	ImagePullSecrets          []string           `json:"imagePullSecrets"`
	ServiceAccountName        string             `json:"serviceAccountName"`
	VolumePermissions         *VolumePermissions `json:"volumePermissions"`
}

type Toleration struct {
	Key               string `json:"key"`
	Operator          string `json:"operator"`
	Value             string `json:"value"`
	Effect            string `json:"effect"`
	TolerationSeconds *int64 `json:"tolerationSeconds"`
}

type TopologySpread struct {
	TopologyKey       string `json:"topologyKey"`
	MaxSkew           int    `json:"maxSkew"`
	WhenUnsatisfiable string `json:"whenUnsatisfiable"`
}

type VolumePermissions struct {
	Image string `json:"image"`
}

type Resources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Group string `json:"group"`
}

// Operations blocks; cluster.cue documents every field and its default.

type Backup struct {
	Enabled  bool   `json:"enabled"`
	Interval string `json:"interval"`
	Dir      string `json:"dir"`
	Keep     int    `json:"keep"`
	// Kubernetes: the k8s target's CronJobs (cluster.cue).
	Kubernetes BackupKubernetes `json:"kubernetes"`
}

type BackupKubernetes struct {
	Image        string `json:"image"`
	Size         string `json:"size"`
	StorageClass string `json:"storageClass"`
}

type Defrag struct {
	Enabled      bool   `json:"enabled"`
	Interval     string `json:"interval"`
	FreePercent  int    `json:"freePercent"`
	MinFreeBytes int64  `json:"minFreeBytes"`
}

type Auth struct {
	Enabled  bool   `json:"enabled"`
	TokenTTL string `json:"tokenTTL"`
}

type Monitoring struct {
	Enabled      bool              `json:"enabled"`
	Kubernetes   bool              `json:"kubernetes"`
	Labels       map[string]string `json:"labels"`
	QuotaPercent int               `json:"quotaPercent"`
	TextfileDir  string            `json:"textfileDir"`
}

type Firewall struct {
	Enabled     bool     `json:"enabled"`
	ClientsFrom []string `json:"clientsFrom"`
	MetricsFrom []string `json:"metricsFrom"`
}
