# packages.sh: the Debian 12 packages berth needs to build and test, and
# the one function that installs those that are missing.  Sourced by
# tests/run and contrib/quickstart.sh (bash); needs root to install.

# Build: compilers, cmake, pkg-config and the libraries of DESIGN.md
# section 3.  Test: cmocka, clang's libFuzzer/sanitizer runtime, mandoc
# for man page lint, git for the builder tests, and docker.io,
# busybox-static, iproute2, curl and python3 for the private dockerd
# fixture and the integration scripts.
BERTH_PACKAGES="build-essential cmake clang pkg-config libevent-dev
libssl-dev libjansson-dev libcap-dev libseccomp-dev libcurl4-openssl-dev
libarchive-dev libwslay-dev libc-ares-dev libcmocka-dev mandoc git
docker.io busybox-static libclang-rt-14-dev iproute2 curl python3 openssl"

# Packaging (tests/run's "package" stage, tests/packaging/test_deb.sh):
# dpkg-buildpackage and dh for contrib/debian (whose Build-Depends are in
# the list above), lintian, debootstrap for the clean chroot the .deb is
# installed into, and systemd for systemd-analyze.  Not needed to build
# or run berth, so installed only by that stage.
# shellcheck disable=SC2034 # used by tests/run
BERTH_PACKAGING_PACKAGES="dpkg-dev debhelper lintian debootstrap systemd"

# Print the packages of the list that dpkg does not have installed.
# $1: the list (default BERTH_PACKAGES).
berth_packages_missing() {
	local pkg status
	for pkg in ${1:-$BERTH_PACKAGES}; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) ||
		    status=
		case $status in
		*" installed") ;;
		*) printf '%s\n' "$pkg";;
		esac
	done
}

# Install whatever is missing; a machine that has everything never runs
# apt-get.  Returns non-zero if apt-get fails.  $1: the list (default
# BERTH_PACKAGES).
berth_packages_install() {
	local list=${1:-$BERTH_PACKAGES} missing
	missing=$(berth_packages_missing "$list" | tr '\n' ' ')
	if [ -z "${missing// /}" ]; then
		echo "packages: all present"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "packages: missing $missing and not root" >&2
		return 1
	fi
	echo "packages: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	# Wait for a lock held by another apt (unattended-upgrades on a
	# freshly booted machine) instead of failing at once.
	apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null || return 1
	# shellcheck disable=SC2086 # one word per package
	apt-get -o DPkg::Lock::Timeout=300 install -y -q \
	    --no-install-recommends $missing </dev/null || return 1
	missing=$(berth_packages_missing "$list" | tr '\n' ' ')
	if [ -n "${missing// /}" ]; then
		echo "packages: still missing after install: $missing" >&2
		return 1
	fi
}
