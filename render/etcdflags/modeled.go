package etcdflags

// Modeled maps each flag etcdgen writes from the spec to the spec field
// that sets it: extraFlags may not set these (a second value would either
// be ignored or win silently, depending on the target).
var Modeled = map[string]string{
	"name":                           "members[].name",
	"data-dir":                       "dataDir",
	"wal-dir":                        "walDir",
	"listen-peer-urls":               "ports.peer",
	"initial-advertise-peer-urls":    "ports.peer",
	"listen-client-urls":             "ports.client",
	"advertise-client-urls":          "ports.client",
	"listen-client-http-urls":        "ports.clientHTTP",
	"listen-metrics-urls":            "ports.metrics",
	"initial-cluster":                "members",
	"initial-cluster-state":          "initialClusterState",
	"initial-cluster-token":          "token",
	"cert-file":                      "tls.dir",
	"key-file":                       "tls.dir",
	"trusted-ca-file":                "tls.dir",
	"client-cert-auth":               "tls.clientCertAuth",
	"peer-cert-file":                 "tls.dir",
	"peer-key-file":                  "tls.dir",
	"peer-trusted-ca-file":           "tls.dir",
	"peer-client-cert-auth":          "tls.peerCertAuth",
	"tls-min-version":                "tls.minVersion",
	"heartbeat-interval":             "tuning.heartbeatInterval",
	"election-timeout":               "tuning.electionTimeout",
	"snapshot-count":                 "tuning.snapshotCount",
	"quota-backend-bytes":            "tuning.quotaBackendBytes",
	"auto-compaction-mode":           "tuning.autoCompaction",
	"auto-compaction-retention":      "tuning.autoCompaction",
	"watch-progress-notify-interval": "tuning.watchProgressNotifyInterval",
	"experimental-watch-progress-notify-interval": "tuning.watchProgressNotifyInterval",
	"experimental-initial-corrupt-check":          "tuning.initialCorruptCheck",
}

// Refused are flags that exist but break what etcdgen writes, with why.
var Refused = map[string]string{
	// etcdmain: "if a configuration file is provided, other command line
	// flags and environment variables will be ignored".
	"config-file": "etcd would ignore every other flag and ETCD_* variable",
	"version":     "etcd would print its version and exit",
}
