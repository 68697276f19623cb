#!/usr/bin/env bash
# Functions run through check() look unreachable to shellcheck:
# shellcheck disable=SC2317
# test_processes.sh: the foundation acceptance test (DESIGN.md sections 1
# and 8).  berthd starts as four processes; each child runs as its own
# unprivileged user with no capabilities, no_new_privs and a seccomp
# filter; berthctl status shows all four; a child that dies takes the
# whole agent down with a non-zero status and leaves nothing behind;
# SIGTERM stops it cleanly with status 0; -n prints the configuration
# with secrets masked; a bad configuration is reported as file:line.
#
# Run by ctest with BERTHD, BERTHCTL, BERTH_SRC and BERTH_BUILD set, as
# root.  Uses DOCKER_HOST (unix://) when it names a socket, otherwise a
# stand-in socket that answers every request with 200 OK.  Prints
# "ok - ..." or "not ok - ..." per check and exits 1 if any failed.

set -u

BERTHD=${BERTHD:?BERTHD must name the berthd binary}
BERTHCTL=${BERTHCTL:?BERTHCTL must name the berthctl binary}
SECRET=s3cr3t-value
CHILD_ROLES="netd builder runner"
declare -A ROLE_USER=([netd]=_berth [builder]=_berthbuild [runner]=_berthrun)

failures=0
checks=0
ok() {
	checks=$((checks + 1))
	echo "ok - $*"
}
not_ok() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "not ok - $*"
}
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
note() {
	echo "# $*"
}
# all_nonzero ID...: every id is present and not 0.
all_nonzero() {
	local id
	for id in "$@"; do
		[ -n "$id" ] && [ "$id" != 0 ] || return 1
	done
}

if [ "$(id -u)" -ne 0 ]; then
	echo "# skip: berthd needs root to start its children"
	exit 77
fi

TMP=$(mktemp -d /tmp/berth-processes.XXXXXX) || exit 1
# The children run as other users and must be able to reach their paths.
chmod 0755 "$TMP"
CONF=$TMP/berth.conf
SOCK=$TMP/control.sock
BERTHD_PID=
FAKE_DOCKER_PID=
TRACKED=()		# "pid:starttime" of every process we may leave

# ---- /proc helpers, in bash so that polling stays cheap ----

# read_stat PID: set STAT_STATE, STAT_PPID and STAT_START (fields 3, 4
# and 22 of /proc/PID/stat) without forking; false if PID is gone.
read_stat() {
	local line fields
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	# The command name may hold spaces and parentheses: cut at the last ")".
	read -r -a fields <<<"${line##*) }"
	STAT_STATE=${fields[0]}
	STAT_PPID=${fields[1]}
	STAT_START=${fields[19]}
}
ppid_of() { read_stat "$1" && echo "$STAT_PPID"; }
starttime_of() { read_stat "$1" && echo "$STAT_START"; }

# A process has exited when it is gone or a zombie.
exited() {
	read_stat "$1" || return 0
	[ "$STAT_STATE" = Z ]
}

# alive_as PID STARTTIME: the same process (not a reused pid) still runs.
alive_as() {
	read_stat "$1" || return 1
	[ "$STAT_STATE" != Z ] && [ "$STAT_START" = "$2" ]
}

# status_field PID KEY: the value of "KEY:" in /proc/PID/status.
status_field() {
	local key value
	while IFS=$'\t' read -r key value; do
		if [ "$key" = "$2:" ]; then
			printf '%s\n' "$value"
			return 0
		fi
	done 2>/dev/null <"/proc/$1/status"
	return 1
}

