package plan

import (
	"fmt"

	"github.com/etcdgen/etcdgen/render"
)

// minPatch is the oldest patch of a minor that may be upgraded to the next
// minor, from etcd's upgrade guides:
//   - 3.5 to 3.6: "make sure that all of your 3.5 members are updated to
//     3.5.26 or later. Patch releases 3.5.24 through 3.5.26 fix several
//     potential upgrade blockers" (https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/;
//     3.5.20 is the older floor, for "too many learner member",
//     https://etcd.io/blog/2025/upgrade_from_3.5_to_3.6_issue).
//   - 3.6 to 3.7: "make sure that all of your 3.6 members are updated to
//     3.6.11 or later" (https://etcd.io/docs/v3.7/upgrades/upgrade_3_7/).
var minPatch = map[[2]int]int{
	{3, 5}: 26,
	{3, 6}: 11,
}

// versionGate says why etcd does not support going from old to new in one
// rolling upgrade, or "" when it does. etcd supports patch changes within
// a minor and one minor up at a time ("Upgrades that skip a minor version
// are not supported and will likely fail",
// https://etcd.io/docs/v3.6/upgrades/upgrading-etcd/); a minor downgrade
// needs `etcdctl downgrade`, which a plan does not do.
func versionGate(old, new render.Version) string {
	switch {
	case old.Major != new.Major:
		return fmt.Sprintf("%s to %s changes the major version; etcd supports one minor at a time", old, new)
	case new.Minor < old.Minor:
		return fmt.Sprintf("%s to %s is a minor downgrade; etcd needs `etcdctl downgrade enable` and its own procedure for that (https://etcd.io/docs/v3.6/downgrades/), which etcdgen does not plan", old, new)
	case new.Minor > old.Minor+1:
		return fmt.Sprintf("%s to %s skips a minor version; upgrade one minor at a time: first to %d.%d.x", old, new, old.Major, old.Minor+1)
	case new.Minor == old.Minor+1:
		if p, ok := minPatch[[2]int{old.Major, old.Minor}]; ok && old.Patch < p {
			return fmt.Sprintf("%s to %s: etcd's upgrade guide requires %d.%d.%d or later before moving to %d.%d; upgrade to the newest %d.%d patch first", old, new, old.Major, old.Minor, p, new.Major, new.Minor, old.Major, old.Minor)
		}
	}
	return ""
}
