#!/bin/sh
# Build the Debian root file system the host tests boot under systemd-nspawn
# (e2e/hosts_test.go), once, as a tarball: ./rootfs.sh OUT.tar
#
# minbase plus what a member host needs: systemd as PID 1 (systemd-sysv),
# dbus for systemctl, sshd and python3 for Ansible, iproute2 to look at it.
# The suite and the mirror are the ones apt already uses on this machine,
# read from its sources, so CI needs no other network access.
set -eu
out=$1
# The tarball's directory is shared by every clone on the machine (see
# e2e/Makefile): a build of its own, renamed into place when whole, so two
# builds at once cannot mix.
tmp=$(mktemp -d "$out.tmp.XXXXXX")
chmod 0755 "$tmp" # the hosts' /, for every user of theirs
trap 'rm -rf "$tmp" "$tmp.tar"' EXIT

. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
# deb822 sources (URIs: ...) first, then one-line sources (deb URI suite ...).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	grep -v -- -security | head -n1)
if [ -z "$mirror" ]; then
	mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
fi
[ -n "$mirror" ] || { echo "rootfs.sh: no Debian mirror in apt's sources" >&2; exit 1; }

echo "e2e: debootstrap $suite (minbase) into $tmp"
debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,dbus,openssh-server,python3,iproute2 \
	"$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"

# Networking by systemd-networkd (each host gets its own 10-*.network, see
# hosts_test.go), sshd at boot; no getty on a console nobody reads.
chroot "$tmp" systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
chroot "$tmp" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
# Every host gets its host keys from here (the test skips host key checks).
rm -f "$tmp"/etc/ssh/ssh_host_*
chroot "$tmp" ssh-keygen -A >/dev/null
# systemd-nspawn gives each boot a machine id.
: >"$tmp/etc/machine-id"
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*

tar -C "$tmp" --numeric-owner -cf "$tmp.tar" .
mv -f "$tmp.tar" "$out"
echo "e2e: root file system cached in $out ($(du -h "$out" | cut -f1))"
