# etcdgen plan.sh hooks through Ansible: ETCDGEN_HOOKS=examples/ansible/plan-hooks.sh
# plan.sh sources this file after its defaults; each hook runs
# plan-hooks.yaml on the member's address (HOST[member] of plan.sh) with the
# values plan.sh holds. Ansible's own settings (remote user, key, become)
# come from the environment or ansible.cfg as usual; ETCDGEN_ETCD_DIR ships
# binaries as with the default hooks.
ETCDGEN_ANSIBLE_PLAYBOOK=${ETCDGEN_ANSIBLE_PLAYBOOK:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/plan-hooks.yaml}

etcdgen_ansible() { # MEMBER ACTION [EXTRA_VARS_JSON]
	local vars
	vars=$(printf '{"etcdgen_action":"%s","etcd_binary":"%s","etcd_data_dir":"%s","etcd_wal_dir":"%s","etcd_dir":"%s","etcd_timers":[%s]%s}' \
		"$2" "$ETCD_BIN" "$DATA_DIR" "$WAL_DIR" "${ETCDGEN_ETCD_DIR:-}" \
		"$(printf '"%s",' ${TIMERS[@]+"${TIMERS[@]}"} | sed 's/,$//')" "${3:+,$3}")
	ansible-playbook -i "${HOST[$1]}," -e "$vars" "$ETCDGEN_ANSIBLE_PLAYBOOK" >&2
}
# The step's tree goes over as one tar: Ansible's copy of a directory runs
# two modules on the host for every file (a tree with its certificates and
# operations units holds about 25). Its members only, not "." (that would
# set the mode of the host's /), owned by root as the copy left them.
etcdgen_install() {
	local tar rc=0
	tar=$(mktemp "${TMPDIR:-/tmp}/etcdgen-tree.XXXXXX") || return
	(cd -- "$2" && tar --owner=0 --group=0 --numeric-owner -cf "$tar" -- *) || rc=$?
	((rc != 0)) || etcdgen_ansible "$1" install "$(printf '"etcdgen_tree_tar":"%s","etcdgen_version":"%s"' "$tar" "$3")" || rc=$?
	rm -f -- "$tar"
	return "$rc"
}
etcdgen_start() { etcdgen_ansible "$1" start; }
etcdgen_stop() { etcdgen_ansible "$1" stop; }
etcdgen_wipe() { etcdgen_ansible "$1" wipe; }
