#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_native.sh: the native control-plane protocol end to end, against
# the reference control plane (contrib/controlplane/berth-cp) and the
# private dockerd of the test fixture: enrolment and the identity files,
# heartbeats carrying real metrics, deploy/stop/start/remove tasks and
# their events in order, a restart that keeps the node id, a control
# plane outage during a deploy (and an agent restart inside it) that
# loses and duplicates no event, Retry-After honoured and capped, refused
# tasks (forged, expired, replayed, for another node, unsigned,
# malformed), berthd killed with SIGKILL in the middle of a task, TLS
# with the right and a wrong CA and pin-sha256, a control plane whose
# clock is 400 s off, and the token kept out of the log.
#
# Needs root, BERTHD, BERTH_SRC, python3 and DOCKER_HOST=unix://PATH.
# NATIVE_OUTAGE_SEC sets the length of the outage (default 20 s, so that
# the whole script stays within ctest's 300 s on a loaded machine; the
# issue's 60 s passes too, run by hand).

set -u
. "${BERTH_SRC:?}/tests/lib/tap.sh"

BERTHD=${BERTHD:?}
DOCKER_HOST=${DOCKER_HOST:-}
if [ "$(id -u)" -ne 0 ] || [ "$DOCKER_HOST" = "${DOCKER_HOST#unix://}" ] ||
    ! command -v python3 >/dev/null; then
	echo "# skip: needs root, python3 and DOCKER_HOST=unix://..."
	exit 77
