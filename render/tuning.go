package render

import "strconv"

// TuningFlags lists the tuning flags (name without dashes, value) as the
// spec's etcd version spells them: 3.6 renamed the --experimental-* flags
// and moved some behind --feature-gates. Targets that pass flags (k8s) and
// env files (ETCD_ + upper-cased name) share this one naming rule.
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
	newNames := m.Version.AtLeast(3, 6)
	if t.InitialCorruptCheck {
		if newNames {
			out = append(out, [2]string{"feature-gates", "InitialCorruptCheck=true"})
		} else {
			out = append(out, [2]string{"experimental-initial-corrupt-check", "true"})
		}
	}
	if t.WatchProgressNotifyInterval != "" {
		name := "watch-progress-notify-interval"
		if !newNames {
			name = "experimental-" + name
		}
		out = append(out, [2]string{name, t.WatchProgressNotifyInterval})
	}
	return out
}
