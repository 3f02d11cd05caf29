package plan

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/etcdgen/etcdgen/render"
)

// Restore plans (etcdgen plan --restore SNAPSHOT): verify the snapshot,
// then stop every member, wipe it, `etcdutl snapshot restore` it with the
// spec's names and peer URLs and a new cluster token, start all, verify.

const (
	VerifySnapshot Kind = "verify-snapshot" // sha256 and etcdutl snapshot status
	RestoreAll     Kind = "restore"         // stop, wipe, etcdutl snapshot restore, install, start every member
)

// SnapshotFile is the snapshot a restore plan restores. The command reads the
// file (plan/ does no I/O) and gives its path and SHA-256 here.
type SnapshotFile struct {
	// Path is where plan.sh reads it (absolute); ETCDGEN_SNAPSHOT overrides.
	Path string
	// SHA256 is its hex digest: plan.sh checks the file is the one the
	// plan was made for, and the new token is derived from it.
	SHA256 string
	// BumpRevision > 0 restores with `--bump-revision N --mark-compacted`:
	// for a cluster that serves Kubernetes (see bumpWhy).
	BumpRevision uint64
}

// RestoreInfo is what a VerifySnapshot or RestoreAll step needs.
type RestoreInfo struct {
	SnapshotFile
	// Token is the restored cluster's --initial-cluster-token.
	Token string
	// ClusterID is the cluster ID (decimal, as etcdctl -w json prints it)
	// the restored cluster has: how plan.sh knows the restore is done.
	ClusterID string
}

// bumpSince is the first release of each minor whose etcdutl has
// `snapshot restore --bump-revision` and `--mark-compacted`: 3.5.10 (etcd
// CHANGELOG-3.5, etcd-io/etcd pull 16165, a backport of pull 16029 that
// 3.6.0 ships). Checked by hand with `etcdutl snapshot restore --help` of
// 3.5.35, 3.6.16 and 3.7.3: all three list both flags.
var bumpSince = map[[2]int]int{{3, 5}: 10}

// bumpWhy is why a Kubernetes cluster's restore bumps the revision.
const bumpWhy = "A snapshot is older than the revisions clients have seen; kube-apiserver and its watch caches assume revisions never go back. `--bump-revision` moves the restored revision past any revision the old cluster can have reached, and `--mark-compacted` compacts everything up to it, so every watcher gets \"compacted\" and relists instead of missing events (etcd's disaster recovery guide, \"Restoring a cluster\" for Kubernetes, https://etcd.io/docs/v3.5/op-guide/recovery/; etcd-io/etcd issue 16028)."

// RestoreToken is the restored cluster's token: the spec's token and the
// first 12 hex digits of the snapshot's SHA-256. A new token gives every
// member a new ID and the cluster a new ID (etcd derives them from peer
// URLs and token), so a member of the old cluster that was missed cannot
// talk its way into the new one: "the restore must start a new logical
// cluster" (https://etcd.io/docs/v3.6/op-guide/recovery/). Derived rather
// than random so the same spec and snapshot give the same plan (etcdgen's
// output is deterministic) and plan.sh can recognise the cluster it has
// already restored by its ID.
func RestoreToken(specToken, sha256 string) string {
	return specToken + "-r" + sha256[:12]
}

// ClusterID is the ID of the cluster etcd bootstraps (or etcdutl restores)
// from these peer URLs (one per member) and token: a member's ID is the
// first 8 bytes of SHA-1 over its sorted peer URLs and the token, the
// cluster's over its members' IDs in order (computeMemberID and
// RaftCluster.genID in etcd's server/etcdserver/api/membership, the same in
// 3.5, 3.6 and 3.7; etcdutl's restore calls NewClusterFromURLsMap, which
// uses them with no time).
func ClusterID(token string, peerURLs []string) uint64 {
	ids := make([]uint64, 0, len(peerURLs))
	for _, u := range peerURLs {
		h := sha1.Sum([]byte(u + token))
		ids = append(ids, binary.BigEndian.Uint64(h[:8]))
	}
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8])
}

