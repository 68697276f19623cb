#!/usr/bin/env bash
# quickstart.sh: berth running on this machine in one command.
#
#   sudo ./contrib/quickstart.sh          install, configure, start
#   sudo ./contrib/quickstart.sh stop     stop what quickstart started
#
# On a fresh Debian 12, as root: installs the missing build packages
# (tests/lib/packages.sh, the same list tests/run uses), builds berth,
# installs it under /usr/local, creates the berth users, finds a Docker
# engine (DOCKER_HOST or /var/run/docker.sock) or else starts the private
# test engine (tests/fixtures/dockerd.sh), writes /etc/berth/berth.conf if
# there is none, starts berthd in the background and shows
# "berthctl status".  Everything it starts is recorded by pid under
# /run/berth so that "stop" stops exactly that.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
BUILD=$ROOT/build/quickstart
CONF=/etc/berth/berth.conf
RUNDIR=/run/berth
PIDFILE=$RUNDIR/berthd.pid
LOGFILE=/var/log/berthd.log
CONTROL_SOCKET=$RUNDIR/control.sock
# The engine quickstart starts when none is found: apart from the test
# suite's (/tmp/berth-ci-dockerd, berthci0), so both can run at once.
ENGINE_DIR=/var/lib/berth-quickstart-dockerd
ENGINE_BRIDGE=berthqs0
ENGINE_SUBNET=172.31.252.0/24
ENGINE_RECORD=$RUNDIR/quickstart-engine

say() { printf '==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# shellcheck source=tests/lib/packages.sh
. "$ROOT/tests/lib/packages.sh"
# shellcheck source=tests/lib/users.sh
. "$ROOT/tests/lib/users.sh"

ping_socket() {
	[ -S "$1" ] && curl -sf --max-time 5 --unix-socket "$1" \
	    http://d/_ping >/dev/null 2>&1
}

# The pid in PIDFILE if it is a running berthd.
berthd_pid() {
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	case $pid in
	''|*[!0-9]*) return 1;;
	esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = berthd ] || return 1
	echo "$pid"
}

stop() {
	local pid i
	if pid=$(berthd_pid); then
		say "removing the example app"
		"$PREFIX/sbin/berthctl" -s "$CONTROL_SOCKET" remove hello \
		    >/dev/null 2>&1 || true
		say "stopping berthd (pid $pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "berthd did not stop in 10 s; SIGKILL"
			kill -KILL "$pid"
		fi
	else
		say "berthd is not running (no live pid in $PIDFILE)"
	fi
	rm -f "$PIDFILE"
	if [ -f "$ENGINE_RECORD" ]; then
		say "stopping the Docker engine quickstart started"
		sh "$ROOT/tests/fixtures/dockerd.sh" down "$ENGINE_DIR" \
		    "$ENGINE_BRIDGE"
		rm -f "$ENGINE_RECORD"
	fi
}

