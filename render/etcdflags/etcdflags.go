// Package etcdflags is the table of etcd's command-line flags, one list per
// minor version, read from etcd's own source (zz_generated.go, written by
// TestGenerated from the flag registrations in etcdmain/config.go and
// embed/config.go of the release the end-to-end suite runs for that minor).
//
// Every target that spells an etcd flag or an ETCD_* variable, and the
// schema's check of extraFlags, ask this table: etcd only logs a warning
// for an ETCD_* variable it does not know and runs without the setting
// (go.etcd.io/etcd/pkg/v3/flags.SetFlagsFromEnv), so a misspelt or
// removed name must be caught here, before it reaches a host.
package etcdflags

import (
	"slices"
	"sort"
)

// Table is the flags of one etcd minor version.
type Table struct {
	// Minor is "3.7"; Source is the release the lists were read from.
	Minor, Source string
	// Flags are the flags etcd accepts without a warning, sorted.
	Flags []string
	// Deprecated flags are accepted but logged as deprecated (etcdmain's
	// deprecatedFlags, or a usage text that says so): never written.
	Deprecated []string
	// Ignored flags are parsed and dropped (etcdmain's ignored list).
	Ignored []string
}

// Minors lists the minor versions in the table, oldest first.
func Minors() []string {
	out := make([]string, 0, len(tables))
	for k := range tables {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return minorLess(out[i], out[j]) })
	return out
}

// Tested lists the releases the lists were read from (the releases the
// end-to-end suite runs), newest first.
func Tested() []string {
	m := Minors()
	out := make([]string, len(m))
	for i, minor := range m {
		out[len(m)-1-i] = tables[minor].Source
	}
	return out
}

// For returns the table of a minor version ("3.7"), or nil.
func For(minor string) *Table { return tables[minor] }

// Status is how one etcd minor treats a flag.
type Status int

const (
	Unknown Status = iota
	Supported
	Deprecated
	Ignored
)

// Status reports how this minor treats the flag name (without dashes).
func (t *Table) Status(name string) Status {
	switch {
	case has(t.Flags, name):
		return Supported
	case has(t.Deprecated, name):
		return Deprecated
	case has(t.Ignored, name):
		return Ignored
	}
	return Unknown
}

// Has reports whether the flag is accepted without a warning.
func (t *Table) Has(name string) bool { return t.Status(name) == Supported }

// In lists the minors (oldest first) where the flag is accepted without a
// warning: for "removed in 3.7" and "added in 3.6" messages.
func In(name string) []string {
	var out []string
	for _, m := range Minors() {
		if tables[m].Has(name) {
			out = append(out, m)
		}
	}
	return out
}

func has(sorted []string, s string) bool {
	_, ok := slices.BinarySearch(sorted, s)
	return ok
}

func minorLess(a, b string) bool {
	var am, an, bm, bn int
	parseMinor(a, &am, &an)
	parseMinor(b, &bm, &bn)
	return am < bm || (am == bm && an < bn)
}

func parseMinor(s string, major, minor *int) {
	n := 0
	for _, r := range s {
		if r == '.' {
			*major, n = n, 0
			continue
		}
		n = n*10 + int(r-'0')
	}
	*minor = n
}