fi
SOCK=${DOCKER_HOST#unix://}
api() { curl -sf --unix-socket "$SOCK" "$@"; }

TMP=$(mktemp -d /tmp/berth-native.XXXXXX) || exit 1
chmod 0755 "$TMP"
CP="$BERTH_SRC/contrib/controlplane/berth-cp --db $TMP/cp.db"
APP_PORT=$((20000 + RANDOM % 20000))
CONF=$TMP/berth.conf
CP_PID=
BERTHD_PID=
GITD_PID=
GIT_PORT=$((20000 + RANDOM % 20000))
GIT_URL=git://127.0.0.1:$GIT_PORT
NODE_LABEL=native-test-$$
OUTAGE_SEC=${NATIVE_OUTAGE_SEC:-20}

cleanup() {
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	[ -n "$CP_PID" ] && kill "$CP_PID" 2>/dev/null && \
	    wait "$CP_PID" 2>/dev/null
	[ -n "$GITD_PID" ] && kill "$GITD_PID" 2>/dev/null
	for id in $(api "http://d/v1.41/images/json?filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" |
	    grep -o '"Id":"sha256:[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/images/$id?force=1" >/dev/null
	done
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	for d in "$TMP"/tls-*; do
		[ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null
	done
	[ -n "${TLS_PID:-}" ] && kill "$TLS_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# cp_start [PORT [FLAG...]]: serve on PORT (0: any), set CP_PORT.
cp_start() {
	local port=${1:-0}
	[ $# -gt 0 ] && shift
	$CP serve --listen "127.0.0.1:$port" --sign-tasks --heartbeat-sec 2 \
	    --poll-timeout-sec 5 --retry-max-sec 2 --quiet "$@" \
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
berthd_start() {
	"$BERTHD" -d -f "$CONF" 2>>"$TMP/berthd.log" &
	BERTHD_PID=$!
}
berthd_stop() {
	kill "$BERTHD_PID" && wait "$BERTHD_PID" 2>/dev/null
	BERTHD_PID=
}
node_id() { $CP nodes | awk 'NR == 1 { print $1 }'; }
# states TASK: the task's event states, one line, in seq order.
states() { $CP events "$1" --json | grep -o '"state": "[a-z]*"' |
    cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//'; }
# wait_final TASK: until the task has a final event (at most 30 s).
wait_final() {
	for _ in $(seq 150); do
		states "$1" | grep -qE 'succeeded|failed|rejected|cancelled' &&
		    return 0
		sleep 0.2
	done
	return 1
}
# seqs TASK: the seqs the server stored for the task, one line.
seqs() { $CP events "$1" --json | grep -o '"seq": [0-9]*' |
    grep -o '[0-9]*$' | tr '\n' ' ' | sed 's/ $//'; }
# containers_of TASK: how many containers (any state) carry its label.
containers_of() {
	api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.task%3D$1%22%5D%7D" |
	    grep -o '"Id"' | wc -l
}

cp_start
TOKEN=$($CP token create --name native-test)
cat > "$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
log-level debug
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
build {
	repo-prefix "$GIT_URL/"
}
CONF
chmod 0600 "$CONF"
berthd_start

# --- enrolment and identity ------------------------------------------------
for _ in $(seq 50); do
	[ -n "$(node_id)" ] && break
	sleep 0.2
done
NODE=$(node_id)
check "the node enrolled ($NODE)" test -n "$NODE"
for _ in $(seq 25); do
	[ -f "$TMP/state/identity/node.json" ] && break
	sleep 0.2
done
check "node.key is 0600" test "$(stat -c %a "$TMP/state/identity/node.key")" = 600
check "node.json is 0600" test "$(stat -c %a "$TMP/state/identity/node.json")" = 600
check "identity dir is 0700" test "$(stat -c %a "$TMP/state/identity")" = 700
check "node.json holds the node id" grep -q "\"$NODE\"" "$TMP/state/identity/node.json"
check "the key is an Ed25519 key" sh -c "openssl pkey -in $TMP/state/identity/node.key -noout -text | grep -q ED25519"

# --- heartbeat -------------------------------------------------------------
sleep 3
hb=$($CP heartbeats "$NODE" --last 1 --json)
mem=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024))
cpus=$(grep -c '^processor' /proc/cpuinfo)
check "a heartbeat arrived" grep -q '"memory_total_bytes"' <<<"$hb"
check "memory total is /proc's ($mem)" grep -q "\"memory_total_bytes\": $mem" <<<"$hb"
check "cpu_count is /proc's ($cpus)" grep -q "\"cpu_count\": $cpus" <<<"$hb"
check "binary_sha256 is berthd's" grep -q "$(sha256sum "$BERTHD" | cut -c1-64)" <<<"$hb"
check "audit head is sent" grep -q '"records": [1-9]' <<<"$hb"

# --- tasks -----------------------------------------------------------------
WEB='mkdir -p /tmp/www && echo hello-native >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'
T=$($CP task add --node "$NODE" --kind deploy --app natweb \
    --image berth-base:latest --port "127.0.0.1:$APP_PORT:8080" \
    --memory 128m --cpus 0.5 --env GREETING=hi --secret-env KEY=s3cret \
    --cmd sh -c "$WEB")
wait_final "$T"
check "deploy: running then succeeded ($(states "$T"))" \
    test "$(states "$T")" = "running succeeded"
sleep 1
check "curl reaches the deployed app" \
    sh -c "curl -sf http://127.0.0.1:$APP_PORT/ | grep -q hello-native"
check "the task is journalled" test -f "$TMP/state/tasks/$T.json"

T=$($CP task add --node "$NODE" --kind stop --app natweb --grace 1)
wait_final "$T"
check "stop: running then succeeded" test "$(states "$T")" = "running succeeded"
refute "the app no longer answers" curl -sf -m 2 "http://127.0.0.1:$APP_PORT/"
T=$($CP task add --node "$NODE" --kind start --app natweb)
wait_final "$T"
check "start: running then succeeded" test "$(states "$T")" = "running succeeded"
sleep 1
check "the app answers again" \
    sh -c "curl -sf http://127.0.0.1:$APP_PORT/ | grep -q hello-native"

# --- restart: same node, no new enrolment --------------------------------
berthd_stop
berthd_start
sleep 3
check "one node after a restart" test "$($CP nodes | wc -l)" -eq 1
check "the same node id after a restart" test "$(node_id)" = "$NODE"
T=$($CP task add --node "$NODE" --kind restart --app natweb)
wait_final "$T"
check "restart task after the agent restart" test "$(states "$T")" = "running succeeded"

# --- outage: a deploy whose events wait out the control plane ------------
# The runner is frozen while the task is accepted, so that the rest of
# the deploy, and its final event, happen only once the control plane is
# gone.  Every event must then arrive once, in order: the server stores
# each (task, seq) once and says so when one comes again.
role_pid() {
	local p
	for p in $(pgrep -P "$BERTHD_PID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "-P $1" && echo "$p"
	done
}
OUT_PORT=$((APP_PORT + 2))
RUNNER=$(role_pid runner)
kill -STOP "$RUNNER"
T=$($CP task add --node "$NODE" --kind deploy --app natout \
    --image berth-base:latest --port "127.0.0.1:$OUT_PORT:8080" \
    --memory 64m --cmd sh -c "$WEB")
for _ in $(seq 100); do
	states "$T" | grep -q running && break
	sleep 0.1
done
cp_stop
OUTAGE_END=$(($(date +%s) + OUTAGE_SEC))
note "control plane down for $OUTAGE_SEC s"
kill -CONT "$RUNNER"
for _ in $(seq 50); do
	grep -q "\"task\":\"$T\".*succeeded" "$TMP/state/spool/events.log" \
	    2>/dev/null && break
	sleep 0.2
done
check "the final event waits in the spool" \
    grep -q "\"task\":\"$T\".*succeeded" "$TMP/state/spool/events.log"
check "the app runs during the outage" \
    sh -c "curl -sf http://127.0.0.1:$OUT_PORT/ | grep -q hello-native"
# The agent restarts inside the outage too, near its end: the spool must
# survive it.  (A netd that starts during an outage backs off towards the
# protocol's default retry_max_sec, 300 s, until an answer says 2.)
while [ "$(date +%s)" -lt $((OUTAGE_END - 3)) ]; do sleep 1; done
berthd_stop
berthd_start
while [ "$(date +%s)" -lt "$OUTAGE_END" ]; do sleep 1; done
# It comes back answering 503 for a while: the node backs off and retries.
cp_start "$CP_PORT" --fail-next 6
wait_final "$T"
sleep 3
check "deploy across the outage: every event once, in order ($(states "$T"))" \
    test "$(states "$T")" = "running succeeded"
check "the server stored seqs 1 2 ($(seqs "$T"))" test "$(seqs "$T")" = "1 2"
refute "no event of the task reached the server twice" \
    grep -q "events of $T from" "$TMP/cp.err"
check "the spool is empty once acknowledged" test ! -s "$TMP/state/spool/events.log"
for app in natweb natout; do
	T=$($CP task add --node "$NODE" --kind remove --app "$app")
	wait_final "$T"
	check "remove $app: running then succeeded" \
	    test "$(states "$T")" = "running succeeded"
done
check "the app is gone" test -z "$(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE_LABEL%22%5D%7D" | grep -o '"Id"')"

# --- Retry-After -------------------------------------------------------------
# The control plane may name its delay on 429 and 5xx: the node waits
# that long (up to retry_max_sec, 30 here), and without one backs off as
# before.  fail_times: when the server answered the heartbeats it failed.
fail_times() { grep "test switch: .* /v1/nodes/$NODE/heartbeat -> $1" \
    "$TMP/cp.err" | awk '{ print $4 }'; }
# gaps_at_least MIN T1 T2 ...: each step between the times is >= MIN s.
gaps_at_least() {
	local min=$1
	shift
	awk -v min="$min" 'BEGIN { for (i = 2; i < ARGC; i++)
	    if (ARGV[i] - ARGV[i - 1] < min) exit 1; exit ARGC < 3 }' "$@"
}
gaps_below() {
	local max=$1
	shift
	awk -v max="$max" 'BEGIN { for (i = 2; i < ARGC; i++)
	    if (ARGV[i] - ARGV[i - 1] >= max) exit 1; exit ARGC < 3 }' "$@"
}
heartbeats_after() { $CP heartbeats "$NODE" --last 5 --json |
    grep -o '"received": [0-9]*' | awk -v t="$1" '$2 >= t' | wc -l; }
cp_stop
cp_start "$CP_PORT" --retry-max-sec 30
since=$(date +%s)
for _ in $(seq 50); do
	[ "$(heartbeats_after "$since")" -gt 0 ] && break
	sleep 0.2
done
$CP fail 3 --status 429 --retry-after 4 --only heartbeat
for _ in $(seq 100); do
	[ "$(fail_times 429 | wc -l)" -ge 3 ] && break
	sleep 0.2
done
# shellcheck disable=SC2046
check "429: the next heartbeat waits the 4 s of Retry-After ($(fail_times 429 | tr '\n' ' '))" \
    gaps_at_least 3.9 $(fail_times 429)
check "the node says why it waits" \
    grep -q "heartbeat again in 4000 ms (Retry-After 4 s)" "$TMP/berthd.log"
since=$(date +%s)
for _ in $(seq 50); do
	[ "$(heartbeats_after "$since")" -gt 0 ] && break
	sleep 0.2
done
check "heartbeats resume once the server answers again" \
    test "$(heartbeats_after "$since")" -gt 0
$CP fail 3 --status 503 --retry-after none --only heartbeat
for _ in $(seq 100); do
	[ "$(fail_times '503$' | wc -l)" -ge 3 ] && break
	sleep 0.2
done
# shellcheck disable=SC2046
check "503 without Retry-After: backoff as before ($(fail_times '503$' | tr '\n' ' '))" \
    gaps_below 3.5 $(fail_times '503$')
$CP fail 1 --status 503 --retry-after 100 --only heartbeat
for _ in $(seq 100); do
	grep -q "Retry-After 100 s" "$TMP/berthd.log" && break
	sleep 0.2
done
check "a longer Retry-After is capped at retry_max_sec" \
    grep -q "heartbeat again in 30000 ms (Retry-After 100 s)" "$TMP/berthd.log"
cp_stop
cp_start "$CP_PORT"

# --- refusals ---------------------------------------------------------------
# All queued first, then checked: each refusal is quick, the waiting is not.
REFUSED=()
refused() {
	local what=$1
	shift
	REFUSED+=("$($CP task add --node "$NODE" --app natweb "$@")" "$what")
}
refused "a forged task" --kind start --forge
refused "an expired task" --kind start --expired
refused "a task for another node" --kind start --sign-as-node n_someoneelse
refused "an unsigned task" --kind start --unsigned
refused "a replayed seq" --kind start --replay 1
refused "a task with an unknown member" --kind start --unchecked \
    --spec-json '{"surprise": 1}'
for ((i = 0; i < ${#REFUSED[@]}; i += 2)); do
	t=${REFUSED[i]}
	what=${REFUSED[i + 1]}
	wait_final "$t"
	check "$what is rejected" test "$(states "$t")" = "rejected"
	check "$what is audited" \
	    grep -q "\"op\":\"task.refused\".*\"task\":\"$t\"" \
	    "$TMP/state/audit.log"
done

# --- SIGKILL in the middle of a task ----------------------------------------
# Nothing can say goodbye: the runner is frozen with the deploy in hand,
# berthd is killed, then the runner thawed (it finds its parent gone).
# After the restart the journal still says the task was running: it must
# end failed, reported once, and not run again.
RUNNER=$(role_pid runner)
kill -STOP "$RUNNER"
T=$($CP task add --node "$NODE" --kind deploy --app natkill \
    --image berth-base:latest --memory 64m --cmd sh -c "$WEB")
for _ in $(seq 100); do
	states "$T" | grep -q running && break
	sleep 0.1
done
check "the deploy is under way ($(states "$T"))" test "$(states "$T")" = running
kill -KILL "$BERTHD_PID"
wait "$BERTHD_PID" 2>/dev/null
BERTHD_PID=
kill -CONT "$RUNNER"
sleep 1
berthd_start
wait_final "$T"
check "after SIGKILL the task is reported failed ($(states "$T"))" \
    test "$(states "$T")" = "running failed"
check "the failure says why" \
    sh -c "$CP events $T | grep -q 'restarted during the task'"
check "the server stored seqs 1 2 ($(seqs "$T"))" test "$(seqs "$T")" = "1 2"
sleep 3
check "the task was not run a second time ($(containers_of "$T") container)" \
    test "$(containers_of "$T")" -le 1
check "nor reported again ($(seqs "$T"))" test "$(seqs "$T")" = "1 2"
refute "the old runner is gone" kill -0 "$RUNNER" 2>/dev/null
# --- a deploy from git, through the builder -------------------------------
mkdir -p "$TMP/src" "$TMP/repos"
cp -r "$BERTH_SRC/contrib/examples/static/." "$TMP/src/"
git -C "$TMP/src" init -q -b main && git -C "$TMP/src" add -A &&
    git -C "$TMP/src" -c user.name=berth -c user.email=berth@localhost \
    commit -qm static && git clone -q --bare "$TMP/src" "$TMP/repos/static.git"
git daemon --export-all --base-path="$TMP/repos" --reuseaddr \
    --listen=127.0.0.1 --port="$GIT_PORT" 2>"$TMP/gitd.log" &
GITD_PID=$!
for _ in $(seq 25); do
	git ls-remote "$GIT_URL/static.git" >/dev/null 2>&1 && break
	sleep 0.2
done
GIT_APP_PORT=$((APP_PORT + 1))
T=$($CP task add --node "$NODE" --app natgit --kind deploy \
    --repo "$GIT_URL/static.git" --ref main \
    --port "127.0.0.1:$GIT_APP_PORT:8080")
wait_final "$T"
check "deploy from git succeeds ($(states "$T"))" \
    grep -q '^running.* succeeded$' <<<"$(states "$T")"
check "its stages arrive as running events" \
    sh -c "$CP events $T | grep -q clone"
sleep 1
check "the app built from git serves" curl -sf "http://127.0.0.1:$GIT_APP_PORT/"
T=$($CP task add --node "$NODE" --app natgit2 --kind deploy \
    --repo "https://example.invalid/x.git" --ref main)
wait_final "$T"
check "a repository outside repo-prefix fails ($(states "$T"))" \
    grep -q 'failed$' <<<"$(states "$T")"

# --- TLS: the configured CA is trusted, another one is not ---------------
# Also pin-sha256, right and wrong, and a control plane whose clock is
# 400 s ahead, past the 300 s it allows: the node must sign with the
# server's time after the first clock_skew, and say once that its clock
# is off.
# tls_node NAME CA [PIN]: a second agent (no Docker work) enrolling over
# https.
tls_node() {
	local dir=$TMP/$1 pin=
	[ $# -gt 2 ] && pin="pin-sha256 \"$3\""
	mkdir -p "$dir"
	cat >"$dir/berth.conf" <<TLSCONF
state-dir "$dir/state"
control-socket "$dir/control.sock"
workspace-root "$dir/work"
docker-socket "$SOCK"
control-plane {
	protocol native
	url "https://127.0.0.1:$TLS_PORT"
	enrol-token "$($TLS_CP token create --name "$1")"
	node-name "$1"
	ca-file "$2"
	$pin
}
TLSCONF
	chmod 0600 "$dir/berth.conf"
	"$BERTHD" -d -f "$dir/berth.conf" 2>"$dir/berthd.log" &
	echo $! >"$dir/pid"
}
tls_stop() { kill "$(cat "$TMP/$1/pid")" && wait "$(cat "$TMP/$1/pid")" 2>/dev/null; }
pki() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -days 2 -subj "/CN=$1" -keyout "$TMP/$1.key" -out "$TMP/$1.pem" \
	    2>/dev/null
}
pki test-ca && pki other-ca
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=127.0.0.1 -keyout "$TMP/server.key" -out "$TMP/server.csr" \
    2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/san.ext"
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/test-ca.pem" \
    -CAkey "$TMP/test-ca.key" -CAcreateserial -days 2 \
    -extfile "$TMP/san.ext" -out "$TMP/server.pem" 2>/dev/null
TLS_CP="$BERTH_SRC/contrib/controlplane/berth-cp --db $TMP/tls.db"
$TLS_CP serve --listen 127.0.0.1:0 --tls-cert "$TMP/server.pem" \
    --tls-key "$TMP/server.key" --clock-offset-sec 400 --quiet \
    >"$TMP/tls.out" 2>&1 &
TLS_PID=$!
for _ in $(seq 50); do
	grep -q listening "$TMP/tls.out" 2>/dev/null && break
	sleep 0.1
done
TLS_PORT=$(grep -o '[0-9]*$' "$TMP/tls.out")
# The pin of a key: SHA-256 of its DER SubjectPublicKeyInfo, in base64.
pin_of() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
	    openssl dgst -sha256 -binary | openssl base64 -A
}
RIGHT_PIN="sha256//$(pin_of "$TMP/server.pem")"
WRONG_PIN="sha256//$(pin_of "$TMP/other-ca.pem")"
tls_node tls-good "$TMP/test-ca.pem"
tls_node tls-bad "$TMP/other-ca.pem"
tls_node tls-pin "$TMP/test-ca.pem" "$WRONG_PIN;$RIGHT_PIN"
tls_node tls-badpin "$TMP/test-ca.pem" "$WRONG_PIN"
for _ in $(seq 100); do
	$TLS_CP nodes | grep -q tls-good && $TLS_CP nodes | grep -q tls-pin &&
	    break
	sleep 0.2
done
check "https with the right CA enrols" sh -c "$TLS_CP nodes | grep -q tls-good"
refute "https with another CA does not" sh -c "$TLS_CP nodes | grep -q tls-bad"
check "the refused certificate is logged" \
    grep -qiE "certificate|SSL|TLS" "$TMP/tls-bad/berthd.log"
check "pin-sha256 listing the server's key enrols" \
    sh -c "$TLS_CP nodes | grep -q tls-pin"
refute "a wrong pin-sha256 does not" sh -c "$TLS_CP nodes | grep -q tls-badpin"
check "the wrong pin is named in the log" \
    grep -q "public key pin mismatch" "$TMP/tls-badpin/berthd.log"
refute "the right pin logs no mismatch" \
    grep -q "pin mismatch" "$TMP/tls-pin/berthd.log"
check "a server clock 400 s ahead is said once ($(grep -c 'local clock is' "$TMP/tls-good/berthd.log"))" \
    test "$(grep -cE "local clock is (399|400|401) s behind" "$TMP/tls-good/berthd.log")" -eq 1
sleep 3
check "and heartbeats get through its 300 s skew check" \
    sh -c "$TLS_CP heartbeats \$($TLS_CP nodes | awk '/tls-good/ { print \$1 }') | grep -q cpu"
for n in tls-good tls-bad tls-pin tls-badpin; do
	tls_stop "$n"
done
kill "$TLS_PID" && wait "$TLS_PID" 2>/dev/null

# --- secrets ----------------------------------------------------------------
refute "the token is not in berthd's log" grep -qF "$TOKEN" "$TMP/berthd.log"
refute "the secret env value is not in berthd's log" grep -qF s3cret "$TMP/berthd.log"
refute "the token is not in berthd's argv" grep -qF "$TOKEN" "/proc/$BERTHD_PID/cmdline"

finish