// Restore plans the restore of snap into the members of m.
func Restore(m *render.Model, snap SnapshotFile) (*Plan, error) {
	var why []string
	if len(m.Members) == 0 {
		why = append(why, "members: the spec has no members on hosts; a restore places data on each member's host")
	}
	if len(snap.SHA256) < 12 {
		return nil, fmt.Errorf("internal error: plan: snapshot digest %q", snap.SHA256)
	}
	if snap.BumpRevision > 0 {
		if p, ok := bumpSince[[2]int{m.Version.Major, m.Version.Minor}]; ok && m.Version.Patch < p {
			why = append(why, fmt.Sprintf("version: etcdutl %s has no `snapshot restore --bump-revision` or `--mark-compacted` (they came to %d.%d in %d.%d.%d); set version to %d.%d.%d or later, or restore without --bump-revision",
				m.Version, m.Version.Major, m.Version.Minor, m.Version.Major, m.Version.Minor, p, m.Version.Major, m.Version.Minor, p))
		}
	}
	if len(why) > 0 {
		return nil, &Refused{why}
	}
	token := RestoreToken(m.Token, snap.SHA256)
	spec := *m.Spec
	spec.Token = token
	mm, err := render.Resolve(&spec)
	if err != nil {
		return nil, err
	}
	mm.Bundle = m.Bundle
	files, err := treeOf(mm, nil, "")
	if err != nil {
		return nil, err
	}
	var names, peers []string
	for _, mem := range m.Members {
		names = append(names, mem.Name)
		peers = append(peers, mem.PeerURL)
	}
	info := &RestoreInfo{SnapshotFile: snap, Token: token, ClusterID: strconv.FormatUint(ClusterID(token, peers), 10)}
	bump := ""
	if snap.BumpRevision > 0 {
		bump = fmt.Sprintf(" With `--bump-revision %d --mark-compacted`: %s", snap.BumpRevision, bumpWhy)
	}
	p := &Plan{New: m}
	p.Steps = append(p.Steps,
		Step{Kind: VerifySnapshot, Version: m.Version.String(), Restore: info,
			Why: fmt.Sprintf("Check that the snapshot is the one this plan was made for (SHA-256 %s; `ETCDGEN_SNAPSHOT` names another copy of it) and that etcdutl reads it (`etcdutl snapshot status`: its hash, revision and keys). Skipped when the cluster already answers with the restored cluster's ID.", snap.SHA256)},
		Step{Kind: RestoreAll, Version: m.Version.String(), Voters: names, Restore: info, Files: files,
			Why: fmt.Sprintf("Stop every member, wipe its data, and restore the snapshot on its host through the hook `etcdgen_restore MEMBER SNAPSHOT ETCDUTL_ARGS...` (by default: rsync the snapshot to the host and run `etcdutl snapshot restore` there over ssh) with the spec's names and peer URLs and the new cluster token %q (the spec's token and the snapshot's digest: a new logical cluster with new member and cluster IDs, as etcd's recovery guide requires); install every member's tree (the env files carry the new token), start all, wait until each is healthy, and check that the cluster answers with the restored cluster's ID %s and at least the snapshot's revision.%s The restore is done once any member answers with that ID (members start only after all are restored): a rerun then only starts members that are down, and never wipes again. After the restore, set `token: %q` in the spec so that later renders match the hosts.", token, info.ClusterID, bump, token)},
	)
	number(p)
	return p, nil
}

// restoreCall is the plan.sh line of a VerifySnapshot or RestoreAll step.
func restoreCall(s *Step, m *render.Model) string {
	r := s.Restore
	if s.Kind == VerifySnapshot {
		return "step_verify_snapshot " + words(s.Dir(), r.Path, r.SHA256, r.ClusterID)
	}
	call := "step_restore " + words(s.Dir(), r.Path, r.Token, r.ClusterID, strconv.FormatUint(r.BumpRevision, 10), s.Version)
	for _, mem := range m.Members {
		call += " " + words(mem.Name, mem.PeerURL, mem.ClientURL)
	}
	return call
}

func restoreSummary(s *Step) string {
	if s.Kind == VerifySnapshot {
		return fmt.Sprintf("verify snapshot %s (sha256 %s...) with etcdutl", s.Restore.Path, s.Restore.SHA256[:12])
	}
	return fmt.Sprintf("restore it into %s with token %s: stop, wipe, etcdutl snapshot restore, start all", strings.Join(s.Voters, ", "), s.Restore.Token)
}

func hasRestore(p *Plan) bool {
	for i := range p.Steps {
		if p.Steps[i].Restore != nil {
			return true
		}
	}
	return false
}

// restoreScript is the part of plan.sh a restore plan adds after the
// library: the fifth hook's default and the two step functions.
func restoreScript(m *render.Model) string {
	return "\nETCD_USER=" + Quote(m.Spec.Host.User) + restoreLibrary
}

