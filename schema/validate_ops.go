package schema

import (
	"fmt"
	"net/netip"
	"time"
)

// checkOps checks the operations blocks' cross-field rules: networks that
// parse (nftables refuses a malformed one, and a host bit set is a typo
// more often than intent), and monitoring that has a port to scrape.
func checkOps(c *Cluster, bad func(path, format string, args ...any)) {
	for _, l := range []struct {
		path string
		nets []string
	}{{"firewall.clientsFrom", c.Firewall.ClientsFrom}, {"firewall.metricsFrom", c.Firewall.MetricsFrom}} {
		for i, s := range l.nets {
			p, err := netip.ParsePrefix(s)
			switch {
			case err != nil:
				bad(fmt.Sprintf("%s[%d]", l.path, i), "%q is not a network; want e.g. \"10.0.0.0/24\" or \"fd00::/64\"", s)
			case p.Masked() != p:
				bad(fmt.Sprintf("%s[%d]", l.path, i), "%q has host bits set; want %q", s, p.Masked().String())
			}
		}
	}
	if c.Auth.Enabled {
		// The bootstrap makes users without a password: etcd can only
		// tell who a client is from its certificate's CN
		// (https://etcd.io/docs/v3.6/op-guide/authentication/rbac/#using-tls-common-name).
		switch {
		case !c.TLS.Enabled:
			bad("auth.enabled", "etcd auth needs tls.enabled: its users have no password and are named by their client certificate's CN; want tls.enabled: true or auth.enabled: false")
		case !c.TLS.ClientCertAuth:
			bad("auth.enabled", "etcd auth needs tls.clientCertAuth: its users have no password and are named by their client certificate's CN; want tls.clientCertAuth: true or auth.enabled: false")
		}
		if !c.HasMembers {
			bad("auth.enabled", "the auth bootstrap is made for host members (the systemd target); this spec has none; want members or auth.enabled: false")
		}
		if c.Tuning.AutoCompaction == nil {
			// etcd's Compact RPC needs the root role once auth is on
			// (v3rpc kvServer.Compact: IsAdminPermitted), so
			// kube-apiserver's least-privilege user cannot compact.
			bad("auth.enabled", "with etcd auth on, only root may compact (etcd's Compact RPC needs the root role), so kube-apiserver's compactor cannot; want tuning.autoCompaction set (e.g. {mode: \"periodic\", retention: \"5m\"}) so etcd compacts itself")
		}
		if _, ok := c.ExtraFlags["auth-token"]; ok {
			bad(`extraFlags."auth-token"`, "--auth-token is set from auth.enabled (a JWT key pair from the bundle); remove it here")
		}
		if d, err := time.ParseDuration(c.Auth.TokenTTL); err == nil && d < time.Second {
			bad("auth.tokenTTL", "%q is shorter than a second; want e.g. \"5m\"", c.Auth.TokenTTL)
		}
	}
	if c.Monitoring.Enabled && c.HasMembers && c.Ports.Metrics != nil && *c.Ports.Metrics == 0 {
		bad("ports.metrics", "0 turns the metrics listener off, but monitoring.enabled scrapes it; want a port (default 2381) or monitoring.enabled: false")
	}
}
