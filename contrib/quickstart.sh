#!/usr/bin/env bash
# quickstart.sh: berth running on this machine in one command.
#
#   sudo ./contrib/quickstart.sh          install, configure, start
#   sudo ./contrib/quickstart.sh stop     stop what quickstart started
#   sudo ./contrib/quickstart.sh --down   the same as stop
#
# On a fresh Debian 12, as root: installs the missing build packages
# (tests/lib/packages.sh, the same list tests/run uses), builds berth,
# installs it under /usr/local, creates the berth users, finds a Docker
# engine (DOCKER_HOST or /var/run/docker.sock) or else starts the private
# test engine (tests/fixtures/dockerd.sh), writes /etc/berth/berth.conf if
# there is none, starts berthd in the background and shows
# "berthctl status".  It starts the reference control plane
# (contrib/controlplane/berth-cp) on 127.0.0.1 and enrols berthd with it
# (a one-time token in the berth.conf it writes).  It ends by deploying
# contrib/examples/static from git, as a signed task of that control
# plane: a bare repository served by a git daemon on 127.0.0.1 that it
# starts, which berth clones, builds and deploys.  If the control plane
# cannot be used it deploys with berthctl instead, and if the build
# fails it deploys the base image directly; it says which it did.
# Everything it starts is recorded by pid under /run/berth so that
# "stop" stops exactly that.

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
# The git daemon serving the example repository (127.0.0.1 only).
GIT_BASE=/var/lib/berth-quickstart-git
GIT_PORT=${BERTH_QUICKSTART_GIT_PORT:-9418}
GIT_PIDFILE=$RUNDIR/quickstart-gitd.pid
# The reference control plane (127.0.0.1 only).  Its database is kept by
# stop, like berthd's identity, so that a later start finds the node.
CP_DIR=/var/lib/berth-quickstart-cp
CP_PORT=${BERTH_QUICKSTART_CP_PORT:-7480}
CP_PIDFILE=$RUNDIR/quickstart-cp.pid
CP_LOG=/var/log/berth-cp.log
CP="$ROOT/contrib/controlplane/berth-cp --db $CP_DIR/cp.db"

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
		say "removing the example app and its images"
		"$PREFIX/sbin/berthctl" -s "$CONTROL_SOCKET" remove hello \
		    >/dev/null 2>&1 || true
		"$PREFIX/sbin/berthctl" -s "$CONTROL_SOCKET" image prune \
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
	if pid=$(cp_pid); then
		say "stopping the reference control plane (pid $pid)"
		kill -TERM "$pid"
	fi
	rm -f "$CP_PIDFILE"
	if pid=$(gitd_pid); then
		say "stopping the git daemon (pid $pid)"
		kill -TERM "$pid"
	fi
	rm -f "$GIT_PIDFILE"
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
	local sock=$1 minimal=$ROOT/tests/fixtures/minimal.conf token=
	if [ -e "$CONF" ]; then
		say "keeping the existing $CONF"
		return 0
	fi
	if cp_pid >/dev/null; then
		token=$($CP token create --name quickstart) || token=
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
		echo
		echo "# Deploys from git: the quickstart's own git daemon only."
		echo "build {"
		printf '\trepo-prefix "git://127.0.0.1:%s/"\n' "$GIT_PORT"
		echo "}"
		if [ -n "$token" ]; then
			echo
			echo "# The quickstart's reference control plane; the"
			echo "# token is used once, at enrolment."
			echo "control-plane {"
			echo "	protocol native"
			printf '\turl "http://127.0.0.1:%s"\n' "$CP_PORT"
			printf '\tenrol-token "%s"\n' "$token"
			echo "	node-name \"quickstart\""
			echo "}"
		fi
	} | (umask 077; cat >"$CONF")
}

# The pid in CP_PIDFILE if it is a running berth-cp.
cp_pid() {
	local pid
	pid=$(cat "$CP_PIDFILE" 2>/dev/null) || return 1
	case $pid in
	''|*[!0-9]*) return 1;;
	esac
	grep -q 'berth-cp' "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

