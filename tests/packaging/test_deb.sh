#!/usr/bin/env bash
# Functions run through check() look unreachable to shellcheck:
# shellcheck disable=SC2317
# test_deb.sh: the Debian packages (contrib/debian) and the systemd unit
# (contrib/systemd), from source to a clean Debian 12 and back.
#
#   1. a snapshot of the tree is built twice with contrib/debian/build, in
#      scratch directories of different names and lengths; every .deb must
#      come out byte for byte the same (no build path, no timestamp);
#   2. lintian: no E: tag (warnings are printed);
#   3. systemd-analyze: "verify" has nothing to say about berthd.service
#      but the binary that is not installed here, and the offline
#      "security" exposure stays at or under BERTH_EXPOSURE_MAX (4.0);
#   4. a minbase Debian 12 chroot (debootstrap, from this machine's own
#      Debian mirror) without systemd: "apt-get install ./berth_*.deb"
#      with a policy-rc.d that refuses every start; the users, the unit,
#      the directories and "berthd -n" are checked; then a purge;
#   5. the same install with systemd-sysusers and systemd-tmpfiles (the
#      standalone packages) present, which the postinst must prefer;
#      then a purge again.
#
# Needs root, dpkg-dev, debhelper, lintian, debootstrap, systemd
# (systemd-analyze) and the Build-Depends of contrib/debian/control;
# tests/run's "package" stage installs them (BERTH_PACKAGING_PACKAGES in
# tests/lib/packages.sh).  Prints "ok - ..." / "not ok - ..." per check
# and exits 1 if any failed.
#
# Environment:
#   BERTH_DEBIAN_MIRROR	 the mirror for debootstrap (default: the one in
#			 /etc/apt/sources.list*, else deb.debian.org)
#   BERTH_DEBOOTSTRAP_CACHE  where debootstrap keeps the .debs it fetched,
#			 for the next run (/var/cache/berth-tests/debootstrap)
#   BERTH_EXPOSURE_MAX	 highest acceptable systemd-analyze exposure (4.0)
#   BERTH_KEEP		 1: leave the work directory (and say where)

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/tap.sh
. "$ROOT/tests/lib/tap.sh"

SUITE=bookworm
CACHE=${BERTH_DEBOOTSTRAP_CACHE:-/var/cache/berth-tests/debootstrap}
EXPOSURE_MAX=${BERTH_EXPOSURE_MAX:-4.0}
USERS="_berth _berthbuild _berthrun"

if [ "$(id -u)" -ne 0 ]; then
	echo "# skip: debootstrap and chroot need root"
	exit 77
fi
for tool in dpkg-buildpackage dh lintian debootstrap systemd-analyze; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed"
		finish
	fi
done

WORK=$(mktemp -d /tmp/berth-pkgtest.XXXXXX) || exit 1
CHROOT=$WORK/chroot
MOUNTED=()

# Unmount what we mounted, newest first; remove the work directory only
# once nothing is mounted below it any more.
cleanup() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[$i]}" 2>/dev/null ||
		    umount -l "${MOUNTED[$i]}" 2>/dev/null ||
		    echo "# cannot unmount ${MOUNTED[$i]}" >&2
	done
	MOUNTED=()
	# debootstrap mounts proc and sys in the chroot while it runs, and
	# leaves them if it is interrupted: those, deepest first.
	awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts |
	    sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
		    echo "# cannot unmount $m" >&2
	done
	if grep -q " $WORK/" /proc/mounts; then
		echo "# still mounted below $WORK; left in place" >&2
		return
	fi
	if [ "${BERTH_KEEP:-0}" = 1 ]; then
		echo "# kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Where this machine gets Debian from: the first URI given for $SUITE in
