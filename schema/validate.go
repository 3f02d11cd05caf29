package schema

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/etcdgen/etcdgen/render/etcdflags"
)

// validate checks the rules CUE expresses badly: uniqueness, addresses,
// port collisions, timing relations. It reports every problem, not the
// first; pos finds a field in the user's file, has tells whether the user
// wrote it (or it is a default).
func validate(c *Cluster, pos func(path string) Pos, has func(path string) bool) (errs, warns []Problem) {
	bad := func(path, format string, args ...any) {
		errs = append(errs, Problem{Pos: pos(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(path, format string, args ...any) {
		warns = append(warns, Problem{Pos: pos(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case !c.HasMembers && c.Kubernetes == nil:
		bad("", "no members: list the hosts (members: [{name: \"etcd1\", ip: \"10.0.0.11\"}, ...]), or add a kubernetes: block for a cluster that runs only as pods")
	case c.HasMembers && len(c.Members) == 0:
		bad("members", "empty member list; want at least one member, e.g. [{name: \"etcd1\", ip: \"10.0.0.11\"}]")
	}

	checkMembers(c.Members, false, bad)
	checkHostnames(c.Members, bad)
	checkStrings(c, bad)
	checkPaths(c, bad)
	checkKubernetesNames(c, has, bad)
	checkResources(c, bad)
	checkPods(c.Kubernetes, bad)

	ports := []struct {
		path string
		port int
	}{{"ports.client", c.Ports.Client}, {"ports.peer", c.Ports.Peer}, {"ports.clientHTTP", c.Ports.ClientHTTP}}
	if c.Ports.Metrics != nil && *c.Ports.Metrics != 0 {
		ports = append(ports, struct {
			path string
			port int
		}{"ports.metrics", *c.Ports.Metrics})
	}
	for i := range ports {
		for j := 0; j < i; j++ {
			if ports[i].port != ports[j].port {
				continue
			}
			// Point at the port the user wrote; the other may be a default.
			at, other := ports[i].path, ports[j].path
			if !has(at) && has(other) {
				at, other = other, at
			}
			if !has(other) {
				other += " (default)"
			}
			bad(at, "port %d is also %s; want a different port for each listener", ports[i].port, other)
		}
	}
	if c.Ports.Metrics == nil {
		// The host default (2381) must not collide with a custom port.
		for _, p := range ports {
			if p.port == 2381 {
				bad(p.path, "port 2381 is the default metrics port; set ports.metrics to another port, or 0 to turn metrics off")
			}
		}
	}

	if t := c.Tuning; t.ElectionTimeout < 5*t.HeartbeatInterval && !has("tuning.electionTimeout") {
		bad("tuning.heartbeatInterval", "%d ms needs an election timeout of at least %d ms (5x), but tuning.electionTimeout is %d ms (default); raise tuning.electionTimeout or lower the heartbeat", t.HeartbeatInterval, 5*t.HeartbeatInterval, t.ElectionTimeout)
	} else if t.ElectionTimeout < 5*t.HeartbeatInterval {
		bad("tuning.electionTimeout", "%d ms is less than 5x the heartbeat interval (%d ms); want at least %d ms (etcd refuses to start otherwise)", t.ElectionTimeout, t.HeartbeatInterval, 5*t.HeartbeatInterval)
	}

	durations := map[string]string{
		"tls.caValidity":   c.TLS.CAValidity,
		"tls.certValidity": c.TLS.CertValidity,
		"tls.renewBefore":  c.TLS.RenewBefore,
	}
	parsed := map[string]time.Duration{}
	for _, path := range []string{"tls.caValidity", "tls.certValidity", "tls.renewBefore"} {
		d, err := time.ParseDuration(durations[path])
		if err != nil || d <= 0 {
			bad(path, "%q is not a positive duration; want e.g. \"43800h\"", durations[path])
			continue
		}
		parsed[path] = d
	}
	if ca, leaf := parsed["tls.caValidity"], parsed["tls.certValidity"]; ca > 0 && leaf > ca {
		bad("tls.certValidity", "%s outlives the CA (tls.caValidity %s); want at most the CA's validity", c.TLS.CertValidity, c.TLS.CAValidity)
	}
	if leaf, renew := parsed["tls.certValidity"], parsed["tls.renewBefore"]; leaf > 0 && renew >= leaf {
		bad("tls.renewBefore", "%s is not shorter than tls.certValidity %s; every run would re-issue every cert", c.TLS.RenewBefore, c.TLS.CertValidity)
	}
	if c.Tuning.WatchProgressNotifyInterval != "" {
		if _, err := time.ParseDuration(c.Tuning.WatchProgressNotifyInterval); err != nil {
			bad("tuning.watchProgressNotifyInterval", "%q is not a duration; want e.g. \"5s\"", c.Tuning.WatchProgressNotifyInterval)
		}
	}
	if ac := c.Tuning.AutoCompaction; ac != nil {
		if ac.Mode == "revision" && strings.IndexFunc(ac.Retention, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			bad("tuning.autoCompaction.retention", "%q is not a revision count; want an integer such as \"1000\" for mode \"revision\"", ac.Retention)
		}
	}
	if c.WALDir != "" && strings.TrimSuffix(c.WALDir, "/") == strings.TrimSuffix(c.DataDir, "/") {
		bad("walDir", "%q is the data directory; want a separate directory or none", c.WALDir)
	}
	checkOps(c, bad)

	table := checkVersion(c.Version, bad, warn)
	if table != nil {
		checkExtraFlags(c, table, bad)
	}

	if len(errs) > 0 {
		return errs, warns
	}
	if c.HasMembers {
		warnSize(warn, "members", len(c.Members), "members", "member")
	}
	if k := c.Kubernetes; k != nil && k.Replicas != 0 {
		warnSize(warn, "kubernetes.replicas", k.Replicas, "replicas", "replica")
	}
	return errs, warns
}

// warnSize warns about a cluster size etcd's quorum makes a poor choice.
func warnSize(warn func(path, format string, args ...any), path string, n int, plural, one string) {
	switch {
	case n == 1:
		warn(path, "one %s: no fault tolerance; 3 or 5 %s survive 1 or 2 failures", one, plural)
	case n > 7:
		warn(path, "%d %s: every write waits for a majority of %d; etcd recommends at most 7", n, plural, n/2+1)
	case n%2 == 0:
		warn(path, "%d %s tolerate as many failures as %d (%d); an odd count is better", n, plural, n-1, (n-1)/2)
	}
}

// checkMembers reports duplicate names, addresses and hostnames and
// malformed addresses. lenient skips empty names and addresses: the
// members were read from a spec CUE rejected, where a field may be
// missing or of the wrong type.
func checkMembers(members []Member, lenient bool, bad func(path, format string, args ...any)) {
	names := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, m := range members {
		p := fmt.Sprintf("members[%d]", i)
		if j, ok := names[m.Name]; ok && !(lenient && m.Name == "") {
			bad(p+".name", "duplicate member name %q (also members[%d]); want a unique name per member", m.Name, j)
		} else if !ok {
			names[m.Name] = i
		}
		if lenient && m.IP == "" {
			continue
		}
		addr, msg := ParseMemberIP(m.IP)
		if msg != "" {
			bad(p+".ip", "%q %s", m.IP, msg)
			continue
		}
		if j, ok := addrs[addr]; ok {
			bad(p+".ip", "duplicate address %s (also members[%d]); want one address per member", addr, j)
		} else {
			addrs[addr] = i
		}
		hosts := map[string]bool{}
		for k, h := range m.Hostnames {
			if lenient && h == "" {
				continue
			}
			if hosts[h] {
				bad(fmt.Sprintf("%s.hostnames[%d]", p, k), "duplicate hostname %q", h)
			}
			hosts[h] = true
		}
	}
}

// ParseMemberIP parses a member address strictly: no zones, no IPv4-mapped
// IPv6, no unspecified or multicast addresses (an etcd member must be
// reachable at it). The message says what is wrong, or is empty.
func ParseMemberIP(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, "is not an IP address; want IPv4 such as \"10.0.0.11\" or IPv6 such as \"fd00::11\" (no leading zeros, no port)"
	}
	switch {
	case a.Zone() != "":
		return a, "has a zone; want an address without %zone (etcd peers cannot use link-local zones)"
	case a.Is4In6():
		return a, fmt.Sprintf("is an IPv4-mapped IPv6 address; write the IPv4 address %q", a.Unmap())
	case a.IsUnspecified():
		return a, "is the unspecified address; want the member's own address"
	case a.IsMulticast():
		return a, "is a multicast address; want the member's own address"
	case a.IsLinkLocalUnicast():
		return a, "is a link-local address, usable only with a %zone that etcd's URLs cannot carry; want a global or private address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return a, "is the broadcast address; want the member's own address"
	case a.Is4() && a.As4()[0] >= 240:
		return a, "is in 240.0.0.0/4, reserved (RFC 1112 4); want the member's own address"
	}
	return a, ""
}

// checkVersion returns the flag table of the spec's etcd minor. A minor
// without a table is an error; a patch the end-to-end suite does not run
// is a warning naming the ones it does.
func checkVersion(version string, bad, warn func(path, format string, args ...any)) *etcdflags.Table {
	minor := version
	if i := strings.LastIndex(version, "."); i > 0 {
		minor = version[:i]
	}
	tested := etcdflags.Tested()
	t := etcdflags.For(minor)
	if t == nil {
		bad("version", "etcd %s is not supported; want a release of %s (tested: %s)", version, strings.Join(etcdflags.Minors(), ", "), strings.Join(tested, ", "))
		return nil
	}
	if !slices.Contains(tested, version) {
		warn("version", "etcd %s is not tested; the end-to-end suite runs %s (its flags are read from etcd %s)", version, strings.Join(tested, ", "), t.Source)
	}
	return t
}

// checkExtraFlags refuses an extraFlags entry etcd would not honour: a
// flag the version does not have (with the closest name it has), a
// deprecated or ignored one, and one a spec field already sets.
func checkExtraFlags(c *Cluster, t *etcdflags.Table, bad func(path, format string, args ...any)) {
	names := make([]string, 0, len(c.ExtraFlags))
	for name := range c.ExtraFlags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := "extraFlags." + strconv.Quote(name)
		if strings.HasPrefix(name, "-") {
			bad(path, "flag names are written without dashes; want %q", strings.TrimLeft(name, "-"))
			continue
		}
		if field, ok := etcdflags.Modeled[name]; ok {
			bad(path, "--%s is set from %s; set that field instead", name, field)
			continue
		}
		if name == "feature-gates" && c.Tuning.InitialCorruptCheck {
			bad(path, "--feature-gates is also set from tuning.initialCorruptCheck; add InitialCorruptCheck=true here and set tuning.initialCorruptCheck to false")
			continue
		}
		if why, ok := etcdflags.Refused[name]; ok {
			bad(path, "--%s is refused: %s", name, why)
			continue
		}
		switch t.Status(name) {
		case etcdflags.Supported:
			continue
		case etcdflags.Deprecated:
			if plain := strings.TrimPrefix(name, "experimental-"); plain != name && t.Has(plain) {
				bad(path, "--%s is deprecated in etcd %s; want %q", name, t.Minor, plain)
			} else {
				bad(path, "--%s is deprecated in etcd %s (etcd warns and may ignore it); want its replacement", name, t.Minor)
			}
			continue
		case etcdflags.Ignored:
			bad(path, "--%s is ignored by etcd %s", name, t.Minor)
			continue
		}
		msg := fmt.Sprintf("etcd %s has no flag --%s", t.Minor, name)
		if last := lastWith(name, t.Minor); last != "" {
			msg += fmt.Sprintf(" (etcd %s was the last with it)", last)
		} else if in := etcdflags.In(name); len(in) > 0 {
			msg += fmt.Sprintf(" (added in %s)", in[0])
		}
		if t.Has("experimental-" + name) {
			msg += fmt.Sprintf("; did you mean %q?", "experimental-"+name)
		} else if s := closest(name, t.Flags); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else if strings.HasPrefix(name, "experimental-") && t.Has(strings.TrimPrefix(name, "experimental-")) {
			msg += fmt.Sprintf("; did you mean %q?", strings.TrimPrefix(name, "experimental-"))
		} else {
			msg += "; want a flag of `etcd --help`"
		}
		bad(path, "%s", msg)
	}
}

// lastWith is the newest minor before minor that knows the flag at all
// (deprecated included), or "".
func lastWith(name, minor string) string {
	last := ""
	for _, m := range etcdflags.Minors() {
		if m == minor {
			break
		}
		if etcdflags.For(m).Status(name) != etcdflags.Unknown {
			last = m
		}
	}
	return last
}
