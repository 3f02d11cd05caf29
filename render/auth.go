package render

import (
	"strings"

	"github.com/etcdgen/etcdgen/schema"
)

// AuthTokenKey is the bundle path, without extension, of the key pair etcd
// signs its auth tokens with: AuthTokenKey+".key" (ECDSA P-256, 0600) and
// AuthTokenKey+".pub" (its public key, PKIX). One pair for the whole
// cluster: a token one member signs is checked by the others.
const AuthTokenKey = "auth/token"

// AuthSignMethod is the JWT signing method: ES256 is in every supported
// minor (etcd 3.5 auth/options.go knows RS*, PS*, ES* and HS*; 3.6 and
// 3.7 add EdDSA), and its P-256 key is small and quick to make.
const AuthSignMethod = "ES256"

// DefaultAPIServerPrefix is kube-apiserver's --etcd-prefix default.
const DefaultAPIServerPrefix = "/registry"

// Auth is what the auth bootstrap and the members' --auth-token need,
// derived once. Zero when auth.enabled is false.
type Auth struct {
	Enabled bool
	// TokenKeyFile and TokenPubFile are the key pair's paths on the hosts,
	// in tls.dir beside the certificates.
	TokenKeyFile string
	TokenPubFile string
	// Token is --auth-token (ETCD_AUTH_TOKEN).
	Token string
	// Users are created in this order; root first (auth enable needs it).
	Users []AuthUser
}

// AuthUser is an etcd user named after a client cert's CN, with a role of
// the same name (root's is etcd's built-in root role).
type AuthUser struct {
	Name string
	// Cert is the bundle name of the client cert that acts as this user.
	Cert string
	// Why says, for the script's comments, what the user needs and why.
	Why   string
	Perms []AuthPerm
}

// AuthPerm is one `etcdctl role grant-permission`.
type AuthPerm struct {
	Type   string // "read", "write" or "readwrite"
	Key    string
	Prefix bool // the key is a prefix (--prefix)
}

// RootRole is etcd's built-in role that may do everything, maintenance
// included (auth/store.go IsAdminPermitted: hasRootRole).
const RootRole = "root"

func resolveAuth(c *schema.Cluster, h HostTLS) Auth {
	if !c.Auth.Enabled {
		return Auth{}
	}
	a := Auth{
		Enabled:      true,
		TokenKeyFile: h.Dir + "/auth-token.key",
		TokenPubFile: h.Dir + "/auth-token.pub",
	}
	a.Token = strings.Join([]string{"jwt", "pub-key=" + a.TokenPubFile, "priv-key=" + a.TokenKeyFile,
		"sign-method=" + AuthSignMethod, "ttl=" + c.Auth.TokenTTL}, ",")
	prefix := c.APIServer.Prefix
	if prefix == "" {
		prefix = DefaultAPIServerPrefix
	}
	for _, cc := range clientCerts {
		u := AuthUser{Name: cc.cn, Cert: cc.name}
		switch cc.name {
		case ClientAdmin:
			u.Why = "the admin: etcdctl on the hosts, and the snapshot and defrag jobs. Snapshot, Defragment, Compact, Hash, HashKV, MoveLeader, Downgrade and alarm disarm are refused to any user without the root role (etcd's v3rpc authMaintenanceServer and kvServer.Compact: IsAdminPermitted), so these jobs run as root; a narrower role cannot do them."
		case ClientAPIServer:
			u.Why = "kube-apiserver: read-write on its --etcd-prefix (" + prefix + "/; its health check reads " + prefix + "/health), read on compact_rev_key, the key outside the prefix its watch cache follows (k8s.io/apiserver storage/etcd3/compact.go). Not compaction: under auth the Compact RPC needs the root role, so etcd compacts itself (tuning.autoCompaction) and the apiserver target sets --etcd-compaction-interval=0."
			u.Perms = []AuthPerm{{Type: "readwrite", Key: prefix + "/", Prefix: true}, {Type: "read", Key: "compact_rev_key"}}
		case ClientHealthcheck:
			u.Why = "health checks: `etcdctl endpoint health` reads the key \"health\" (a linearized read through raft) and lists alarms, which any authenticated user may do; nothing else."
			u.Perms = []AuthPerm{{Type: "read", Key: "health"}}
		}
		a.Users = append(a.Users, u)
	}
	return a
}
