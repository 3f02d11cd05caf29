package plan

import "strings"

// Quote is the one escaping rule of plan.sh: every value that comes from a
// spec is a single-quoted bash word, so it is data, never code. Inside
// single quotes bash interprets nothing; a single quote itself is written
// as '\” (close, escaped quote, reopen).
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// words quotes each value and joins them with spaces.
func words(vals ...string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = Quote(v)
	}
	return strings.Join(q, " ")
}

// The shell text both plan.sh scripts (hosts: script.go; Kubernetes:
// k8s_script.go) share, written once.

// usageComment opens each script's header comment.
const usageComment = `#
#   ./plan.sh             run the steps (again after a failure: done steps are skipped)
#   ./plan.sh --dry-run   print the steps, touch nothing
#
`

// argsShell reads plan.sh's one option; PLAN_DIR is where the script and
// its steps/ are.
const argsShell = `
PLAN_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
DRY_RUN=false
case ${1:-} in
--dry-run) DRY_RUN=true ;;
'') ;;
*)
	echo "usage: $0 [--dry-run]" >&2
	exit 2
	;;
esac
`

// sayShell opens each script's library.
const sayShell = `
say() { printf '%s\n' "$*"; }
`

// retryUnhealthyShell: both scripts change the membership through
// etcdctl member add and member remove, which etcd refuses for a moment
// after a start or a leader change.
const retryUnhealthyShell = `
# retry_unhealthy WHAT TRIES POLL LOST... -- CMD...: runs CMD (an etcdctl
# membership change) until it succeeds, at most TRIES times, POLL seconds
# apart, while etcd answers "unhealthy cluster": with strict
# reconfiguration checks etcd refuses a membership change until the member
# it asks has been connected to a quorum of peers for 5 s (etcdserver's
# HealthInterval), so a cluster that has only just started, or whose
# leader has just changed (move-leader), refuses it for a moment. After a
# failed try, the command LOST says whether the change went through
# although its answer was lost (a removed member stops itself, often
# before it answers). Another refusal fails at once with etcd's answer.
retry_unhealthy() {
	local what=$1 tries=$2 poll=$3 i out=''
	local -a lost=()
	shift 3
	while (($# > 0)) && [[ $1 != -- ]]; do
		lost+=("$1")
		shift
	done
	shift
	for ((i = 0; i < tries; i++)); do
		if out=$("$@" 2>&1 >/dev/null); then
			return 0
		fi
		if "${lost[@]}"; then
			return 0
		fi
		if [[ $out != *"unhealthy cluster"* ]]; then
			printf '%s\n' "$out" >&2
			return 1
		fi
		sleep "$poll"
	done
	printf '%s\n' "$out" >&2
	say "plan.sh: etcd refused to $what for $((tries * poll))s: the cluster is not healthy" >&2
	return 1
}
`

// exitShell names the failed step on the way out, and finish ends a run.
const exitShell = `
CURRENT=
on_exit() {
	local rc=$?
	if ((rc != 0)) && [[ -n $CURRENT ]]; then
		say "plan.sh: step $CURRENT failed (exit $rc). Fix the cause and run plan.sh again: steps already done are skipped." >&2
	fi
}
trap on_exit EXIT

finish() {
	CURRENT=
	if $DRY_RUN; then
		say "plan.sh: dry run: nothing was done"
	else
		say "plan.sh: done: cluster $CLUSTER matches the spec"
	fi
}
`
