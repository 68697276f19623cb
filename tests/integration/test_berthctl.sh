#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_berthctl.sh: berthctl's views of what berthd holds, against a real
# berthd, the reference control plane (contrib/controlplane/berth-cp)
# and the private dockerd of the test fixture:
#
#   tasks, task ID	tasks driven through berth-cp, each in the state
#			the journal gives it: finished (succeeded, failed),
#			refused (verify, admission), running while the
#			runner is frozen; the default listing and --all;
#			an event kept in the spool during an outage; no
#			secret value shown; an unknown id refused
#   policy		the block berthd holds, and its hash equal to the
#			one in the audit log and in berth-cp's heartbeats
#   config check	a good file passes, a bad one fails naming
#			file:line, without any berthd
#
# and a berthd without a control plane, which keeps no journal.
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

TMP=$(mktemp -d /tmp/berth-ctl.XXXXXX) || exit 1
chmod 0755 "$TMP"
CP="$BERTH_SRC/contrib/controlplane/berth-cp --db $TMP/cp.db"
CONF=$TMP/berth.conf
CTL="$BERTHCTL -s $TMP/control.sock"
CP_PID=
BERTHD_PID=
LONE_PID=
NODE_LABEL=ctl-test-$$

cleanup() {
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	[ -n "$LONE_PID" ] && kill "$LONE_PID" 2>/dev/null && \
	    wait "$LONE_PID" 2>/dev/null
	[ -n "$CP_PID" ] && kill "$CP_PID" 2>/dev/null && \
	    wait "$CP_PID" 2>/dev/null
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# cp_start [PORT]: serve on PORT (0: any), set CP_PORT.
cp_start() {
	$CP serve --listen "127.0.0.1:${1:-0}" --sign-tasks --heartbeat-sec 1 \
	    --poll-timeout-sec 5 --retry-max-sec 2 --quiet \
	    >"$TMP/cp.out" 2>>"$TMP/cp.err" &
	CP_PID=$!
	for _ in $(seq 50); do
		grep -q listening "$TMP/cp.out" 2>/dev/null && break
		sleep 0.1
	done
	CP_PORT=$(grep -o '[0-9]*$' "$TMP/cp.out")
}
cp_stop() {
	kill "$CP_PID" && wait "$CP_PID" 2>/dev/null
	CP_PID=
}
node_id() { $CP nodes | awk 'NR == 1 { print $1 }'; }
# states TASK: the task's event states at berth-cp, in seq order.
states() { $CP events "$1" --json | grep -o '"state": "[a-z]*"' |
    cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//'; }
wait_final() {
	for _ in $(seq 150); do
		states "$1" | grep -qE 'succeeded|failed|rejected|cancelled' &&
		    return 0
		sleep 0.2
	done
	return 1
}
# add ARGS...: queue a task for the node, print its id.
add() { $CP task add --node "$NODE" "$@"; }
# column TASK N: field N of the task's line in "berthctl tasks --all".
column() { $CTL tasks --all | awk -v id="$1" -v n="$2" '$1 == id { print $n }'; }
# field JSON PYTHON-EXPRESSION: evaluate over the parsed JSON (as v).
field() { python3 -c 'import json, sys; v = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# role_pid ROLE: the pid of berthd's child of that role.
role_pid() {
	local p
	for p in $(pgrep -P "$BERTHD_PID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "-P $1" && echo "$p"
	done
}

# --- config check: no berthd involved ---------------------------------------
cat >"$TMP/good.conf" <<'GOOD'
state-dir "/var/lib/berth-test"
policy {
	memory default 64M max 512M
}
GOOD
printf 'state-dir "/tmp/x"\npolicy {\n\tmemory default 64M\n\tno-such-keyword yes\n}\n' \
    >"$TMP/bad.conf"
out=$($BERTHCTL config check -f "$TMP/good.conf" 2>&1)
check "config check: a good file exits 0" test $? -eq 0
check "config check: and says \"FILE: ok\"" test "$out" = "$TMP/good.conf: ok"
out=$($BERTHCTL config check -f "$TMP/bad.conf" 2>&1)
check "config check: a bad file exits 1" test $? -eq 1
check "config check: the error names file:line ($out)" \
    grep -q "$TMP/bad.conf:4:" <<<"$out"
refute "config check: a bad file is not ok" grep -q ': ok$' <<<"$out"
check "config check --json" test "$($BERTHCTL config check --json \
    -f "$TMP/bad.conf" 2>/dev/null)" = "{\"file\":\"$TMP/bad.conf\",\"ok\":false}"
$BERTHCTL config check -f "$TMP/missing.conf" >/dev/null 2>&1
check "config check: a missing file exits 1" test $? -eq 1
out=$(BERTH_PROTOCOL=carrier-pigeon $BERTHCTL config check \
    -f "$TMP/good.conf" 2>&1)
check "config check: the environment is applied ($out)" \
    grep -q BERTH_PROTOCOL <<<"$out"
$BERTHCTL config frobnicate >/dev/null 2>&1
check "config without check is a usage error" test $? -eq 2

# --- a node enrolled with berth-cp -----------------------------------------
cp_start
TOKEN=$($CP token create --name ctl-test)
cat >"$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
control-plane {
	protocol native
	url "http://127.0.0.1:$CP_PORT"
	enrol-token "$TOKEN"
	node-name "$NODE_LABEL"
	require-signed-tasks yes
}
policy {
	image "berth-base:*"
	memory default 64M max 512M
	publish-address "127.0.0.1"
}
CONF
chmod 0600 "$CONF"
"$BERTHD" -d -f "$CONF" 2>>"$TMP/berthd.log" &
BERTHD_PID=$!
for _ in $(seq 50); do
	[ -n "$(node_id)" ] && break
	sleep 0.2
done
NODE=$(node_id)
check "the node enrolled ($NODE)" test -n "$NODE"
check "tasks: an empty journal lists nothing" \
    test "$($CTL tasks --json)" = "[]"

# --- tasks in each state -----------------------------------------------------
T_DEPLOY=$(add --kind deploy --app ctlweb --image berth-base:latest \
    --env GREETING=hi --secret-env KEY=s3cret-value \
    --cmd sh -c 'exec sleep 600')
wait_final "$T_DEPLOY"
T_STOP=$(add --kind stop --app ctlweb --grace 1)
wait_final "$T_STOP"
# These three may come in one batch: none depends on another.
T_FAIL=$(add --kind start --app nosuchapp)
T_FORGED=$(add --kind start --app ctlweb --forge)
T_SCALE=$(add --kind scale --app ctlweb --replicas 2)
wait_final "$T_FAIL"
wait_final "$T_FORGED"
wait_final "$T_SCALE"
note "deploy $(states "$T_DEPLOY"), stop $(states "$T_STOP"), start of" \
    "nothing $(states "$T_FAIL"), forged $(states "$T_FORGED"), scale" \
    "$(states "$T_SCALE")"

check "tasks: the deploy is finished" test "$(column "$T_DEPLOY" 4)" = finished
check "tasks: it succeeded" test "$(column "$T_DEPLOY" 5)" = succeeded
check "tasks: its kind and app" \
    test "$(column "$T_DEPLOY" 2) $(column "$T_DEPLOY" 3)" = "deploy ctlweb"
check "tasks: the stop succeeded" test "$(column "$T_STOP" 5)" = succeeded
check "tasks: the start of no app failed" \
    grep -q '^failed' <<<"$(column "$T_FAIL" 5)"
check "tasks: the forged task is refused" test "$(column "$T_FORGED" 4)" = refused
check "tasks: rejected in verify" \
    test "$(column "$T_FORGED" 5)" = rejected/verify
check "tasks: with the reason" \
    sh -c "$CTL tasks --all | grep '^$T_FORGED ' | grep -q 'bad signature'"
check "tasks: the scale is refused at admission" \
    test "$(column "$T_SCALE" 5)" = rejected/admission
check "tasks: a header names the columns" \
    sh -c "$CTL tasks | head -1 | grep -q '^ID  *KIND  *APP  *STATE  *EVENT  *AGE  *MESSAGE'"
check "tasks: the age is a duration" \
    grep -qE '^[0-9]+[smhd]$' <<<"$(column "$T_DEPLOY" 6)"

# A task caught running: the runner is frozen while it is accepted.
RUNNER=$(role_pid runner)
kill -STOP "$RUNNER"
T_RUN=$(add --kind restart --app ctlweb)
for _ in $(seq 100); do
	[ "$(column "$T_RUN" 4)" = running ] && break
	sleep 0.1
done
check "tasks: a task in progress is running" test "$(column "$T_RUN" 4)" = running
check "tasks: its last event is running" \
    grep -q '^running' <<<"$(column "$T_RUN" 5)"
check "tasks: unfinished tasks are listed by default" \
    sh -c "$CTL tasks | grep -q '^$T_RUN '"
# Its final event is made while the control plane is away: it stays in
# the spool, and task ID shows it there.
for _ in $(seq 100); do
	states "$T_RUN" | grep -q running && break
	sleep 0.1
done
cp_stop
kill -CONT "$RUNNER"
for _ in $(seq 100); do
	[ "$(column "$T_RUN" 4)" = finished ] && break
	sleep 0.1
done
sleep 1
json=$($CTL task "$T_RUN" --json)
check "task: the final event waits in the spool" \
    test "$(field "$json" '[e["state"] for e in v["spooled_events"]][-1]')" = succeeded
check "task: the row counts it as spooled" \
    test "$(field "$json" 'v["spooled"] >= 1')" = True
check "task: the human form lists it" \
    sh -c "$CTL task $T_RUN | sed -n '/^spooled events/,\$p' | grep -q succeeded"
cp_start "$CP_PORT"
wait_final "$T_RUN"
for _ in $(seq 50); do
	[ "$(field "$($CTL task "$T_RUN" --json)" 'len(v["spooled_events"])')" = 0 ] &&
	    break
	sleep 0.2
done
check "task: the spool empties once the control plane acknowledges" \
    test "$(field "$($CTL task "$T_RUN" --json)" 'len(v["spooled_events"])')" = 0

# Six tasks are finished now: by default only the last five are shown.
check "tasks: the oldest finished task is left out by default" \
    sh -c "! $CTL tasks | grep -q '^$T_DEPLOY '"
check "tasks: and said to be" \
    sh -c "$CTL tasks | grep -q '^(1 older finished task not shown'"
check "tasks --all lists every task" \
    test "$($CTL tasks --all --json | grep -o '"id":' | wc -l)" -eq 6
check "tasks --json parses and holds the refusal" \
    test "$(field "$($CTL tasks --json)" \
    '[t["event"]["message"] for t in v if t["id"] == "'"$T_FORGED"'"][0]')" = \
    "bad signature"

note "berthctl tasks --all:"
$CTL tasks --all | sed 's/^/#   /'

# --- task ID -----------------------------------------------------------------
out=$($CTL task "$T_DEPLOY")
check "task: exits 0" test $? -eq 0
check "task: its state" grep -q '^state  *finished$' <<<"$out"
check "task: its last event" grep -q '^last-event  *succeeded' <<<"$out"
check "task: the task as received" grep -q '"image": "berth-base:latest"' <<<"$out"
check "task: a plain env value is shown" grep -q '"hi"' <<<"$out"
refute "task: a secret env value is not" grep -q s3cret <<<"$out"
json=$($CTL --json task "$T_DEPLOY")
refute "task --json: nor there" grep -q s3cret <<<"$json"
check "task --json: the secret entry keeps its name" \
    test "$(field "$json" '[e for e in v["task"]["spec"]["env"] if e["name"] == "KEY"][0]')" = \
    "{'name': 'KEY', 'secret': True}"
check "task --json: state, kind, app" \
    test "$(field "$json" 'v["state"] + " " + v["kind"] + " " + v["app"]')" = \
    "finished deploy ctlweb"
check "task --json: the events made (running, succeeded)" \
    test "$(field "$json" 'v["events"]')" = 2
out=$($CTL task t_no_such_task 2>&1)
check "task: an unknown id exits 1" test $? -eq 1
check "task: and says \"no task ID\"" test "$out" = "berthctl: no task t_no_such_task"
out=$($CTL task 'not/an id' 2>&1)
check "task: what is no id exits 1 too ($out)" test $? -eq 1
$CTL task >/dev/null 2>&1
check "task without an id is a usage error" test $? -eq 2
$CTL tasks --bogus >/dev/null 2>&1
check "tasks with an unknown option is a usage error" test $? -eq 2

# --- policy --------------------------------------------------------------------
json=$($CTL policy --json)
HASH=$(field "$json" 'v["policy_hash"]')
check "policy: a SHA-256 ($HASH)" grep -qE '^[0-9a-f]{64}$' <<<"$HASH"
check "policy: the hash is over the text shown" \
    test "$(field "$json" '__import__("hashlib").sha256(v["text"].encode()).hexdigest()')" = "$HASH"
check "policy: the configured memory limits" \
    test "$(field "$json" '(v["policy"]["memory_default"], v["policy"]["memory_max"])')" = \
    "(67108864, 536870912)"
check "policy: the image pattern" \
    test "$(field "$json" 'v["policy"]["images"]')" = "['berth-base:*']"
check "policy: the audit log carries the same hash" \
    grep -q "\"policy\":\"$HASH\"" "$TMP/state/audit.log"
refute "policy: and no other" \
    grep -qE '"policy":"[0-9a-f]{64}"' <(grep -v "\"policy\":\"$HASH\"" "$TMP/state/audit.log")
sleep 2
check "policy: berth-cp's heartbeat carries the same hash" \
    sh -c "$CP heartbeats $NODE --last 1 --json | grep -q '\"policy_hash\": \"$HASH\"'"
out=$($CTL policy)
check "policy: the human form starts with the hash" \
    test "$(head -1 <<<"$out")" = "# policy hash $HASH"
check "policy: then the block in berth.conf syntax" \
    grep -q '^	memory default 64M max 512M$' <<<"$out"
check "policy: the block is the hashed text" \
    test "$(tail -n +2 <<<"$out" | sha256sum | cut -c1-64)" = "$HASH"

# --- a berthd without a control plane --------------------------------------
mkdir -p "$TMP/lone"
cat >"$TMP/lone/berth.conf" <<LONE
state-dir "$TMP/lone/state"
control-socket "$TMP/lone/control.sock"
workspace-root "$TMP/lone/work"
docker-socket "$SOCK"
LONE
chmod 0600 "$TMP/lone/berth.conf"
"$BERTHD" -d -f "$TMP/lone/berth.conf" 2>"$TMP/lone/berthd.log" &
LONE_PID=$!
LONE_CTL="$BERTHCTL -s $TMP/lone/control.sock"
for _ in $(seq 50); do
	$LONE_CTL status >/dev/null 2>&1 && break
	sleep 0.2
done
out=$($LONE_CTL tasks 2>&1)
check "no control plane: tasks exits 0" test $? -eq 0
check "no control plane: and says there is no journal" \
    grep -q 'no task journal' <<<"$out"
check "no control plane: tasks --json is empty" \
    test "$($LONE_CTL tasks --json)" = "[]"
$LONE_CTL task t_any >/dev/null 2>&1
check "no control plane: task ID exits 1" test $? -eq 1
check "no control plane: policy has the default policy's hash" \
    grep -qE '^# policy hash [0-9a-f]{64}$' <<<"$($LONE_CTL policy | head -1)"
kill "$LONE_PID" && wait "$LONE_PID" 2>/dev/null
LONE_PID=

refute "the secret is not in berthd's log" grep -qF s3cret "$TMP/berthd.log"

finish