const restoreLibrary = `

# The fifth hook, for restores: etcdgen_restore MEMBER SNAPSHOT ETCDUTL_ARGS...
# puts the snapshot's data at the member's data dir (the args name it). The
# default copies the snapshot to the host and runs etcdutl (beside
# $ETCD_BIN) there over ssh. Defined here only when ETCDGEN_HOOKS did not.
if ! declare -F etcdgen_restore >/dev/null; then
	etcdgen_restore() {
		local member=$1 snap=$2 dest=${HOST[$1]} tmp=/var/tmp/etcdgen-restore.db
		shift 2
		[[ $dest == *:* ]] && dest="[$dest]"
		rsync -a -- "$snap" "root@$dest:$tmp"
		etcdgen_ssh "$member" "${ETCD_BIN%/*}/etcdutl" snapshot restore "$tmp" "$@"
		if [[ -n $WAL_DIR ]]; then
			etcdgen_ssh "$member" chown -R "$ETCD_USER:" -- "$DATA_DIR" "$WAL_DIR"
		else
			etcdgen_ssh "$member" chown -R "$ETCD_USER:" -- "$DATA_DIR"
		fi
		etcdgen_ssh "$member" rm -f -- "$tmp"
	}
fi

# restored_id prints the cluster ID (decimal) the cluster answers with, or
# nothing when no member answers.
restored_id() {
	local out
	out=$(ctl --endpoints="$ENDPOINTS" member list -w json 2>/dev/null) || return 0
	sed -n 's/.*"cluster_id":\([0-9]*\).*/\1/p' <<<"$out" | head -n 1
}

# json_number FIELD: the first "FIELD":N of the JSON on stdin.
json_number() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n 1; }

step_verify_snapshot() { # STEP SNAPSHOT SHA256 CLUSTER_ID
	local snap=${ETCDGEN_SNAPSHOT:-$2} sum
	if [[ $(restored_id) == "$4" ]]; then
		say "  done already: the cluster answers with the restored cluster's ID $4"
		return 0
	fi
	if [[ ! -r $snap ]]; then
		say "plan.sh: cannot read the snapshot $snap (ETCDGEN_SNAPSHOT names another copy)" >&2
		return 1
	fi
	sum=$(sha256sum <"$snap")
	sum=${sum%% *}
	if [[ $sum != "$3" ]]; then
		say "plan.sh: $snap has SHA-256 $sum, this plan was made for $3: make the plan again for this snapshot" >&2
		return 1
	fi
	etcdutl snapshot status "$snap" -w table
}

step_restore() { # STEP SNAPSHOT TOKEN CLUSTER_ID BUMP VERSION (NAME PEER_URL CLIENT_URL)...
	local step=$1 snap=${ETCDGEN_SNAPSHOT:-$2} token=$3 cid=$4 bump=$5 version=$6 i initial="" rev have
	shift 6
	local -a a=("$@") extra=()
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		initial+="${initial:+,}${a[i]}=${a[i + 1]}"
	done
	if [[ $(restored_id) == "$cid" ]]; then
		# Members start only after every member is restored: any member
		# answering with the new ID means all data is in place. Never wipe
		# again: the restored cluster may have taken writes since.
		say "  done already: the cluster answers with the restored cluster's ID $cid; starting any member that is down"
		for ((i = 0; i < ${#a[@]}; i += 3)); do
			etcdgen_start "${a[i]}"
		done
		for ((i = 0; i < ${#a[@]}; i += 3)); do
			wait_healthy "${a[i + 2]}" "${a[i]}"
		done
		return 0
	fi
	rev=$(etcdutl snapshot status "$snap" -w json | json_number revision)
	if ((bump > 0)); then
		extra=(--bump-revision="$bump" --mark-compacted)
	fi
	[[ -n $WAL_DIR ]] && extra+=(--wal-dir="$WAL_DIR")
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		etcdgen_stop "${a[i]}"
	done
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		etcdgen_wipe "${a[i]}"
		say "  restore ${a[i]}"
		etcdgen_restore "${a[i]}" "$snap" --name="${a[i]}" --initial-cluster="$initial" \
			--initial-cluster-token="$token" --initial-advertise-peer-urls="${a[i + 1]}" \
			--data-dir="$DATA_DIR" ${extra[@]+"${extra[@]}"}
	done
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		etcdgen_install "${a[i]}" "$PLAN_DIR/steps/$step/${a[i]}" "$version"
	done
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		etcdgen_start "${a[i]}"
	done
	for ((i = 0; i < ${#a[@]}; i += 3)); do
		wait_healthy "${a[i + 2]}" "${a[i]}"
	done
	have=$(restored_id)
	if [[ $have != "$cid" ]]; then
		say "plan.sh: the restored cluster answers with ID ${have:-none}, want $cid" >&2
		return 1
	fi
	have=$(ctl --endpoints="$ENDPOINTS" endpoint status -w json | json_number revision)
	if ((have < rev + bump)); then
		say "plan.sh: the restored cluster is at revision $have, the snapshot at $rev (+ $bump bumped)" >&2
		return 1
	fi
	say "  restored: cluster ID $cid, revision $have (snapshot $rev)"
}
`
