#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_hostile_netd.sh: a compromised netd (issue 8, item 4).  netd is the
# process that parses the network, so it is the one an attacker takes
# first.  This test plays that attacker on netd's real channel: it stops
# the running netd and writes imsgs to the parent through a copy of
# netd's descriptor 3 (tests/lib/imsg_inject.py, pidfd_getfd(2)); no
# test hook exists in berthd.  For each hostile message it shows what
# the parent did, that the refusal is logged (and audited where a task
# was involved), and that nothing reached dockerd.  Prints a table.
#
# Needs root, BERTHD, BERTHCTL, BERTH_SRC, python3 and
# DOCKER_HOST=unix://PATH.

set -u
. "${BERTH_SRC:?}/tests/lib/tap.sh"

BERTHD=${BERTHD:?}
BERTHCTL=${BERTHCTL:?}
DOCKER_HOST=${DOCKER_HOST:-}
if [ "$(id -u)" -ne 0 ] || [ "$DOCKER_HOST" = "${DOCKER_HOST#unix://}" ] ||
    ! command -v python3 >/dev/null; then
	echo "# skip: needs root, python3 and DOCKER_HOST=unix://..."
	exit 77
fi
SOCK=${DOCKER_HOST#unix://}
api() { curl -sf --unix-socket "$SOCK" "$@"; }

TMP=$(mktemp -d /tmp/berth-hostile.XXXXXX) || exit 1
chmod 0755 "$TMP"
CONF=$TMP/berth.conf
NODE_LABEL=hostile-$$
NODE_ID=n_hostile_$$
CTL="$BERTHCTL -s $TMP/control.sock -a $TMP/state/audit.log"
INJECT="python3 $BERTH_SRC/tests/lib/imsg_inject.py"
BERTHD_PID=
NETD_PID=
TABLE=

cleanup() {
	[ -n "$NETD_PID" ] && kill -CONT "$NETD_PID" 2>/dev/null
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# The node counts as enrolled (its identity is on disk) with a control
# plane that is not there: netd's own traffic goes nowhere, and tasks
# only come from us.
mkdir -p "$TMP/state/identity" "$TMP/work"
chmod 0700 "$TMP/state/identity"
printf '{"node_id": "%s", "credential": "c_test", "task_signing_key": "%s", "tasks_signed": false}\n' \
    "$NODE_ID" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
    >"$TMP/state/identity/node.json"
chmod 0600 "$TMP/state/identity/node.json"
cat > "$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
log-level debug
control-plane {
	protocol native
	url "http://127.0.0.1:9"
	node-name "$NODE_LABEL"
}
policy {
	image "berth-base:*"
	memory default 64M max 512M
	publish-address "127.0.0.1"
}
CONF
chmod 0600 "$CONF"

owned_containers() {
	api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" |
	    grep -o '"Id"' | wc -l
}
engine_creates() {
	api "http://d/v1.41/events?since=$START&until=$(date +%s)&filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22create%22%5D%7D" |
	    grep -c '"Action":"create"'
}

# A fresh berthd; NETD_PID is its netd, stopped so that only we speak.
start_stopped_netd() {
	: >"$TMP/berthd.log"
	# Not on our stdout: a straggler would hold ctest's pipe open.
	"$BERTHD" -d -f "$CONF" >>"$TMP/berthd.log" 2>&1 &
	BERTHD_PID=$!
	NETD_PID=
	for _ in $(seq 50); do
		if $CTL status >/dev/null 2>&1; then
			NETD_PID=$($CTL status | awk '$1 == "netd" { print $2 }')
			[ -n "$NETD_PID" ] && break
		fi
		sleep 0.2
	done
	[ -n "$NETD_PID" ] && kill -STOP "$NETD_PID"
}
# berthd is gone within 5 s with status 1.
parent_stopped() {
	local i rc
	for i in $(seq 25); do
		if ! kill -0 "$BERTHD_PID" 2>/dev/null; then
			wait "$BERTHD_PID"
			rc=$?
			BERTHD_PID=
			# The netd we stopped cannot see its channel close, and
			# its death signal does not come (see the closing note):
			# end it ourselves.
			kill -KILL "$NETD_PID" 2>/dev/null
			NETD_PID=
			[ "$rc" = 1 ]
			return
		fi
		sleep 0.2
	done
	return 1
}
row() { TABLE="$TABLE$(printf '%-44s %s' "$1" "$2")"$'\n'; }

# fatal_case NAME LOG-PATTERN INJECT-ARGS...: the parent must log the
# pattern and stop with status 1; nothing may reach the engine.
fatal_case() {
	local name=$1 pattern=$2
	shift 2
	start_stopped_netd
	check "$name: berthd up, netd stopped ($NETD_PID)" test -n "$NETD_PID"
	$INJECT "$NETD_PID" "$@"
	if parent_stopped && grep -q "$pattern" "$TMP/berthd.log"; then
		ok "$name: parent refused it and stopped (exit 1)"
		row "$name" "refused, berthd stopped: $(grep -m1 -o "$pattern.*" "$TMP/berthd.log" | cut -c1-60)"
	else
		not_ok "$name: parent refused it and stopped (exit 1)"
		sed 's/^/#   /' "$TMP/berthd.log" | tail -5
		row "$name" "NOT REFUSED"
	fi
}

hexof() { python3 -c "import struct,sys; sys.stdout.write(($1).hex())"; }

START=$(date +%s)
BEFORE=$(owned_containers)

# --- messages the parent must not take from netd: it stops ----------------
fatal_case "unknown type 4242" "unknown message type 4242" 4242
fatal_case "oversized (1 MiB claimed)" "malformed message" TASK_OFFER \
    --len $((1024 * 1024)) --payload-hex 7b7d
fatal_case "truncated NETD_ENROLLED (4 bytes)" "bad NETD_ENROLLED" \
    NETD_ENROLLED --payload-hex 00000000
ENROLLED_BAD=$(hexof "struct.pack('<65s2048s32s3xIIII', b'n_x', b'c_x', bytes(32), 0, 0, 0, 1)")
fatal_case "NETD_ENROLLED with heartbeat_sec 0" "bad NETD_ENROLLED" \
    NETD_ENROLLED --payload-hex "$ENROLLED_BAD"
ENROLLED_CHARS=$(hexof "struct.pack('<65s2048s32s3xIIII', b'n_x', b'c x\\r\\nInjected: 1', bytes(32), 0, 30, 0, 1)")
fatal_case "NETD_ENROLLED with CR LF in the credential" "bad NETD_ENROLLED" \
    NETD_ENROLLED --payload-hex "$ENROLLED_CHARS"
fatal_case "forged runner reply (RUN_RESULT)" "bad RUN_RESULT: not the runner" \
    RUN_RESULT --peerid 1 --payload-hex "$(hexof "b'{\"ok\":true}'")"
AUDIT=$(hexof "bytes(64) + b'container.create'.ljust(32, b'\\0') + bytes(128+65+65+256)")
fatal_case "forged audit record (AUDIT)" "bad AUDIT: not the runner" \
    AUDIT --payload-hex "$AUDIT"
fatal_case "a berthctl request (CTL_RUN)" "unknown message type" \
    CTL_RUN --payload-hex "$(hexof "b'{\"op\":\"list\"}'")"

# --- tasks: refused, audited, berthd keeps running ---------------------------
NOW=$(date +%s)
task() {	# task ID SEQ SPEC-JSON
	printf '{"id": "%s", "kind": "deploy", "app": "evil", "node_id": "%s", "seq": %s, "created": %s, "not_after": %s, "spec": %s}' \
	    "$1" "$NODE_ID" "$2" "$NOW" $((NOW + 600)) "$3"
}
start_stopped_netd
check "tasks: berthd up, netd stopped" test -n "$NETD_PID"
task t_priv 1 '{"image": "berth-base:latest", "privileged": true}' >"$TMP/t1"
task t_bind 2 '{"image": "berth-base:latest", "volumes": [{"source": "/", "target": "/host"}]}' >"$TMP/t2"
task t_other 3 '{"image": "berth-base:latest"}' | sed "s/$NODE_ID/n_someone_else/" >"$TMP/t3"
task t_image 4 '{"image": "evil/miner:latest", "cmd": ["sh"]}' >"$TMP/t4"
for i in 1 2 3 4; do
	$INJECT "$NETD_PID" TASK_OFFER --payload-file "$TMP/t$i"
done
# netd would ask the control plane; a compromised one says "accepted".
sleep 1
ANSWER=$(hexof "struct.pack('<65s3xI128s', b't_image', 0, b'')")
$INJECT "$NETD_PID" TASK_ANSWER --payload-hex "$ANSWER"
sleep 2
check "berthd still runs after the hostile tasks" kill -0 "$BERTHD_PID"
audit() { $CTL audit tail 2>/dev/null; cat "$TMP/state/audit.log" 2>/dev/null; }
for t in t_priv t_bind t_other; do
	if grep -q "\"task\":\"$t\".*task.refused\|task.refused.*$t" <(audit); then
		ok "$t refused and audited"
		row "task $t" "refused, audited: $(grep -m1 -o "task $t[^\"]*\|$t.*refused[^\"]*" "$TMP/berthd.log" | cut -c1-60)"
	else
		not_ok "$t refused and audited"
		row "task $t" "NOT AUDITED"
	fi
done
check "privileged: refused as an unknown member" \
    grep -q "t_priv.*privileged\|privileged.*t_priv" "$TMP/berthd.log"
check "host bind: refused as an unknown member" \
    grep -q "t_bind.*volumes\|volumes.*t_bind" "$TMP/berthd.log"
check "another node's task refused" grep -q "t_other.*another node\|another node.*t_other" "$TMP/berthd.log"
if grep -q "t_image" <(audit) && grep -q "refused" <(audit | grep t_image); then
	ok "an image outside the policy, 'accepted' by netd: the runner refuses and audits"
	row "task t_image (forged accept)" "runner refused, audited: $(audit | grep t_image | grep -o 'refused: [^}]*' | tr -d '\\"' | head -1 | cut -c1-60)"
else
	not_ok "an image outside the policy, 'accepted' by netd: the runner refuses and audits"
	audit | tail -5 | sed 's/^/#   /'
	row "task t_image (forged accept)" "NOT REFUSED"
fi
check "the audit chain still verifies" $CTL audit verify

# --- nothing reached the engine ------------------------------------------------
check "no container of this node exists" test "$(owned_containers)" = "$BEFORE"
check "the engine saw no container create since the test began" \
    test "$(engine_creates)" = 0

echo "# fault table: hostile message from netd -> what berthd did"
printf '%s' "$TABLE" | sed 's/^/#   /'
finish
