package plan

import (
	"strings"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// EnableAuth runs the auth bootstrap (the systemd target's etcd-auth, the
// same script the member hosts get) with the plan's admin client: root,
// the least-privilege users, then auth enable. Idempotent like the script.
const EnableAuth Kind = "enable-auth"

// AuthScriptFile is the script's name in the step's directory.
const AuthScriptFile = "etcd-auth"

// authStep is the enable-auth step when the new spec turns auth on (old is
// nil for a new cluster), last: every member runs and is healthy by then,
// with ETCD_AUTH_TOKEN in its env file. A member tree installed by an
// earlier step carries the token setting; members no step touches pick it
// up when they next restart with the new tree (clients that log in with
// their cert use no token, so nothing waits for it).
func authStep(old, new *render.Model) *Step {
	if !new.Ops.Auth.Enabled || (old != nil && old.Ops.Auth.Enabled) {
		return nil
	}
	var names []string
	for _, mem := range new.Members {
		names = append(names, mem.Name)
	}
	return &Step{Kind: EnableAuth, Voters: names,
		Why: "auth.enabled: creates the root user and role and one user per client certificate CN with only what it needs " +
			"(kube-apiserver-etcd-client: read-write on its prefix, read on compact_rev_key; kube-etcd-healthcheck-client: read on health; " +
			"root: the admin, snapshots and defragmentation), then `auth enable`. From then on a client whose certificate CN has no user is refused. " +
			"It runs this step's " + AuthScriptFile + ", the script each member host has as /" + systemd.AuthScript + ", and does only what is missing.",
		Files: []render.File{{Path: AuthScriptFile, Mode: 0o755, Data: systemd.AuthScriptFor(new)}}}
}

// authCall is the plan.sh line of an enable-auth step: the new members'
// client URLs, where the users are made.
func authCall(s *Step, new *render.Model) string {
	return "step_enable_auth " + words(s.Dir(), strings.Join(new.ClientURLs, ","))
}

// authLibrary is plan.sh's step function: the script with plan.sh's
// etcdctl (from PATH) and admin client.
const authLibrary = `
step_enable_auth() { # STEP ENDPOINTS
	ETCDCTL_BIN=$(command -v etcdctl) ETCDCTL_ENDPOINTS=$2 \
		ETCDCTL_CACERT=$CACERT ETCDCTL_CERT=$CERT ETCDCTL_KEY=$KEY \
		sh "$PLAN_DIR/steps/$1/` + AuthScriptFile + `"
}
`