# The children of a process, from /proc/PID/task/*/children where the
# kernel has it, else by looking at every process's parent.
children_of() {
	local dir pid list
	if [ -e "/proc/$1/task/$1/children" ]; then
		list=$(cat "/proc/$1"/task/*/children 2>/dev/null)
		for pid in $list; do
			echo "$pid"
		done
		return 0
	fi
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		read_stat "$pid" && [ "$STAT_PPID" = "$1" ] && echo "$pid"
	done
	return 0
}

descendants_of() {
	local child
	for child in $(children_of "$1"); do
		echo "$child"
		descendants_of "$child"
	done
}

cmdline_of() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
}

# The role a child was started with ("berthd -P netd").
role_of() {
	local cmd role
	cmd=" $(cmdline_of "$1")"
	for role in $CHILD_ROLES; do
		case $cmd in
		*" -P $role "*|*" -P$role "*) echo "$role"; return 0;;
		esac
	done
	return 1
}

child_pid_of_role() {
	local pid
	for pid in $(children_of "$BERTHD_PID"); do
		if [ "$(role_of "$pid")" = "$1" ]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# Remember every process of the running berthd, so that cleanup and the
# "nothing left" checks know them even after they are reparented.
track_tree() {
	local pid st
	for pid in "$BERTHD_PID" $(descendants_of "$BERTHD_PID"); do
		st=$(starttime_of "$pid") || continue
		TRACKED+=("$pid:$st")
	done
}

# Processes of the berthd started as $1 (pid) at $2 (starttime) still
# running: tracked ones, and any berthd process started since whose parent
# is init or that berthd.
leftovers() {
	local entry dir pid
	for entry in "${TRACKED[@]}"; do
		alive_as "${entry%%:*}" "${entry#*:}" && echo "${entry%%:*}"
	done
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		# -ef: the same file, wherever the process sees it from.
		[ "$dir/exe" -ef "$BERTHD" ] 2>/dev/null || continue
		read_stat "$pid" || continue
		[ "$STAT_STATE" != Z ] || continue
		[ "$STAT_PPID" = 1 ] || [ "$STAT_PPID" = "$1" ] || continue
		[ "$STAT_START" -ge "$2" ] && echo "$pid"
	done | sort -u
}

# ---- starting and stopping berthd ----

start_berthd() {
	"$BERTHD" -d -f "$CONF" >"$1" 2>&1 </dev/null &
	BERTHD_PID=$!
	BERTHD_START=$(starttime_of "$BERTHD_PID") || BERTHD_START=0
}

# Up to 10 s for the parent and its three children, with every child past
# its confinement (Seccomp: 2), and for the control socket to answer.
wait_ready() {
	local i pid n settled
	for ((i = 0; i < 100; i++)); do
		exited "$BERTHD_PID" && return 1
		n=0
		settled=1
		for pid in $(children_of "$BERTHD_PID"); do
			n=$((n + 1))
			[ "$(status_field "$pid" Seccomp)" = 2 ] || settled=0
		done
		if [ $n -eq 3 ] && [ $settled = 1 ] && [ -S "$SOCK" ] &&
		    "$BERTHCTL" -s "$SOCK" status >/dev/null 2>&1; then
			track_tree
			return 0
		fi
		sleep 0.1
	done
	# Not settled: let the caller look at what is there.
	track_tree
	[ "$(children_of "$BERTHD_PID" | wc -l)" -eq 3 ]
}

# wait_exit SECONDS: poll in 0.1 s steps; the exit status in EXIT_STATUS.
wait_exit() {
	local i steps
	steps=$(($1 * 10))
	for ((i = 0; i < steps; i++)); do
		if exited "$BERTHD_PID"; then
			wait "$BERTHD_PID"
			EXIT_STATUS=$?
			BERTHD_PID=
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Poll up to 1 s for the processes of the last berthd to be gone.
nothing_left() {
	local i left
	for ((i = 0; i < 10; i++)); do
		left=$(leftovers "$1" "$2")
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	note "left running: $(for p in $left; do
	    printf '%s[%s] ' "$p" "$(cmdline_of "$p")"; done)"
	return 1
}

stop_berthd() {
	[ -n "$BERTHD_PID" ] || return 0
	kill -TERM "$BERTHD_PID" 2>/dev/null
	if ! wait_exit 3; then
		kill -KILL "$BERTHD_PID" 2>/dev/null
		wait "$BERTHD_PID" 2>/dev/null
		BERTHD_PID=
	fi
}

cleanup() {
	local entry
	stop_berthd
	for entry in "${TRACKED[@]}"; do
		alive_as "${entry%%:*}" "${entry#*:}" &&
		    kill -KILL "${entry%%:*}" 2>/dev/null
	done
	if [ -n "$FAKE_DOCKER_PID" ]; then
		kill "$FAKE_DOCKER_PID" 2>/dev/null
		wait "$FAKE_DOCKER_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
	note "--- $1"
	sed 's/^/#   /' "$1"
}

# ---- the Docker socket the runner is given ----

docker_socket=
case ${DOCKER_HOST:-} in
unix://*)
	[ -S "${DOCKER_HOST#unix://}" ] && docker_socket=${DOCKER_HOST#unix://};;
esac
if [ -z "$docker_socket" ]; then
	# A stand-in: root:docker 0660 like dockerd's, answering 200 OK.
	docker_socket=$TMP/docker.sock
	python3 - "$docker_socket" <<'EOF' &
import grp, os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
try:
    gid = grp.getgrnam("docker").gr_gid
except KeyError:
    gid = 0
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
	FAKE_DOCKER_PID=$!
	for ((i = 0; i < 50; i++)); do
		[ -S "$docker_socket" ] && break
		sleep 0.1
	done
	note "docker socket: stand-in at $docker_socket"
else
	note "docker socket: $docker_socket"
fi

# berthd lets DOCKER_HOST override docker-socket: make them agree.
export DOCKER_HOST=unix://$docker_socket

cat >"$CONF" <<EOF
# written by test_processes.sh
state-dir "$TMP/state"
control-socket "$SOCK"
workspace-root "$TMP/work"
docker-socket "$docker_socket"
log-level debug
control-plane {
	enrol-token "$SECRET"
}
EOF

# ---- berthd -n ----

"$BERTHD" -n -f "$CONF" >"$TMP/n.out" 2>"$TMP/n.err"
status=$?
check "berthd -n accepts a good configuration (exit 0)" [ $status -eq 0 ]
check "berthd -n prints the configuration" grep -q 'state-dir' "$TMP/n.out"
check "berthd -n prints the enrol-token masked" \
    grep -q 'enrol-token' "$TMP/n.out"
check "berthd -n does not print the secret" \
    eval "! grep -qF '$SECRET' '$TMP/n.out' '$TMP/n.err'"
[ $status -eq 0 ] || show_log "$TMP/n.err"

cat >"$TMP/bad.conf" <<EOF
state-dir "$TMP/state"
no-such-keyword "x"
log-level debug
EOF
"$BERTHD" -n -f "$TMP/bad.conf" >"$TMP/bad.out" 2>"$TMP/bad.err"
status=$?
check "berthd -n rejects a bad configuration with exit 1 (got $status)" \
    [ $status -eq 1 ]
check "the error names file:line (bad.conf:2)" \
    grep -qE 'bad\.conf:2([^0-9]|$)' "$TMP/bad.err"
grep -qE 'bad\.conf:2([^0-9]|$)' "$TMP/bad.err" || show_log "$TMP/bad.err"

# ---- four processes, confined ----

start_berthd "$TMP/log.start"
if ! wait_ready; then
	not_ok "berthd runs as four processes within 10 s"
	show_log "$TMP/log.start"
	echo "# $failures of $checks checks failed"
	exit 1
fi
ok "berthd runs as four processes within 10 s"
PARENT_PID=$BERTHD_PID

declare -A CHILD_PID=() CHILD_UID=()
for role in $CHILD_ROLES; do
	pid=$(child_pid_of_role "$role") || pid=
	if [ -z "$pid" ]; then
		not_ok "a child was started as berthd -P $role"
		continue
	fi
	ok "$role runs as pid $pid ($(cmdline_of "$pid"))"
	CHILD_PID[$role]=$pid
	check "$role: NoNewPrivs: 1" [ "$(status_field "$pid" NoNewPrivs)" = 1 ]
	check "$role: Seccomp: 2" [ "$(status_field "$pid" Seccomp)" = 2 ]
	check "$role: CapEff: 0000000000000000" \
	    [ "$(status_field "$pid" CapEff)" = 0000000000000000 ]
	check "$role: CapPrm: 0000000000000000" \
	    [ "$(status_field "$pid" CapPrm)" = 0000000000000000 ]
	read -r ruid euid suid fsuid <<<"$(status_field "$pid" Uid)"
	read -r rgid egid sgid fsgid <<<"$(status_field "$pid" Gid)"
	CHILD_UID[$role]=$euid
	check "$role: real, effective, saved and fs uid all non-zero" \
	    all_nonzero "$ruid" "$euid" "$suid" "$fsuid"
	check "$role: real, effective, saved and fs gid all non-zero" \
	    all_nonzero "$rgid" "$egid" "$sgid" "$fsgid"
	want=$(id -u "${ROLE_USER[$role]}" 2>/dev/null) || want=none
	check "$role: runs as ${ROLE_USER[$role]} (uid $want, got $euid)" \
	    [ "$euid" = "$want" ]
	check "$role: the secret is not in its argv or environment" \
	    eval "! grep -qaF '$SECRET' /proc/$pid/cmdline /proc/$pid/environ"
done
uids=$(printf '%s\n' "${CHILD_UID[@]}" | sort -u | wc -l)
check "each child has a uid of its own" [ "$uids" -eq ${#CHILD_UID[@]} ]

# ---- berthctl status ----

"$BERTHCTL" -s "$SOCK" status >"$TMP/status.out" 2>"$TMP/status.err"
status=$?
check "berthctl status exits 0" [ $status -eq 0 ]
sed 's/^/#   /' "$TMP/status.out"

# Column positions, if the header names them.
header=$(grep -m1 -wE 'PID' "$TMP/status.out")
column_of() {
	local i=1 word
	for word in $header; do
		[ "$word" = "$1" ] && { echo $i; return 0; }
		i=$((i + 1))
	done
	return 1
}
ncols=$(wc -w <<<"$header")

# status_row NAME: the lines with NAME as a whole field.
status_row() {
	awk -v n="$1" '{ for (i = 1; i <= NF; i++) if ($i == n) { print; next } }' \
	    "$TMP/status.out"
}
has_field() {
	local word
	for word in $1; do
		[ "$word" = "$2" ] && return 0
	done
	return 1
}
field_at() {
	local col=$2
	awk -v c="$col" '{ print $c }' <<<"$1"
}

for role in parent $CHILD_ROLES; do
	rows=$(status_row "$role")
	nrows=$(grep -c . <<<"$rows")
	if [ "$nrows" -ne 1 ]; then
		not_ok "berthctl status has one line for $role (found $nrows)"
		continue
	fi
	ok "berthctl status has one line for $role"
	if [ "$role" = parent ]; then
		check "status: parent line shows pid $PARENT_PID" \
		    has_field "$rows" "$PARENT_PID"
		continue
	fi
	pid=${CHILD_PID[$role]:-none}
	check "status: $role line shows pid $pid" has_field "$rows" "$pid"
	check "status: $role line shows uid ${CHILD_UID[$role]:-none}" \
	    has_field "$rows" "${CHILD_UID[$role]:-none}"
	if [ "$(wc -w <<<"$rows")" -ne "$ncols" ]; then
		note "status: $role line and header differ in columns; " \
		    "column checks skipped"
		continue
	fi
	if col=$(column_of SECCOMP); then
		v=$(field_at "$rows" "$col")
		check "status: $role SECCOMP is filter (got $v)" \
		    grep -qixE '2|filter|yes' <<<"$v"
	fi
	if col=$(column_of NNP); then
		v=$(field_at "$rows" "$col")
		check "status: $role NNP is set (got $v)" \
		    grep -qixE '1|yes|true' <<<"$v"
	fi
	if col=$(column_of CAPEFF); then
		v=$(field_at "$rows" "$col")
		check "status: $role CAPEFF is empty (got $v)" \
		    grep -qixE '(0x)?0+|none' <<<"$v"
	fi
done

# ---- SIGTERM: a clean stop ----

start=$BERTHD_START
kill -TERM "$BERTHD_PID"
if wait_exit 5; then
	ok "SIGTERM: berthd exits within 5 s"
	check "SIGTERM: exit status 0 (got $EXIT_STATUS)" [ "$EXIT_STATUS" -eq 0 ]
else
	not_ok "SIGTERM: berthd exits within 5 s"
	stop_berthd
fi
check "SIGTERM: no berthd process is left" nothing_left "$PARENT_PID" "$start"
check "SIGTERM: the control socket is removed" [ ! -e "$SOCK" ]

# ---- a child that dies takes the agent down ----

for role in $CHILD_ROLES; do
	log=$TMP/log.kill-$role
	start_berthd "$log"
	if ! wait_ready; then
		not_ok "kill $role: berthd restarted with four processes"
		show_log "$log"
		stop_berthd
		continue
	fi
	parent=$BERTHD_PID
	start=$BERTHD_START
	pid=$(child_pid_of_role "$role") || pid=
	if [ -z "$pid" ]; then
		not_ok "kill $role: found its pid"
		stop_berthd
		continue
	fi
	kill -KILL "$pid"
	if wait_exit 2; then
		ok "kill $role: berthd exits within 2 s"
		check "kill $role: exit status non-zero (got $EXIT_STATUS)" \
		    [ "$EXIT_STATUS" -ne 0 ]
	else
		not_ok "kill $role: berthd exits within 2 s"
		stop_berthd
	fi
	if grep -i -- "$role" "$log" |
	    grep -qiE 'signal 9|killed|sigkill'; then
		ok "kill $role: the log says $role was killed"
	else
		not_ok "kill $role: the log says $role was killed"
		show_log "$log"
	fi
	check "kill $role: no berthd process is left" \
	    nothing_left "$parent" "$start"
done

check "no log mentions the secret" \
    eval "! grep -qF '$SECRET' '$TMP'/log.*"

if [ $failures -ne 0 ]; then
	note "$failures of $checks checks failed; the first log:"
	show_log "$TMP/log.start"
	exit 1
fi
echo "# all $checks checks passed"
exit 0
