// Package live reads a running cluster through etcdctl (-w json) and
// compares it with a spec: where `etcdgen plan --live` starts from and
// what `plan --live --check` reports. Parsing and comparing are pure
// (this file); running etcdctl and dialing the members is run.go.
package live

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
)

// Member is one entry of `etcdctl member list -w json`. A member added but
// not started yet has no name and no client URLs.
type Member struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

// Status is what one endpoint answers to `etcdctl endpoint status`; Err
// is set instead when it does not answer.
type Status struct {
	Endpoint string
	MemberID uint64
	Version  string
	Leader   uint64
	Errors   []string // alarms etc. the member reports
	Err      string
}

// Alarm is one entry of `etcdctl alarm list -w json`.
type Alarm struct {
	MemberID uint64
	Alarm    string // NOSPACE, CORRUPT
}

// Cert is the leaf certificate an endpoint serves.
type Cert struct {
	Serial      string // hex
	IssuerKeyID string // authority key ID, hex
	NotAfter    time.Time
	Err         string
}

// Cluster is what the running cluster says.
type Cluster struct {
	ClusterID uint64
	Members   []Member
	Status    map[string]Status // by client URL
	Alarms    []Alarm
	Certs     map[string]Cert // by client URL (TLS only)
}

// ParseMembers reads `etcdctl member list -w json`.
func ParseMembers(b []byte) (clusterID uint64, ms []Member, err error) {
	var v struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
		} `json:"header"`
		Members []Member `json:"members"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, nil, fmt.Errorf("etcdctl member list: %w", err)
	}
	return v.Header.ClusterID, v.Members, nil
}

// ParseStatus reads `etcdctl endpoint status -w json` of one endpoint.
func ParseStatus(b []byte) (Status, error) {
	var v []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			} `json:"header"`
			Version string   `json:"version"`
			Leader  uint64   `json:"leader"`
			Errors  []string `json:"errors"`
		}
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Status{}, fmt.Errorf("etcdctl endpoint status: %w", err)
	}
	if len(v) != 1 {
		return Status{}, fmt.Errorf("etcdctl endpoint status: %d answers, want 1", len(v))
	}
	s := v[0]
	return Status{Endpoint: s.Endpoint, MemberID: s.Status.Header.MemberID, Version: s.Status.Version, Leader: s.Status.Leader, Errors: s.Status.Errors}, nil
}

// alarmNames are etcdserverpb.AlarmType's values (api/etcdserverpb/rpc.proto).
var alarmNames = map[int]string{0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}

// ParseAlarms reads `etcdctl alarm list -w json`.
func ParseAlarms(b []byte) ([]Alarm, error) {
	var v struct {
		Alarms []struct {
			MemberID uint64 `json:"memberID"`
			Alarm    int    `json:"alarm"`
		} `json:"alarms"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("etcdctl alarm list: %w", err)
	}
	var out []Alarm
	for _, a := range v.Alarms {
		n, ok := alarmNames[a.Alarm]
		if !ok {
			n = fmt.Sprintf("alarm %d", a.Alarm)
		}
		out = append(out, Alarm{MemberID: a.MemberID, Alarm: n})
	}
	return out, nil
}

// ExpirySoon is how close to its end a served certificate is reported.
const ExpirySoon = 30 * 24 * time.Hour

// Check lists every difference between the running cluster and the spec
// m: members (by name, then by peer URL), their peer and client URLs,
// learners, versions, members that do not answer, alarms, and the expiry
// of the certificates the members serve (and, with serials from a bundle,
// a served certificate that is not the bundle's). None: in sync.
func Check(c *Cluster, m *render.Model, now time.Time, bundleSerials map[string]string) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	matched := map[uint64]bool{}
	for _, sm := range m.Members {
		lm := find(c.Members, sm.Name, sm.PeerURL)
		if lm == nil {
			add("%s: in the spec (%s), not a member of the cluster", sm.Name, sm.PeerURL)
			continue
		}
		matched[lm.ID] = true
		if lm.Name != sm.Name && lm.Name != "" {
			add("%s: the member at %s is named %q", sm.Name, sm.PeerURL, lm.Name)
		}
		if !slices.Equal(lm.PeerURLs, []string{sm.PeerURL}) {
			add("%s: peer URLs %s, the spec says %s", sm.Name, strings.Join(lm.PeerURLs, ","), sm.PeerURL)
		}
		if lm.Name == "" {
			add("%s: added (ID %x) but never started", sm.Name, lm.ID)
		} else if !slices.Equal(lm.ClientURLs, []string{sm.ClientURL}) {
			add("%s: client URLs %s, the spec says %s", sm.Name, strings.Join(lm.ClientURLs, ","), sm.ClientURL)
		}
		if lm.IsLearner {
			add("%s: a learner (not promoted to a voting member)", sm.Name)
		}
		st, ok := c.Status[sm.ClientURL]
		switch {
		case !ok:
		case st.Err != "":
			add("%s: no answer at %s: %s", sm.Name, sm.ClientURL, st.Err)
		case st.Version != m.Version.String():
			add("%s: runs etcd %s, the spec says %s", sm.Name, st.Version, m.Version)
		}
		if cert, ok := c.Certs[sm.ClientURL]; ok && cert.Err == "" {
			switch left := cert.NotAfter.Sub(now); {
			case left <= 0:
				add("%s: the certificate it serves expired on %s", sm.Name, cert.NotAfter.UTC().Format(time.DateOnly))
			case left < ExpirySoon:
				add("%s: the certificate it serves expires on %s (in %d days)", sm.Name, cert.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
			}
			if want, ok := bundleSerials[sm.Name]; ok && want != cert.Serial {
				add("%s: serves certificate serial %s, the bundle's is %s (re-issued, not installed yet)", sm.Name, cert.Serial, want)
			}
		}
	}
	for _, lm := range c.Members {
		if !matched[lm.ID] {
			name := lm.Name
			if name == "" {
				name = "(not started)"
			}
			kind := "member"
			if lm.IsLearner {
				kind = "learner"
			}
			add("%s %x %s (%s): in the cluster, not in the spec", kind, lm.ID, name, strings.Join(lm.PeerURLs, ","))
		}
	}
	for _, a := range c.Alarms {
		add("alarm %s on member %s", a.Alarm, nameOf(c.Members, a.MemberID))
	}
	return out
}

