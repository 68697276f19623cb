#!/usr/bin/env bash
# Functions run through check() look unreachable to shellcheck:
# shellcheck disable=SC2317
# test_unit_nspawn.sh: berthd.service under a real systemd.  Where the
# test machine has no systemd as pid 1, this boots one: a Debian 12
# chroot with systemd and the berth package, run by systemd-nspawn.  A
# oneshot unit inside waits for berthd, runs berthctl status and a
# deploy from git, reloads and stops berthd, and leaves what it saw in a
# bound directory; the container then powers itself off.
#
# Checked: berthd.service starts and stays up with every directive of
# the unit in force; all four processes run confined with no effective
# capability; the runner reaches the Docker socket through its empty root
# (a stand-in socket here, answering 200 to everything); the builder
# clones from a git daemon (git runs under MemoryDenyWriteExecute,
# NoExecPaths and the syscall filter); reload and stop work, and stop
# ends with status 0.  The image build itself needs a real engine and is
# not checked.
#
#   tests/packaging/test_unit_nspawn.sh [berth_VERSION_ARCH.deb]
#
# Without a .deb it builds one with contrib/debian/build.  Needs root,
# systemd-nspawn (package systemd-container), debootstrap, git and
# python3; skips (77) without systemd-nspawn.  Not part of tests/run (it
# takes some minutes and a second chroot); run it after changing the
# unit.  BERTH_DEBIAN_MIRROR and BERTH_DEBOOTSTRAP_CACHE as in
# test_deb.sh.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/tap.sh
. "$ROOT/tests/lib/tap.sh"

SUITE=bookworm
CACHE=${BERTH_DEBOOTSTRAP_CACHE:-/var/cache/berth-tests/debootstrap}
MIRROR=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER_GID=4242
# nspawn 252's own seccomp filter predates Landlock: without these the
# container refuses them, whatever the unit says.
NSPAWN_SYSCALLS="landlock_create_ruleset landlock_add_rule landlock_restrict_self"

if [ "$(id -u)" -ne 0 ]; then
	echo "# skip: needs root"
	exit 77
fi
if ! command -v systemd-nspawn >/dev/null; then
	echo "# skip: no systemd-nspawn (apt-get install systemd-container)"
	exit 77
fi
for tool in debootstrap git python3; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed"
		finish
	fi
done

WORK=$(mktemp -d /tmp/berth-nspawn.XXXXXX) || exit 1
# The git daemon runs as nobody and serves from below here.
chmod 0755 "$WORK"
CHROOT=$WORK/root
FAKE_PID=
GITD_PIDFILE=$WORK/gitd.pid
NSPAWN_RUN_EXISTED=0
[ -d /run/systemd/nspawn ] && NSPAWN_RUN_EXISTED=1

cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	[ -s "$GITD_PIDFILE" ] && kill "$(cat "$GITD_PIDFILE")" 2>/dev/null
	awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts |
	    sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
		    echo "# cannot unmount $m" >&2
	done
	# nspawn leaves empty bookkeeping directories behind on a host
	# without systemd; only ours go.
	if [ "$NSPAWN_RUN_EXISTED" = 0 ] && [ -d /run/systemd/nspawn ]; then
		rmdir /run/systemd/nspawn/locks /run/systemd/nspawn/propagate \
		    /run/systemd/nspawn 2>/dev/null
	fi
	if grep -q " $WORK/" /proc/mounts; then
		echo "# still mounted below $WORK; left in place" >&2
		return
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS

deb=${1:-}
if [ -z "$deb" ]; then
	if ! "$ROOT/contrib/debian/build" "$WORK/out" >"$WORK/build.log" 2>&1; then
		not_ok "contrib/debian/build"
		finish
	fi
	deb=$(ls "$WORK"/out/berth_*.deb)
fi
check "berth package $(basename "$deb")" test -f "$deb"

note "debootstrap --variant=minbase $SUITE with systemd, from $MIRROR"
mkdir -p "$CACHE"
if ! debootstrap --variant=minbase --cache-dir="$CACHE" \
    --include=systemd,systemd-sysv,dbus,git,ca-certificates \
    "$SUITE" "$CHROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
	tail -n 20 "$WORK/debootstrap.log" | sed 's/^/#   /'
	not_ok "debootstrap $SUITE"
	finish
fi
ok "debootstrap $SUITE with systemd"

# The package, installed as on a systemd machine that is not running.
mount -t proc proc "$CHROOT/proc" || { not_ok "mount proc"; finish; }
cp "$deb" "$CHROOT/tmp/"
chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
    -o Dpkg::Use-Pty=0 install --no-install-recommends \
    "/tmp/$(basename "$deb")" >"$WORK/install.log" 2>&1
rc=$?
umount "$CHROOT/proc"
check "apt-get install in the chroot" test $rc -eq 0