# Print the socket of a Docker engine that answers, starting one if needed.
find_engine() {
	local sock out
	case ${DOCKER_HOST:-} in
	unix://*)
		sock=${DOCKER_HOST#unix://}
		if ping_socket "$sock"; then
			echo "$sock"
			return 0
		fi;;
	esac
	if ping_socket /var/run/docker.sock; then
		echo /var/run/docker.sock
		return 0
	fi
	say "no Docker engine answers; starting a private one in $ENGINE_DIR" >&2
	out=$(sh "$ROOT/tests/fixtures/dockerd.sh" up "$ENGINE_DIR" \
	    "$ENGINE_BRIDGE" "$ENGINE_SUBNET") || return 1
	mkdir -p "$RUNDIR"
	echo "$ENGINE_DIR $ENGINE_BRIDGE" >"$ENGINE_RECORD"
	sock=$(printf '%s\n' "$out" | sed -n 's|^DOCKER_HOST=unix://||p' |
	    tail -n 1)
	[ -n "$sock" ] || return 1
	echo "$sock"
}

write_config() {
	local sock=$1 minimal=$ROOT/tests/fixtures/minimal.conf
	if [ -e "$CONF" ]; then
		say "keeping the existing $CONF"
		return 0
	fi
	say "writing $CONF"
	mkdir -p "$(dirname "$CONF")"
	# tests/fixtures/minimal.conf (defaults for every path) with the
	# engine found above.
	{
		echo "# berth.conf written by contrib/quickstart.sh from"
		echo "# tests/fixtures/minimal.conf; see berth.conf(5)."
		echo "docker-socket \"$sock\""
		if [ -r "$minimal" ]; then
			grep -v '^#' "$minimal"
		else
			echo "log-level info"
		fi
	} | (umask 077; cat >"$CONF")
}

start() {
	local sock pid i

	[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0"
	[ -r /etc/debian_version ] ||
	    say "warning: not Debian; package installation may fail"

	say "packages"
	berth_packages_install || die "package installation failed"

	say "building in $BUILD"
	rm -rf "$BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DBERTH_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$PREFIX" >/dev/null ||
	    die "cmake configure failed"
	cmake --build "$BUILD" -j "$(nproc)" || die "build failed"

	say "installing under $PREFIX"
	cmake --install "$BUILD" >/dev/null || die "install failed"

	say "users"
	berth_create_users "$ROOT" || die "creating the berth users failed"

	say "Docker engine"
	sock=$(find_engine) || die "no Docker engine could be started"
	say "Docker engine at $sock"

	# An engine we did not start may lack the local base image.
	sh "$ROOT/tests/fixtures/dockerd.sh" images "$sock" ||
	    die "cannot import the base image into the engine at $sock"

	write_config "$sock"
	"$PREFIX/sbin/berthd" -n -f "$CONF" >/dev/null ||
	    die "$CONF does not check out (berthd -n -f $CONF)"

	mkdir -p "$RUNDIR"
	if pid=$(berthd_pid); then
		say "berthd already runs as pid $pid"
	else
		local berthd=$PREFIX/sbin/berthd
		say "starting $berthd (log: $LOGFILE)"
		# berthd takes DOCKER_HOST over docker-socket: keep them one.
		export DOCKER_HOST=unix://$sock
		nohup "$berthd" -d -f "$CONF" >"$LOGFILE" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$PIDFILE"
		for ((i = 0; i < 100; i++)); do
			[ -S "$CONTROL_SOCKET" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOGFILE" >&2
			die "berthd exited at start; see $LOGFILE"
		fi
	fi

	local berthctl=$PREFIX/sbin/berthctl
	say "berthctl status"
	"$berthctl" -s "$CONTROL_SOCKET" status ||
	    die "berthctl status failed; see $LOGFILE"

	deploy_example "$berthctl"
}

# A free loopback port for the example, from 8080 up.
free_port() {
	local port
	for port in $(seq 8080 8180); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# The example app: busybox httpd from the local base image, deployed
# through the runner under the policy, published on 127.0.0.1 only.
deploy_example() {
	local berthctl=$1 port i page
	port=$(free_port) || die "no free port between 8080 and 8180"
	page='<h1>Hello from berth</h1>'
	say "deploying the example app \"hello\" on 127.0.0.1:$port"
	"$berthctl" -s "$CONTROL_SOCKET" deploy --image berth-base:latest \
	    --name hello --port "127.0.0.1:$port:8080" --memory 64M -- \
	    sh -c "mkdir -p /tmp/www && echo '$page' >/tmp/www/index.html &&
	    exec httpd -f -p 8080 -h /tmp/www" ||
	    die "deploy failed; see $LOGFILE"
	for ((i = 0; i < 50; i++)); do
		curl -sf "http://127.0.0.1:$port/" >/dev/null && break
		sleep 0.2
	done
	curl -sf "http://127.0.0.1:$port/" | grep -q 'Hello from berth' ||
	    die "the example app does not answer on 127.0.0.1:$port"
	"$berthctl" -s "$CONTROL_SOCKET" apps

	cat <<EOF

berth is running: berthd pid $(cat "$PIDFILE"), log $LOGFILE,
configuration $CONF.
The example app answers:

    curl http://127.0.0.1:$port/

Try: berthctl -s $CONTROL_SOCKET logs hello
     berthctl audit verify
Stop everything with: sudo $0 stop

Still to come: enrolment with the reference control plane and deploys
from git through the builder (see the open issues).
EOF
}

case ${1:-start} in
start)	start;;
stop)	[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 stop"; stop;;
-h|--help)
	echo "usage: quickstart.sh [start|stop]";;
*)	echo "usage: quickstart.sh [start|stop]" >&2; exit 2;;
esac