func find(ms []Member, name, peer string) *Member {
	for i := range ms {
		if ms[i].Name == name && name != "" {
			return &ms[i]
		}
	}
	for i := range ms {
		if slices.Contains(ms[i].PeerURLs, peer) {
			return &ms[i]
		}
	}
	return nil
}

func nameOf(ms []Member, id uint64) string {
	for _, m := range ms {
		if m.ID == id && m.Name != "" {
			return fmt.Sprintf("%s (%x)", m.Name, id)
		}
	}
	return fmt.Sprintf("%x", id)
}

// OldModel is the running cluster as a spec: m's spec with the live
// voting members (name and address from the peer URL) and the lowest
// version a member answers with, for plan.Diff to start from. A learner
// the spec has is left out, so the plan adds it (plan.sh finds the
// learner by its peer URL and promotes it); one the spec lacks stays in,
// so the plan removes it. A live peer URL the spec's ports and scheme
// cannot make is refused: the plan would address the member wrongly.
func OldModel(c *Cluster, m *render.Model) (*render.Model, error) {
	spec := *m.Spec
	spec.Members = nil
	var why []string
	version := ""
	for _, st := range c.Status {
		if st.Err == "" && st.Version != "" && (version == "" || less(st.Version, version)) {
			version = st.Version
		}
	}
	if version != "" {
		spec.Version = version
	}
	inSpec := map[string]bool{}
	for _, sm := range m.Members {
		inSpec[sm.PeerURL] = true
	}
	for _, lm := range c.Members {
		if len(lm.PeerURLs) != 1 {
			why = append(why, fmt.Sprintf("member %x has peer URLs %v; etcdgen plans members with one", lm.ID, lm.PeerURLs))
			continue
		}
		if lm.IsLearner && inSpec[lm.PeerURLs[0]] {
			continue
		}
		u, err := url.Parse(lm.PeerURLs[0])
		var ip netip.Addr
		if err == nil {
			ip, err = netip.ParseAddr(u.Hostname())
		}
		if err != nil {
			why = append(why, fmt.Sprintf("member %x: peer URL %s has no IP address; plan from the spec it was made with (--from)", lm.ID, lm.PeerURLs[0]))
			continue
		}
		spec.Members = append(spec.Members, schema.Member{Name: specName(lm), IP: ip.String(), InitialState: "existing"})
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("the running cluster: %s", strings.Join(why, "; "))
	}
	old, err := render.Resolve(&spec)
	if err != nil {
		return nil, fmt.Errorf("the running cluster as a spec: %w", err)
	}
	for i, om := range old.Members {
		var want string
		for _, lm := range c.Members {
			if specName(lm) == om.Name {
				want = lm.PeerURLs[0]
			}
		}
		if want != om.PeerURL {
			return nil, fmt.Errorf("the running cluster: member %s has peer URL %s, the spec's scheme and ports make %s; plan from the spec it was made with (--from)", om.Name, want, old.Members[i].PeerURL)
		}
	}
	return old, nil
}

// specName is a live member's name in OldModel's spec: a member added but
// never started has none yet.
func specName(lm Member) string {
	if lm.Name == "" {
		return fmt.Sprintf("unstarted-%x", lm.ID)
	}
	return lm.Name
}

// Down names the voting members (as OldModel names them) that answer on
// none of their client URLs: stopped or unreachable. plan.DiffLive counts
// them out of the quorum, so a plan that would lose it with them down is
// refused before anything runs. A learner is not part of the quorum,
// answering or not (one added and never started has no client URL), so
// it is never down here.
func Down(c *Cluster) map[string]bool {
	down := map[string]bool{}
	for _, lm := range c.Members {
		if lm.IsLearner {
			continue
		}
		up := false
		for _, u := range lm.ClientURLs {
			if st, ok := c.Status[u]; ok && st.Err == "" {
				up = true
			}
		}
		if !up {
			down[specName(lm)] = true
		}
	}
	return down
}

func less(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}