# A stand-in Docker socket, root:docker 0660 as dockerd makes it.
mkdir -p "$WORK/docker" "$CHROOT/var/lib/berth-test-docker" "$WORK/results"
chroot "$CHROOT" groupadd -g "$DOCKER_GID" docker
python3 - "$WORK/docker/docker.sock" "$DOCKER_GID" <<'EOF' &
import os, socket, sys
path, gid = sys.argv[1], int(sys.argv[2])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chown(path, 0, gid)
os.chmod(path, 0o660)
srv.listen(16)
while True:
    conn, _ = srv.accept()
    try:
        conn.settimeout(2)
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n"
                     b"Content-Type: text/plain\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nOK")
    except OSError:
        pass
    conn.close()
EOF
FAKE_PID=$!

# A git daemon on the loopback (the container shares the host's network)
# serving contrib/examples/static, as nobody.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git_base=$WORK/git
mkdir -p "$git_base/work"
cp -r "$ROOT/contrib/examples/static/." "$git_base/work/"
git -C "$git_base/work" init -q -b main &&
    git -C "$git_base/work" add -A &&
    git -C "$git_base/work" -c user.name=test -c user.email=test@localhost \
    commit -qm "static example" &&
    git clone -q --bare "$git_base/work" "$git_base/static.git" &&
    chown -R nobody:nogroup "$git_base" &&
    (cd / && HOME=$git_base XDG_CONFIG_HOME=$git_base git daemon \
    --export-all --base-path="$git_base" --reuseaddr --listen=127.0.0.1 \
    --port="$port" --user=nobody --group=nogroup \
    --pid-file="$GITD_PIDFILE" --detach)
check "git daemon on 127.0.0.1:$port" test -s "$GITD_PIDFILE"

cat >"$CHROOT/etc/default/berthd" <<EOF
DOCKER_HOST=unix:///var/lib/berth-test-docker/docker.sock
LOG_LEVEL=debug
EOF
printf '\nbuild {\n\trepo-prefix "git://127.0.0.1:%s/"\n}\n' "$port" \
    >>"$CHROOT/etc/berth/berth.conf"

cat >"$CHROOT/usr/local/bin/berth-probe" <<EOF
#!/bin/sh
# Runs once berthd.service has started; results in /results.
r=/results
for i in \$(seq 1 60); do
	berthctl status >/dev/null 2>&1 && break
	sleep 0.5
done
systemctl show berthd -p ActiveState -p NRestarts >\$r/started
berthctl status >\$r/status 2>&1
timeout 60 berthctl deploy --repo git://127.0.0.1:$port/static.git \
    --ref main --name hello --port 127.0.0.1:18080:8080 >\$r/deploy 2>&1
systemctl reload berthd; echo "reload \$?" >\$r/reload
sleep 1
systemctl show berthd -p ActiveState -p NRestarts >>\$r/reload
systemctl stop berthd
systemctl show berthd -p ActiveState -p Result -p ExecMainStatus >\$r/stopped
journalctl -u berthd --no-pager -b >\$r/journal 2>&1
systemctl poweroff
EOF
chmod 0755 "$CHROOT/usr/local/bin/berth-probe"
cat >"$CHROOT/etc/systemd/system/berth-probe.service" <<'EOF'
[Unit]
Description=berth unit test probe
After=berthd.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/berth-probe
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/berth-probe.service \
    "$CHROOT/etc/systemd/system/multi-user.target.wants/berth-probe.service"

note "booting the container"
(cd / && timeout 240 systemd-nspawn -q --register=no --keep-unit \
    -D "$CHROOT" -M berth-unit-test -b --console=pipe \
    --system-call-filter="$NSPAWN_SYSCALLS" \
    --bind="$WORK/results:/results" \
    --bind="$WORK/docker:/var/lib/berth-test-docker" \
    </dev/null >"$WORK/nspawn.log" 2>&1)
R=$WORK/results
check "the container ran the probe and powered off" test -s "$R/journal"

# status_all_confined: four processes, each filtered, no_new_privs, no
# effective capability.
status_all_confined() {
	local n
	n=$(awk '$1 ~ /^(parent|netd|builder|runner)$/ &&
	    $5 == "filter" && $6 == "yes" && $8 == "0000000000000000"' \
	    "$R/status" | wc -l)
	[ "$n" -eq 4 ]
}

check "berthd.service active, not restarted" \
    grep -qx 'ActiveState=active' "$R/started"
check "no restart before the probe" grep -qx 'NRestarts=0' "$R/started"
check "berthctl status: four processes confined, CapEff 0" \
    status_all_confined
check "the runner reached the Docker socket" \
    grep -q 'runner: docker: GET done: 200' "$R/journal"
check "the builder cloned from git" grep -q '^clone ok ' "$R/deploy"
check "reload succeeded" grep -qx 'reload 0' "$R/reload"
check "still active after reload" grep -qx 'ActiveState=active' "$R/reload"
check "stop: Result=success" grep -qx 'Result=success' "$R/stopped"
check "stop: exit status 0" grep -qx 'ExecMainStatus=0' "$R/stopped"
refute "no process was killed by a signal" grep -q 'was killed by signal' "$R/journal"
if [ "$failures" -ne 0 ]; then
	note "berthctl status:"
	sed 's/^/#   /' "$R/status" 2>/dev/null
	note "the end of berthd's journal:"
	tail -n 30 "$R/journal" 2>/dev/null | sed 's/^/#   /'
fi

note "test_unit_nspawn.sh took $((SECONDS - start))s"
finish
