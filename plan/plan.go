// Package plan derives the steps that take a running cluster from one spec
// to another (etcdgen plan): members added as learners one at a time,
// removed by ID, replaced, and rolled to a new etcd version, with quorum
// checked at every step and etcd's version gates. It is pure: the Model in,
// the steps out; script.go renders them as plan.sh and PLAN.md.
package plan

import (
	"fmt"
	"strings"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// Kind is what a step does.
type Kind string

const (
	Bootstrap Kind = "bootstrap" // install and start every member of a new cluster
	Add       Kind = "add"       // member add --learner, install, start, promote
	Remove    Kind = "remove"    // move leadership away, member remove, stop, wipe
	Replace   Kind = "replace"   // remove the old member, wipe, then as Add
	Snapshot  Kind = "snapshot"  // snapshot save from the leader, etcdutl snapshot status
	Upgrade   Kind = "upgrade"   // stop, install the new version's tree, start (leader last)
)

// Step is one step of a plan.
type Step struct {
	N    int
	Kind Kind
	// Member is the member the step acts on ("" for Bootstrap and
	// Snapshot).
	Member string
	// PeerURL and ClientURL of Member in the new spec; OldPeerURL and
	// OldName of the member a Replace removes.
	PeerURL, ClientURL  string
	OldName, OldPeerURL string
	// Version is the etcd version the step's tree runs.
	Version string
	// Keep are the members that stay voters through the step: where
	// leadership moves before a member is stopped or removed.
	Keep []string
	// Voters is the voting membership after the step.
	Voters []string
	// Need healthy members among Others (the client URLs of the other
	// voters through the step) before the step stops or removes a member:
	// the quorum the step keeps.
	Need   int
	Others []string
	// Why is the reason a person reads in PLAN.md.
	Why string
	// Files is the host tree the step installs, under <member>/ (the
	// systemd target's member tree at this step's membership).
	Files []render.File
	// Restore is set on the steps of a restore plan (restore.go).
	Restore *RestoreInfo
	// Serial is the server certificate serial (hex) a Certs step installs.
	Serial string
}

// Dir is the step's directory under steps/: NN-<what>.
func (s *Step) Dir() string {
	what := string(s.Kind)
	if s.Member != "" {
		what += "-" + s.Member
	}
	return fmt.Sprintf("%02d-%s", s.N, what)
}

// Plan is the ordered steps from Old (nil: a new cluster) to New.
type Plan struct {
	Old, New *render.Model
	Steps    []Step
}

// Refused is a change etcdgen will not plan, with every reason.
type Refused struct{ Reasons []string }

func (r *Refused) Error() string {
	var b strings.Builder
	b.WriteString("refusing to plan this change:")
	for _, s := range r.Reasons {
		b.WriteString("\n  - " + s)
	}
	return b.String()
}

// quorum is the majority of n voters.
func quorum(n int) int { return n/2 + 1 }

// New plans the bootstrap of a new cluster: every member of m.
func New(m *render.Model) (*Plan, error) {
	if len(m.Members) == 0 {
		return kubeNew(m) // k8s.go
	}
	files, err := treeOf(m, nil, "")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, mem := range m.Members {
		names = append(names, mem.Name)
	}
	p := &Plan{New: m}
	p.Steps = append(p.Steps, Step{Kind: Bootstrap, Version: m.Version.String(), Voters: names,
		Why:   fmt.Sprintf("A new cluster: install every member's tree (initial cluster state %q, %d members), start them all, wait until each is healthy. Skipped when every member already answers as healthy.", m.Members[0].InitialState, len(m.Members)),
		Files: files})
	if a := authStep(nil, m); a != nil {
		p.Steps = append(p.Steps, *a)
	}
	number(p)
	return p, nil
}

func number(p *Plan) {
	for i := range p.Steps {
		p.Steps[i].N = i + 1
	}
}

// Diff plans the change from old to new, both resolved from specs.
func Diff(old, new *render.Model) (*Plan, error) { return DiffLive(old, new, nil) }

// DiffLive is Diff from the running cluster (plan --live): down names the
// old members that do not answer (live.Down). The quorum is simulated with
// them down, as with the members marked replace, so a plan that the
// cluster as it is could not survive is refused before anything runs.
func DiffLive(old, new *render.Model, down map[string]bool) (*Plan, error) {
	if len(old.Members) == 0 || len(new.Members) == 0 {
		return kubeDiff(old, new) // k8s.go
	}
	var why []string
	refuse := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }

	// What a running cluster cannot change in place.
	if old.Name != new.Name {
		refuse("name: the cluster name changes from %q to %q; a running cluster keeps its name (it names the token, the certificates and the Kubernetes objects): render a new cluster and move the data with a snapshot restore", old.Name, new.Name)
	}
	if old.Token != new.Token {
		refuse("token: the cluster token changes from %q to %q; etcd reads it only when a cluster is born: keep %q, or restore a snapshot into a new cluster", old.Token, new.Token, old.Token)
	}
	if old.TLS.Enabled != new.TLS.Enabled {
		refuse("tls.enabled: switching TLS %s in place changes every peer and client URL at once (etcd's peer URLs cannot change scheme member by member without losing quorum); build a new cluster and restore a snapshot into it", onOff(new.TLS.Enabled))
	}
	if len(new.Members) == 0 {
		refuse("members: the new spec has no members on hosts")
	}

	oldBy := map[string]*render.Member{}
	oldByIP := map[string]*render.Member{}
	for i := range old.Members {
		oldBy[old.Members[i].Name] = &old.Members[i]
		oldByIP[old.Members[i].IP.String()] = &old.Members[i]
	}
	newBy := map[string]*render.Member{}
	newByIP := map[string]*render.Member{}
	for i := range new.Members {
		newBy[new.Members[i].Name] = &new.Members[i]
		newByIP[new.Members[i].IP.String()] = &new.Members[i]
	}

	// Classify. A member keeps its identity by name (readdressed: new
	// peer URL) or by address (renamed). Both at once, or an address that
	// moves from one member to another, is two changes in one: refused.
	type repl struct {
		old *render.Member
		new *render.Member
		why string
	}
	var (
		replaces []repl
		adds     []*render.Member
		removes  []*render.Member
	)
	renamedFrom := map[string]bool{} // old names a rename consumes
	for i := range new.Members {
		nm := &new.Members[i]
		byName, byIP := oldBy[nm.Name], oldByIP[nm.IP.String()]
		switch {
		case byName != nil && byIP != nil && byName != byIP:
			refuse("members: %s moves from %s to %s, the address of %s: rename and readdress members in separate changes", nm.Name, byName.IP, nm.IP, byIP.Name)
		case byName != nil && byName.PeerURL != nm.PeerURL:
			if o := newByIP[byName.IP.String()]; o != nil && o != nm {
				refuse("members: %s moves from %s to %s while %s takes its address: rename and readdress members in separate changes", nm.Name, byName.IP, nm.IP, o.Name)
				continue
			}
			replaces = append(replaces, repl{byName, nm, fmt.Sprintf("%s moves from %s to %s: etcd cannot change a member's address in place safely here, so the member is removed, wiped and added again at its new address.", nm.Name, byName.PeerURL, nm.PeerURL)})
		case byName != nil && specMember(new, nm.Name).Replace:
			replaces = append(replaces, repl{byName, nm, fmt.Sprintf("%s is marked replace: its data is lost, so it is removed by ID, wiped, and added again as a learner that copies the data from the leader.", nm.Name)})
		case byName != nil:
			// unchanged
		case byIP != nil:
			if newBy[byIP.Name] != nil {
				refuse("members: %s takes the address %s of %s, which stays in the spec: rename and readdress members in separate changes", nm.Name, nm.IP, byIP.Name)
				continue
			}
			renamedFrom[byIP.Name] = true
			replaces = append(replaces, repl{byIP, nm, fmt.Sprintf("%s is renamed %s (same address %s): the old member is removed and the new one added as a learner.", byIP.Name, nm.Name, nm.IP)})
		default:
			if specMember(new, nm.Name).Replace {
				refuse("members[%s].replace: %s is not in the old spec; there is nothing to replace (drop replace: true to add it)", nm.Name, nm.Name)
			}
			adds = append(adds, nm)
		}
	}
	for i := range old.Members {
		om := &old.Members[i]
		if newBy[om.Name] == nil && !renamedFrom[om.Name] {
			removes = append(removes, om)
		}
	}

	// Versions: etcd supports patch changes and one minor at a time.
	ov, nv := old.Version, new.Version
	versionChange := ov != nv
	if versionChange {
		if msg := versionGate(ov, nv); msg != "" {
			refuse("version: %s", msg)
		}
		if len(replaces)+len(adds)+len(removes) > 0 {
			refuse("version: the etcd version (%s to %s) and the members change together; change the members first, then the version, in two plans (a member added mid-upgrade would run the wrong version)", ov, nv)
		}
	}

	// Quorum, simulated over the steps in order: voters and which of them
	// are healthy. Members marked replace are down (their data is lost),
	// and so are those the running cluster reports down.
	voters := []string{}
	healthy := map[string]bool{}
	at := map[string]*render.Member{} // where each voter runs now
	for i := range old.Members {
		om := &old.Members[i]
		at[om.Name] = om
		voters = append(voters, om.Name)
		healthy[om.Name] = !down[om.Name] && !(newBy[om.Name] != nil && specMember(new, om.Name).Replace)
	}
	countHealthy := func() int {
		n := 0
		for _, v := range voters {
			if healthy[v] {
				n++
			}
		}
		return n
	}
	checkQuorum := func(when string) bool {
		if h := countHealthy(); h < quorum(len(voters)) {
			refuse("quorum: %s, %d of %d voting members are healthy, fewer than a quorum of %d; replace fewer members at once, or restore a snapshot into a new cluster", when, h, len(voters), quorum(len(voters)))
			return false
		}
		return true
	}
	removeVoter := func(name string) {
		for i, v := range voters {
			if v == name {
				voters = append(voters[:i:i], voters[i+1:]...)
				return
			}
		}
	}
	when := "with the members marked replace: true down"
	var silent []string
	for i := range old.Members {
		if down[old.Members[i].Name] {
			silent = append(silent, old.Members[i].Name)
		}
	}
	if len(silent) > 0 {
		when = fmt.Sprintf("with %s not answering and the members marked replace: true down", strings.Join(silent, ", "))
	}
	if !checkQuorum(when) {
		return nil, &Refused{why}
	}

	p := &Plan{Old: old, New: new}
	pending := map[string]bool{} // to be replaced: not where leadership goes
	for _, r := range replaces {
		pending[r.old.Name] = true
	}
	keepOf := func(except string) []string {
		var k []string
		for _, v := range voters {
			if v != except && healthy[v] && newBy[v] != nil && !pending[v] {
				k = append(k, v)
			}
		}
		return k
	}
	othersOf := func(except string) []string {
		var o []string
		for _, v := range voters {
			if v != except {
				o = append(o, at[v].ClientURL)
			}
		}
		return o
	}
	// Replacements first, the dead ones before the readdressed ones: they
	// restore fault tolerance soonest.
	order := append([]repl(nil), replaces...)
	sortStable(order, func(a, b repl) bool { return !healthy[a.old.Name] && healthy[b.old.Name] })
	for _, r := range order {
		keep, others := keepOf(r.old.Name), othersOf(r.old.Name)
		delete(pending, r.old.Name)
		removeVoter(r.old.Name)
		delete(healthy, r.old.Name)
		if len(voters) == 0 {
			refuse("quorum: replacing %s removes the only member; restore a snapshot into a new cluster instead", r.old.Name)
			break
		}
		if !checkQuorum("after removing " + r.old.Name + " to replace it") {
			break
		}
		need := quorum(len(voters))
		files, err := joinTree(new, at, voters, r.new)
		if err != nil {
			return nil, err
		}
		voters = append(voters, r.new.Name)
		healthy[r.new.Name] = true
		at[r.new.Name] = r.new
		p.Steps = append(p.Steps, Step{Kind: Replace, Member: r.new.Name, PeerURL: r.new.PeerURL, ClientURL: r.new.ClientURL,
			OldName: r.old.Name, OldPeerURL: r.old.PeerURL, Version: nv.String(), Keep: keep, Need: need, Others: others,
			Voters: append([]string(nil), voters...), Why: r.why, Files: files})
	}
	for _, a := range adds {
		files, err := joinTree(new, at, voters, a)
		if err != nil {
			return nil, err
		}
		voters = append(voters, a.Name)
		healthy[a.Name] = true
		at[a.Name] = a
		p.Steps = append(p.Steps, Step{Kind: Add, Member: a.Name, PeerURL: a.PeerURL, ClientURL: a.ClientURL,
			Version: nv.String(), Voters: append([]string(nil), voters...),
			Why:   fmt.Sprintf("%s joins as a learner (it votes only once it has caught up, so the quorum does not grow while it copies the data), then is promoted: %d voting members.", a.Name, len(voters)),
			Files: files})
	}
	for _, r := range removes {
		keep, others := keepOf(r.Name), othersOf(r.Name)
		removeVoter(r.Name)
		delete(healthy, r.Name)
		if len(voters) == 0 {
			refuse("members: removing %s leaves no member", r.Name)
			break
		}
		if !checkQuorum("after removing " + r.Name) {
			break
		}
		p.Steps = append(p.Steps, Step{Kind: Remove, Member: r.Name, PeerURL: r.PeerURL, ClientURL: r.ClientURL,
			Version: ov.String(), Keep: keep, Need: quorum(len(voters)), Others: others, Voters: append([]string(nil), voters...),
			Why: fmt.Sprintf("%s leaves: if it leads, leadership moves first to a member that stays (move-leader), then it is removed by ID, stopped and wiped: %d voting members.", r.Name, len(voters))})
	}
	if versionChange && len(why) == 0 {
		if len(old.Members) < 3 {
			refuse("quorum: a rolling upgrade stops one member at a time; with %d member(s) that loses the quorum; add members first, or upgrade with downtime by hand", len(old.Members))
		} else if h := countHealthy(); h-1 < quorum(len(voters)) {
			refuse("quorum: a rolling upgrade stops one member at a time; with %s not answering, %d of %d voting members are healthy and stopping one more loses the quorum of %d; bring them back (or replace them) first", strings.Join(silent, ", "), h, len(voters), quorum(len(voters)))
		} else {
			p.Steps = append(p.Steps, Step{Kind: Snapshot, Version: ov.String(), Voters: append([]string(nil), voters...),
				Why: fmt.Sprintf("Before the upgrade from %s to %s: a snapshot from the leader, verified with etcdutl snapshot status, kept in the plan's state directory. It is the way back (etcd's upgrade guide).", ov, nv)})
			for i := range new.Members {
				mem := &new.Members[i]
				files, err := treeOf(new, existing(new), mem.Name)
				if err != nil {
					return nil, err
				}
				p.Steps = append(p.Steps, Step{Kind: Upgrade, Member: mem.Name, PeerURL: mem.PeerURL, ClientURL: mem.ClientURL,
					Version: nv.String(), Keep: keepOf(mem.Name), Need: quorum(len(voters)), Others: othersOf(mem.Name), Voters: append([]string(nil), voters...),
					Why:   fmt.Sprintf("%s to etcd %s: leadership moves away first if it leads (so the leader goes last), then stop, install, start, wait until it is healthy at %s. One member down at a time: %d of %d stay up.", mem.Name, nv, nv, len(voters)-1, len(voters)),
					Files: files})
			}
		}
	}
	if a := authStep(old, new); a != nil && len(why) == 0 {
		p.Steps = append(p.Steps, *a)
	}
	if len(why) > 0 {
		return nil, &Refused{why}
	}
	number(p)
	return p, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func specMember(m *render.Model, name string) schema.Member {
	for _, sm := range m.Spec.Members {
		if sm.Name == name {
			return sm
		}
	}
	return schema.Member{}
}

// joinTree is the tree of member who joining the voters (each where it
// runs now): initial cluster state "existing" and an initial cluster of
// exactly this membership. etcd checks a joining member's initial cluster
// against the running one, member for member (ValidateClusterAndAssignIDs;
// etcd's runtime reconfiguration guide), so it lists the voters, the
// members the plan removes later included, and the joining member.
func joinTree(m *render.Model, at map[string]*render.Member, voters []string, who *render.Member) ([]render.File, error) {
	var members []schema.Member
	for _, v := range voters {
		mem := at[v]
		members = append(members, schema.Member{Name: mem.Name, IP: mem.IP.String(), Hostnames: mem.Hostnames})
	}
	sm := specMember(m, who.Name)
	sm.InitialState = "existing"
	members = append(members, sm)
	spec := *m.Spec
	spec.Members = members
	full, err := render.Resolve(&spec)
	if err != nil {
		return nil, err
	}
	// The certificates of members the new spec dropped may be gone from
	// the bundle: the tree of who alone, from a model of who, with the
	// initial cluster and the hosts fragment of the full membership.
	spec.Members = members[len(members)-1:]
	one, err := render.Resolve(&spec)
	if err != nil {
		return nil, err
	}
	one.InitialCluster, one.ClientURLs = full.InitialCluster, full.ClientURLs
	one.Bundle = m.Bundle
	files, err := systemd.Target.Run(one)
	if err != nil {
		return nil, err
	}
	hosts := systemd.HostsFragment(full)
	for i := range files {
		if files[i].Path == who.Name+"/"+systemd.HostsFile {
			files[i].Data = hosts
		}
	}
	return files, nil
}

// existing is every member of m with initial cluster state "existing":
// a member that restarts with its data ignores it, and one whose data is
// gone then fails instead of bootstrapping a second cluster.
func existing(m *render.Model) []schema.Member {
	out := append([]schema.Member(nil), m.Spec.Members...)
	for i := range out {
		out[i].InitialState = "existing"
	}
	return out
}

// treeOf renders the systemd target for m with members replaced (nil:
// m's own), keeping the bundle; who != "" keeps only that member's tree.
func treeOf(m *render.Model, members []schema.Member, who string) ([]render.File, error) {
	mm := m
	if members != nil {
		spec := *m.Spec
		spec.Members = members
		var err error
		if mm, err = render.Resolve(&spec); err != nil {
			return nil, err
		}
		mm.Bundle = m.Bundle
	}
	files, err := systemd.Target.Run(mm)
	if err != nil {
		return nil, err
	}
	if who == "" {
		return files, nil
	}
	return only(files, who), nil
}

// only keeps the files of one member's tree.
func only(files []render.File, member string) []render.File {
	var out []render.File
	for _, f := range files {
		if strings.HasPrefix(f.Path, member+"/") {
			out = append(out, f)
		}
	}
	return out
}

func sortStable[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