# the deb822 .sources files, else in the one-line .list files.
debian_mirror() {
	local uri
	if [ -n "${BERTH_DEBIAN_MIRROR:-}" ]; then
		echo "$BERTH_DEBIAN_MIRROR"
		return
	fi
	uri=$(awk -v suite="$SUITE" '
		/^[ \t]*$/ { if (ok && uri != "") { print uri; exit }
			     ok = 0; uri = ""; next }
		tolower($1) == "uris:" { uri = $2 }
		tolower($1) == "suites:" {
			for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
		END { if (ok && uri != "") print uri }' \
	    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		    2>/dev/null | sed 's/\[[^]]*\]//' |
		    awk -v suite="$SUITE" '$1 == "deb" && $3 == suite {
			print $2; exit }')
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

# The files of the tree, once: both builds must see the same source even
# if someone edits the working tree meanwhile.
snapshot() {
	local dst=$1
	mkdir -p "$dst" || return 1
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$ROOT" && git ls-files -z --cached --others \
		    --exclude-standard | xargs -0 tar -cf - --no-recursion \
		    --ignore-failed-read) | tar -C "$dst" -xif -
	else
		(cd "$ROOT" && tar -cf - --exclude=./.git --exclude=./build \
		    --exclude='./build-*' .) | tar -C "$dst" -xf -
	fi
}

# build OUT SCRATCH LOG: the packages from the snapshot.
build() {
	if "$WORK/src/contrib/debian/build" "$1" "$2" >"$3" 2>&1; then
		return 0
	fi
	note "the build failed; its errors ($3):"
	grep -E 'error|Error|warning:' "$3" | grep -v '^cd \|^/usr/bin/cc ' |
	    tail -n 20 | sed 's/^/#   /'
	return 1
}

# Every .deb of out-a is in out-b with the same bytes, and no more.
same_debs() {
	local a b name rc=0
	a=$(cd "$WORK/out-a" && ls -- *.deb | sort)
	b=$(cd "$WORK/out-b" && ls -- *.deb | sort)
	if [ "$a" != "$b" ]; then
		note "the builds made different sets of packages"
		return 1
	fi
	for name in $a; do
		if cmp -s "$WORK/out-a/$name" "$WORK/out-b/$name"; then
			note "identical: $name"
		else
			note "differs: $name"
			rm -rf "$WORK/diff-a" "$WORK/diff-b"
			dpkg-deb -R "$WORK/out-a/$name" "$WORK/diff-a" &&
			dpkg-deb -R "$WORK/out-b/$name" "$WORK/diff-b" &&
			diff -rq "$WORK/diff-a" "$WORK/diff-b" | sed 's/^/#   /'
			rc=1
		fi
	done
	return $rc
}

lintian_clean() {
	local out
	# Root is what we are; lintian's warning about it is noise here.
	out=$(lintian --pedantic "$WORK"/out-a/*.changes 2>&1 |
	    grep -v 'running with root privileges')
	if [ -n "$out" ]; then
		printf '%s\n' "$out" | sed 's/^/# lintian: /'
	else
		note "lintian: nothing to report"
	fi
	! printf '%s\n' "$out" | grep -q '^E:'
}

# The unit as packaged.  Its binary is installed in the chroot, not here.
unit_verifies() {
	local unit=$WORK/unit/lib/systemd/system/berthd.service out
	out=$(systemd-analyze verify --man=no "$unit" 2>&1 |
	    grep -v '^berthd.service: Command /usr/sbin/berthd is not executable: No such file or directory$')
	[ -z "$out" ] && return 0
	printf '%s\n' "$out" | sed 's/^/#   /'
	return 1
}

unit_exposure() {
	local unit=$WORK/unit/lib/systemd/system/berthd.service line score
	line=$(systemd-analyze security --offline=yes "$unit" 2>&1 |
	    grep 'Overall exposure level')
	score=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
	note "systemd-analyze security: ${line#→ }"
	[ -n "$score" ] &&
	    awk -v s="$score" -v max="$EXPOSURE_MAX" 'BEGIN { exit !(s <= max) }'
}

in_chroot() {
	chroot "$CHROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}

# apt_get LOG ARGS: apt-get in the chroot, its output kept in LOG.
apt_get() {
	local log=$1
	shift
	if in_chroot apt-get -o Dpkg::Use-Pty=0 -y -q "$@" >"$log" 2>&1; then
		return 0
	fi
	tail -n 20 "$log" | sed 's/^/#   /'
	return 1
}

users_exist() {
	local user
	for user in $USERS; do
		in_chroot getent passwd "$user" >/dev/null || return 1
	done
}

# no_systemd: the chroot has neither systemd nor a running manager.
no_systemd() {
	[ ! -e "$CHROOT/lib/systemd/systemd" ] &&
	    [ ! -d "$CHROOT/run/systemd/system" ] &&
	    ! in_chroot sh -c 'command -v systemctl' >/dev/null
}

# owner_mode PATH OWNER:GROUP MODE, inside the chroot.
owner_mode() {
	[ "$(in_chroot stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2 $3" ]
}

dirs_right() {
	owner_mode /var/lib/berth root:root 700 &&
	    owner_mode /var/lib/berth-build _berthbuild:_berthbuild 700 &&
	    owner_mode /run/berth root:root 755
}

installed() {
	[ "$(in_chroot dpkg-query -W -f='${Status}' berth 2>/dev/null)" = \
	    "install ok installed" ]
}

purged() {
	! in_chroot dpkg-query -W berth >/dev/null 2>&1 &&
	    [ ! -e "$CHROOT/var/lib/berth" ] &&
	    [ ! -e "$CHROOT/var/lib/berth-build" ] &&
	    [ ! -e "$CHROOT/run/berth" ] &&
	    [ ! -e "$CHROOT/etc/berth/berth.conf" ] &&
	    [ ! -e "$CHROOT/etc/default/berthd" ] &&
	    [ ! -e "$CHROOT/etc/systemd/system/multi-user.target.wants/berthd.service" ]
}

remove_users() {
	local user
	for user in $USERS; do
		in_chroot userdel "$user" || return 1
	done
}

unit_files() {
	[ -f "$CHROOT/lib/systemd/system/berthd.service" ] &&
	    [ -f "$CHROOT/usr/lib/sysusers.d/berth.conf" ] &&
	    [ -f "$CHROOT/usr/lib/tmpfiles.d/berth.conf" ]
}

# deb-systemd-helper enables the unit without a running systemd.
unit_enabled() {
	[ -L "$CHROOT/etc/systemd/system/multi-user.target.wants/berthd.service" ]
}

berthd_checks_conf() {
	chroot "$CHROOT" berthd -n -f /etc/berth/berth.conf \
	    >"$WORK/berthd-n.log" 2>&1
}

start=$SECONDS

# 1. Two builds of one snapshot, in directories of different lengths.
check "snapshot of the source tree" snapshot "$WORK/src"
check "build in $WORK/a" build "$WORK/out-a" "$WORK/a" "$WORK/build-a.log"
check "build in $WORK/build-path-b-longer" build "$WORK/out-b" \
    "$WORK/build-path-b-longer" "$WORK/build-b.log"
note "built in $((SECONDS - start))s"
if ! ls "$WORK"/out-a/berth_*.deb >/dev/null 2>&1; then
	not_ok "berth .deb built"
	finish
fi
check "both builds give the same bytes (reproducible)" same_debs

# 2. lintian.
check "lintian: no errors" lintian_clean

# 3. The unit, as the package holds it.
dpkg-deb -x "$WORK"/out-a/berth_*.deb "$WORK/unit"
check "systemd-analyze verify berthd.service" unit_verifies
check "systemd-analyze security: exposure <= $EXPOSURE_MAX" unit_exposure

# 4. A clean Debian 12 without systemd.
MIRROR=$(debian_mirror)
note "debootstrap --variant=minbase $SUITE from $MIRROR"
mkdir -p "$CACHE"
t=$SECONDS
if ! debootstrap --variant=minbase --cache-dir="$CACHE" "$SUITE" "$CHROOT" \
    "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
	tail -n 20 "$WORK/debootstrap.log" | sed 's/^/#   /'
	# debootstrap may leave its own mounts if it fails half way.
	for m in proc sys; do
		mountpoint -q "$CHROOT/$m" && MOUNTED+=("$CHROOT/$m")
	done
	not_ok "debootstrap $SUITE"
	finish
fi
ok "debootstrap $SUITE ($((SECONDS - t))s)"

printf '#!/bin/sh\n# Nothing starts while the test installs.\nexit 101\n' \
    >"$CHROOT/usr/sbin/policy-rc.d"
chmod 0755 "$CHROOT/usr/sbin/policy-rc.d"
if mount -t proc proc "$CHROOT/proc"; then
	MOUNTED+=("$CHROOT/proc")
else
	not_ok "mount /proc in the chroot"
	finish
fi
mkdir -p "$CHROOT/tmp/debs"
cp "$WORK"/out-a/*.deb "$CHROOT/tmp/debs/"
deb=$(cd "$CHROOT/tmp/debs" && ls berth_*.deb)

check "the chroot has no systemd" no_systemd
check "apt-get install ./$deb (dependencies from $MIRROR)" \
    apt_get "$WORK/install-1.log" install --no-install-recommends \
    "/tmp/debs/$deb"
check "berth is installed (maintainer scripts ran without systemd)" \
    installed
check "users $USERS exist" users_exist
check "users made by create-users.sh (no systemd-sysusers)" \
    grep -q '^create-users: created _berth$' "$WORK/install-1.log"
check "unit, sysusers.d and tmpfiles.d files installed" unit_files
check "berthd.service enabled (multi-user.target.wants)" unit_enabled
check "directories with their owners and modes" dirs_right
check "/etc/default/berthd is 0600" owner_mode /etc/default/berthd \
    root:root 600
check "berthd -n -f /etc/berth/berth.conf exits 0" berthd_checks_conf
check "berthd -n says configuration OK" \
    grep -q '^configuration OK$' "$WORK/berthd-n.log"

check "apt-get purge berth" apt_get "$WORK/purge-1.log" purge berth
check "purge removed the package, its state, conffiles and enablement" \
    purged
check "purge kept the users" users_exist

# 5. The same with systemd-sysusers and systemd-tmpfiles present.
check "users removed for the second install" remove_users
check "install systemd-standalone-sysusers and -tmpfiles" \
    apt_get "$WORK/install-tools.log" install --no-install-recommends \
    systemd-standalone-sysusers systemd-standalone-tmpfiles
check "apt-get install ./$deb again" apt_get "$WORK/install-2.log" \
    install --no-install-recommends "/tmp/debs/$deb"
check "users made by systemd-sysusers" \
    grep -q "^Creating user '_berth' (berth netd)" "$WORK/install-2.log"
check "users $USERS exist" users_exist
check "directories made by systemd-tmpfiles, owners and modes" dirs_right
check "apt-get purge berth, again" apt_get "$WORK/purge-2.log" purge berth
check "purge removed everything again" purged

note "test_deb.sh took $((SECONDS - start))s"
finish