# The reference control plane on 127.0.0.1:CP_PORT, signing its tasks.
start_cp() {
	local pid i
	if pid=$(cp_pid); then
		say "the reference control plane already runs as pid $pid"
		return 0
	fi
	command -v python3 >/dev/null || { say "python3 is missing"; return 1; }
	mkdir -p "$CP_DIR" "$RUNDIR" && chmod 0700 "$CP_DIR"
	say "starting the reference control plane on 127.0.0.1:$CP_PORT" \
	    "(log: $CP_LOG)"
	nohup $CP serve --listen "127.0.0.1:$CP_PORT" --sign-tasks \
	    --heartbeat-sec 10 --poll-timeout-sec 20 >"$CP_LOG" 2>&1 \
	    </dev/null &
	echo $! >"$CP_PIDFILE"
	for ((i = 0; i < 50; i++)); do
		grep -q listening "$CP_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	say "the reference control plane did not start; see $CP_LOG"
	return 1
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

	start_cp || say "going on without a control plane"
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
	# The socket is up before every child has confined itself and said
	# ready; status fails until all four answer.
	say "berthctl status"
	for ((i = 0; i < 50; i++)); do
		"$berthctl" -s "$CONTROL_SOCKET" status >/dev/null 2>&1 && break
		sleep 0.2
	done
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

# The pid in GIT_PIDFILE if it is a running git daemon.
gitd_pid() {
	local pid
	pid=$(cat "$GIT_PIDFILE" 2>/dev/null) || return 1
	case $pid in
	''|*[!0-9]*) return 1;;
	esac
	grep -q '^git' "/proc/$pid/comm" 2>/dev/null || return 1
	echo "$pid"
}

# contrib/examples/static as a bare repository under GIT_BASE, one
# commit, owned by nobody: the daemon runs as nobody, and git refuses to
# serve a repository its user does not own.
make_example_repo() {
	local work=$GIT_BASE/work repo=$GIT_BASE/static.git
	rm -rf "$work" "$repo"
	mkdir -p "$work" || return 1
	cp -r "$ROOT/contrib/examples/static/." "$work/" &&
	git -C "$work" init -q -b main &&
	git -C "$work" add -A &&
	git -C "$work" -c user.name=quickstart \
	    -c user.email=quickstart@localhost commit -qm "static example" &&
	git clone -q --bare "$work" "$repo" &&
	rm -rf "$work" &&
	chown -R nobody:nogroup "$GIT_BASE"
}

# A git daemon on 127.0.0.1:GIT_PORT serving GIT_BASE, as nobody.
start_gitd() {
	local pid i
	if pid=$(gitd_pid); then
		say "the git daemon already runs as pid $pid"
		return 0
	fi
	command -v git >/dev/null || { say "git is not installed"; return 1; }
	make_example_repo || {
		say "cannot make the example repository"
		return 1
	}
	mkdir -p "$RUNDIR"
	say "starting a git daemon on 127.0.0.1:$GIT_PORT for $GIT_BASE"
	# As nobody, with a HOME nobody may read: not root's git config.
	HOME=$GIT_BASE XDG_CONFIG_HOME=$GIT_BASE git daemon --export-all --base-path="$GIT_BASE" --reuseaddr \
	    --listen=127.0.0.1 --port="$GIT_PORT" --user=nobody \
	    --group=nogroup --pid-file="$GIT_PIDFILE" --detach || {
		say "the git daemon did not start"
		return 1
	}
	for ((i = 0; i < 50; i++)); do
		git ls-remote "git://127.0.0.1:$GIT_PORT/static.git" \
		    >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	say "the git daemon does not answer on 127.0.0.1:$GIT_PORT"
	return 1
}

# Up to 10 s for the page on 127.0.0.1:$1 to hold the text $2.
answers() {
	local port=$1 text=$2 i
	for ((i = 0; i < 50; i++)); do
		curl -sf "http://127.0.0.1:$port/" | grep -q "$text" &&
		    return 0
		sleep 0.2
	done
	return 1
}

# The node's id at the control plane, once berthd has enrolled (20 s).
cp_node() {
	local node i
	cp_pid >/dev/null || return 1
	for ((i = 0; i < 100; i++)); do
		node=$($CP nodes 2>/dev/null | awk 'NR == 1 { print $1 }')
		[ -n "$node" ] && { echo "$node"; return 0; }
		sleep 0.2
	done
	return 1
}

