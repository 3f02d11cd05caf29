package render

import (
	"sort"
	"strconv"

	"github.com/etcdgen/etcdgen/render/etcdflags"
)

// TuningFlags lists the tuning flags (name without dashes, value) as the
// spec's etcd version spells them, then the spec's extraFlags. Targets
// that pass flags (k8s) and env files (ETCD_ + upper-cased name) share
// this one naming rule; every name is in the version's table
// (render/etcdflags, read from etcd's source), which the tests check.
func TuningFlags(m *Model) [][2]string {
	t := m.Spec.Tuning
	out := [][2]string{
		{"heartbeat-interval", strconv.Itoa(t.HeartbeatInterval)},
		{"election-timeout", strconv.Itoa(t.ElectionTimeout)},
		{"snapshot-count", strconv.Itoa(t.SnapshotCount)},
	}
	if t.QuotaBackendBytes > 0 {
		out = append(out, [2]string{"quota-backend-bytes", strconv.FormatInt(t.QuotaBackendBytes, 10)})
	}
	if ac := t.AutoCompaction; ac != nil {
		out = append(out, [2]string{"auto-compaction-mode", ac.Mode}, [2]string{"auto-compaction-retention", ac.Retention})
	}
	if t.InitialCorruptCheck {
		out = append(out, m.flag("initial-corrupt-check", "true"))
	}
	if t.WatchProgressNotifyInterval != "" {
		out = append(out, m.flag("watch-progress-notify-interval", t.WatchProgressNotifyInterval))
	}
	return append(out, ExtraFlags(m)...)
}

// ExtraFlags are the spec's extraFlags, sorted by name (the schema has
// checked each against the version's table).
func ExtraFlags(m *Model) [][2]string {
	out := make([][2]string, 0, len(m.Spec.ExtraFlags))
	for k, v := range m.Spec.ExtraFlags {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// gates are settings that 3.6 moved from an --experimental-* flag to a
// --feature-gates entry (etcd 3.6 server/features/etcd_features.go);
// 3.7 removed the flags.
var gates = map[string]string{"initial-corrupt-check": "InitialCorruptCheck"}

// flag spells a setting as m's version names it: the plain name where the
// version has it, else the --experimental-* name (3.5), else a feature
// gate (3.6 and later).
func (m *Model) flag(setting, value string) [2]string {
	t := m.Flags()
	switch {
	case t.Has(setting):
		return [2]string{setting, value}
	case gates[setting] != "" && t.Has("feature-gates"):
		return [2]string{"feature-gates", gates[setting] + "=" + value}
	default:
		return [2]string{"experimental-" + setting, value}
	}
}

// Flags is the flag table of the model's etcd minor version.
func (m *Model) Flags() *etcdflags.Table {
	return etcdflags.For(strconv.Itoa(m.Version.Major) + "." + strconv.Itoa(m.Version.Minor))
}
