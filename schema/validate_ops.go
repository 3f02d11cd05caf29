package schema

import (
	"fmt"
	"net/netip"
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
		// Refused rather than ignored: a spec that asks for auth must not
		// get a cluster without it.
		bad("auth.enabled", "etcdgen does not generate the auth bootstrap yet; want false (enable etcd auth by hand: https://etcd.io/docs/v3.6/op-guide/authentication/rbac/)")
	}
	if c.Monitoring.Enabled && c.HasMembers && c.Ports.Metrics != nil && *c.Ports.Metrics == 0 {
		bad("ports.metrics", "0 turns the metrics listener off, but monitoring.enabled scrapes it; want a port (default 2381) or monitoring.enabled: false")
	}
}
