package render

import (
	"fmt"
	"path"
	"time"

	"github.com/etcdgen/etcdgen/schema"
)

// Ops is what the operations outputs (snapshot, defrag, monitoring,
// firewall) need beyond the spec's blocks, derived once.
type Ops struct {
	// Etcdctl and Etcdutl sit next to host.binary: etcd's release
	// tarballs ship etcd, etcdctl and etcdutl in one directory.
	Etcdctl string
	Etcdutl string
	// SnapshotCalendar and DefragCalendar are systemd OnCalendar= values,
	// one per member in member order (see Spread).
	SnapshotCalendar []string
	DefragCalendar   []string
	// ServiceUser is true when etcd runs as a user other than root: the
	// host then needs the user and its directories created
	// (sysusers.d/tmpfiles.d).
	ServiceUser bool
	// Auth is the auth bootstrap's users and the members' --auth-token
	// (render/auth.go).
	Auth Auth
}

func resolveOps(c *schema.Cluster, m *Model) Ops {
	dir := path.Dir(c.Host.Binary)
	o := Ops{
		Etcdctl:     path.Join(dir, "etcdctl"),
		Etcdutl:     path.Join(dir, "etcdutl"),
		ServiceUser: c.Host.User != "root",
		Auth:        resolveAuth(c, m.HostTLS),
	}
	n := len(m.Members)
	for i := range m.Members {
		o.SnapshotCalendar = append(o.SnapshotCalendar, Spread(Duration(c.Backup.Interval), i, n, false))
		o.DefragCalendar = append(o.DefragCalendar, Spread(Duration(c.Defrag.Interval), i, n, true))
	}
	return o
}

// Spread is the OnCalendar= expression of member i of n for a job that runs
// every interval: the members' slots are spread evenly over the interval,
// so no two members run it at the same instant (a defragmentation blocks
// the member it runs on; two at once can cost quorum). half moves the slot
// by half a slot, so one member's snapshot and defrag never coincide.
// interval is one of the schema's: a divisor of 1h below an hour, a
// divisor of 24h above.
func Spread(interval time.Duration, i, n int, half bool) string {
	slot := interval / time.Duration(max(n, 1))
	off := slot * time.Duration(i)
	if half {
		off += slot / 2
	}
	off = off.Truncate(time.Second)
	h, mnt, s := int(off/time.Hour), int(off%time.Hour/time.Minute), int(off%time.Minute/time.Second)
	switch {
	case interval < time.Hour:
		return fmt.Sprintf("*-*-* *:%02d/%d:%02d", mnt, int(interval/time.Minute), s)
	case interval == time.Hour:
		return fmt.Sprintf("*-*-* *:%02d:%02d", mnt, s)
	case interval < 24*time.Hour:
		return fmt.Sprintf("*-*-* %02d/%d:%02d:%02d", h, int(interval/time.Hour), mnt, s)
	default:
		return fmt.Sprintf("*-*-* %02d:%02d:%02d", h, mnt, s)
	}
}