# The example as a task of the control plane: signed, accepted, built,
# deployed; its events are printed as they come (3 minutes at most).
deploy_by_task() {
	local port=$1 node task state events i seen=0 n
	node=$(cp_node) || { say "berthd has not enrolled"; return 1; }
	start_gitd || return 1
	task=$($CP task add --node "$node" --kind deploy --app hello \
	    --repo "git://127.0.0.1:$GIT_PORT/static.git" --ref main \
	    --port "127.0.0.1:$port:8080" --memory 64m) || return 1
	say "control plane task $task: deploy contrib/examples/static" \
	    "as \"hello\" on 127.0.0.1:$port (node $node)"
	for ((i = 0; i < 900; i++)); do
		# One reading for both: the lines shown and the last state.
		events=$($CP events "$task" 2>/dev/null) || events=
		n=$(printf '%s' "$events" | grep -c .)
		if [ "$n" -gt "$seen" ]; then
			printf '%s\n' "$events" | tail -n +$((seen + 1)) |
			    sed 's/^/    /'
			seen=$n
		fi
		state=$(printf '%s\n' "$events" | tail -n 1 | awk '{ print $4 }')
		case $state in
		succeeded) answers "$port" \
		    'hello from the berth static example'; return;;
		failed|rejected|cancelled|expired) return 1;;
		esac
		sleep 0.2
	done
	say "task $task did not finish in 3 minutes"
	return 1
}

# contrib/examples/static from git: clone, build, deploy, then curl it.
deploy_from_git() {
	local berthctl=$1 port=$2
	start_gitd || return 1
	say "deploying contrib/examples/static from" \
	    "git://127.0.0.1:$GIT_PORT/static.git as \"hello\" on" \
	    "127.0.0.1:$port"
	"$berthctl" -s "$CONTROL_SOCKET" deploy \
	    --repo "git://127.0.0.1:$GIT_PORT/static.git" --ref main \
	    --name hello --port "127.0.0.1:$port:8080" --memory 64M ||
	    return 1
	answers "$port" 'hello from the berth static example'
}

# The fallback: busybox httpd from the local base image, no build.
deploy_image() {
	local berthctl=$1 port=$2 page='<h1>Hello from berth</h1>'
	say "deploying the base image directly as \"hello\" on" \
	    "127.0.0.1:$port"
	"$berthctl" -s "$CONTROL_SOCKET" deploy --image berth-base:latest \
	    --name hello --port "127.0.0.1:$port:8080" --memory 64M -- \
	    sh -c "mkdir -p /tmp/www && echo '$page' >/tmp/www/index.html &&
	    exec httpd -f -p 8080 -h /tmp/www" ||
	    die "deploy failed; see $LOGFILE"
	answers "$port" 'Hello from berth' ||
	    die "the example app does not answer on 127.0.0.1:$port"
}

# The example app, published on 127.0.0.1 only: from git through the
# builder and the runner, or else the base image as it is.
deploy_example() {
	local berthctl=$1 port how
	port=$(free_port) || die "no free port between 8080 and 8180"
	if deploy_by_task "$port"; then
		how="a task of the reference control plane, built from git://127.0.0.1:$GIT_PORT/static.git"
	elif deploy_from_git "$berthctl" "$port"; then
		how="built from git://127.0.0.1:$GIT_PORT/static.git"
	else
		say "the deploy from git failed (see $LOGFILE);" \
		    "falling back to deploying berth-base:latest directly"
		deploy_image "$berthctl" "$port"
		how="the base image deployed directly, as the deploy from git failed"
	fi
	"$berthctl" -s "$CONTROL_SOCKET" apps

	cat <<EOF

berth is running: berthd pid $(cat "$PIDFILE"), log $LOGFILE,
configuration $CONF.
The example app ($how) answers:

    curl http://127.0.0.1:$port/

Try: berthctl -s $CONTROL_SOCKET logs hello
     berthctl audit verify
     $CP nodes; $CP task list
Stop everything with: sudo $0 --down
EOF
}

case ${1:-start} in
start)	start;;
stop|--down)
	[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 $1"; stop;;
-h|--help)
	echo "usage: quickstart.sh [start|stop|--down]";;
*)	echo "usage: quickstart.sh [start|stop|--down]" >&2; exit 2;;
esac
