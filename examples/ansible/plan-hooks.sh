# etcdgen plan.sh hooks through Ansible: ETCDGEN_HOOKS=examples/ansible/plan-hooks.sh
# plan.sh sources this file after its defaults; each hook runs
# plan-hooks.yaml on the member's address (HOST[member] of plan.sh) with the
# values plan.sh holds. Ansible's own settings (remote user, key, become)
# come from the environment or ansible.cfg as usual; ETCDGEN_ETCD_DIR ships
# binaries as with the default hooks.
ETCDGEN_ANSIBLE_PLAYBOOK=${ETCDGEN_ANSIBLE_PLAYBOOK:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/plan-hooks.yaml}

# The values go to the playbook in its environment, not as -e: an extra var
# is JSON or key=value that this script would have to quote, and Ansible
# templates it again when used, so a path holding "{{" would run as Jinja.
# The playbook reads them with the env lookup, whose result is not templated.
etcdgen_ansible() { # MEMBER ACTION [TREE_TAR VERSION]
	ETCDGEN_HOOK_ACTION=$2 ETCDGEN_HOOK_TREE_TAR=${3:-} ETCDGEN_HOOK_VERSION=${4:-} \
		ETCDGEN_HOOK_BINARY=$ETCD_BIN ETCDGEN_HOOK_DATA_DIR=$DATA_DIR ETCDGEN_HOOK_WAL_DIR=$WAL_DIR \
		ETCDGEN_HOOK_TIMERS="${TIMERS[*]+"${TIMERS[*]}"}" ETCDGEN_ETCD_DIR=${ETCDGEN_ETCD_DIR:-} \
		ansible-playbook -i "${HOST[$1]}," "$ETCDGEN_ANSIBLE_PLAYBOOK" >&2
}
# The step's tree goes over as one tar: Ansible's copy of a directory runs
# two modules on the host for every file (a tree with its certificates and
# operations units holds about 25). Its members only, not "." (that would
# set the mode of the host's /), owned by root as the copy left them.
etcdgen_install() {
	local tar rc=0
	tar=$(mktemp "${TMPDIR:-/tmp}/etcdgen-tree.XXXXXX") || return
	(cd -- "$2" && tar --owner=0 --group=0 --numeric-owner -cf "$tar" -- *) || rc=$?
	((rc != 0)) || etcdgen_ansible "$1" install "$tar" "$3" || rc=$?
	rm -f -- "$tar"
	return "$rc"
}
etcdgen_start() { etcdgen_ansible "$1" start; }
etcdgen_stop() { etcdgen_ansible "$1" stop; }
etcdgen_wipe() { etcdgen_ansible "$1" wipe; }
