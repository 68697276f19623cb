#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_miaas.sh: the MIaaS dialect (issue 11) end to end, against the
# mock control plane of tests/mock/miaas_cp.py (CONTRACTS.md 3) and the
# private dockerd of the test fixture.  berthd is configured the way
# the MIaaS agent was, by CONTROL_PLANE_URL and HEARTBEAT_INTERVAL only
# (plus BERTH_PROTOCOL).  Checked: the registration body against /proc,
# df and the engine; the first heartbeat right after it; heartbeat
# units and the berth-managed container names; the identity kept 0600
# across a restart (no second registration); a token that expires (401:
# register again at once); five failed heartbeats (register again); a
# server that refuses every token (no tight loop); a 422 logged with the
# server's detail; the control plane down for a while and back; and no
# token in berthd's log.
#
# Needs root, BERTHD, BERTHCTL, BERTH_SRC, python3, DOCKER_HOST=unix://.

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

TMP=$(mktemp -d /tmp/berth-miaas.XXXXXX) || exit 1
chmod 0755 "$TMP"
CONF=$TMP/berth.conf
CTL="$BERTHCTL -s $TMP/control.sock -a $TMP/state/audit.log"
NODE=miaas-test-$$
MOCK_PID=
BERTHD_PID=
MOCK_PORT=

cleanup() {
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3D$NODE%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_mock [PORT]: the mock on PORT (or any), its port in MOCK_PORT.
start_mock() {
	python3 "$BERTH_SRC/tests/mock/miaas_cp.py" --port "${1:-0}" \
	    >"$TMP/mock.out" 2>>"$TMP/mock.log" &
	MOCK_PID=$!
	for _ in $(seq 50); do
		MOCK_PORT=$(sed -n 's/^PORT=//p' "$TMP/mock.out")
		[ -n "$MOCK_PORT" ] && return 0
		sleep 0.1
	done
	return 1
}
mock() { curl -sf "http://127.0.0.1:$MOCK_PORT/_mock/$1" "${@:2}"; }
mock_config() {
	mock config -X POST -H 'Content-Type: application/json' -d "$1" \
	    >/dev/null
}

# py EXPR: true if EXPR holds; R is the list of requests the mock got,
# reg the registrations, hb the heartbeats (each with its answer).
py() {
	mock requests >"$TMP/requests.json" || return 1
	python3 - "$TMP/requests.json" "$1" <<'PY'
import json, sys
R = json.load(open(sys.argv[1]))
reg = [r for r in R if r["path"] == "/api/v1/nodes/register"]
hb = [r for r in R if r["path"].endswith("/heartbeat")]
try:
    sys.exit(0 if eval(sys.argv[2]) else 1)
except (IndexError, KeyError, TypeError):
    sys.exit(1)
PY
}
count() {
	mock requests | python3 -c "import json,sys; R=json.load(sys.stdin);
print(sum(1 for r in R if r['path'].endswith('$1')))"
}
# wait_for SECONDS EXPR
wait_for() {
	local i
	for i in $(seq $(($1 * 5))); do
		py "$2" && return 0
		sleep 0.2
	done
	return 1
}

start_berthd() {
	env BERTH_PROTOCOL=miaas CONTROL_PLANE_URL="http://127.0.0.1:$MOCK_PORT" \
	    HEARTBEAT_INTERVAL=3 "$BERTHD" -d -f "$CONF" 2>>"$TMP/berthd.log" &
	BERTHD_PID=$!
	for _ in $(seq 50); do
		$CTL status >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
stop_berthd() {
	kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null
	BERTHD_PID=
}

cat > "$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
log-level debug
control-plane {
	node-name "$NODE"
}
policy {
	image "berth-base:*"
	memory default 64M max 512M
	publish-address "127.0.0.1"
}
CONF
chmod 0600 "$CONF"
mkdir -p "$TMP/state" "$TMP/work"

# The control plane is away until our app runs, so that the registration
# happens when berth's inventory has it (the feed ticks every 5 s).
MOCK_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
check "berthd -n takes BERTH_PROTOCOL=miaas and the seed's variables" \
    env BERTH_PROTOCOL=miaas CONTROL_PLANE_URL="http://127.0.0.1:$MOCK_PORT" \
    HEARTBEAT_INTERVAL=3 "$BERTHD" -n -f "$CONF" >/dev/null

# A container of ours (its name must be in the heartbeats) and one that
# is not (it must not be).
FOREIGN=$(api -X POST -H 'Content-Type: application/json' \
    -d '{"Image":"berth-base:latest","Cmd":["sleep","1000"]}' \
    "http://d/v1.41/containers/create?name=miaas-foreign-$$" |
    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4)
api -X POST "http://d/v1.41/containers/$FOREIGN/start" >/dev/null

check "berthd starts" start_berthd
check "deploy an app of ours" $CTL deploy --image berth-base:latest \
    --name hb -- sleep 1000
sleep 6
check "the mock control plane starts" start_mock "$MOCK_PORT"
check "berthd registers within 30 s" wait_for 30 'len(reg) >= 1'
note "$(grep -m3 'miaas' "$TMP/berthd.log")"

# --- registration ---------------------------------------------------------
ENGINE=$(api http://d/v1.41/version | python3 -c 'import json,sys;
print(json.load(sys.stdin)["Version"])')
MEM_MB=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
DISK_MB=$(df -P -B1M "$TMP/state" | awk 'NR == 2 { print $2 }')
check "registered with 201 and no validation error" py 'reg[0]["status"] == 201'
check "name is the node name" py "reg[0]['body']['name'] == '$NODE'"
check "ip is the source of the route to the control plane (127.0.0.1)" \
    py 'reg[0]["body"]["ip"] == "127.0.0.1"'
check "capabilities.os is linux" \
    py 'reg[0]["body"]["capabilities"]["os"] == "linux"'
check "capabilities.cpu_count is nproc ($(nproc))" \
    py "reg[0]['body']['capabilities']['cpu_count'] == $(nproc)"
check "capabilities.mem_mb is MemTotal in MiB ($MEM_MB)" \
    py "abs(reg[0]['body']['capabilities']['mem_mb'] - $MEM_MB) <= 1"
check "capabilities.disk_mb is the state disk in MiB ($DISK_MB)" \
    py "abs(reg[0]['body']['capabilities']['disk_mb'] - $DISK_MB) <= 1"
check "capabilities.gpus is a list" \
    py 'isinstance(reg[0]["body"]["capabilities"]["gpus"], list)'
check "capabilities.docker.version is the engine's ($ENGINE)" \
    py "reg[0]['body']['capabilities']['docker']['version'] == '$ENGINE'"
note "registration: $(py 'print(reg[0]["body"]["capabilities"]["docker"]) or True')"
check "capabilities.docker.running_containers counts ours" \
    py 'reg[0]["body"]["capabilities"]["docker"]["running_containers"] == 1'
check "no Authorization on the registration" \
    py '"Authorization" not in reg[0]["headers"]'

# --- heartbeats -------------------------------------------------------------
check "a heartbeat follows within 2 s of the registration" \
    wait_for 5 'hb and hb[0]["time"] - reg[0]["time"] < 2'
check "heartbeats answered 200" wait_for 10 'len(hb) >= 2 and hb[-1]["status"] == 200'
NODE_ID=$(curl -sf "http://127.0.0.1:$MOCK_PORT/api/v1/nodes" |
    python3 -c "import json,sys; print([n['id'] for n in json.load(sys.stdin) if n['name'] == '$NODE'][0])")
note "node id $NODE_ID"
check "heartbeats go to /api/v1/nodes/<node_id>/heartbeat" \
    py "hb[-1]['path'] == '/api/v1/nodes/$NODE_ID/heartbeat'"
check "with the Bearer token" \
    py 'hb[-1]["headers"]["Authorization"].startswith("Bearer ey")'
check "cpu_usage is a float percent" \
    py 'isinstance(hb[-1]["body"]["cpu_usage"], float) and 0 <= hb[-1]["body"]["cpu_usage"] <= 100'
MEM_PCT=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 }
    END { printf "%.1f", 100 * (t - a) / t }' /proc/meminfo)
check "mem_usage is the used percent of /proc/meminfo (~$MEM_PCT)" \
    py "isinstance(hb[-1]['body']['mem_usage'], float) and abs(hb[-1]['body']['mem_usage'] - $MEM_PCT) < 10"
FREE_MB=$(df -P -B1M "$TMP/state" | awk 'NR == 2 { print $4 }')
check "disk_free_mb is the state disk's free MiB (~$FREE_MB)" \
    py "isinstance(hb[-1]['body']['disk_free_mb'], int) and abs(hb[-1]['body']['disk_free_mb'] - $FREE_MB) < 512"
check "running_containers names our running app" wait_for 15 \
    'any(n == "hb" or n.endswith("-hb") for n in hb[-1]["body"]["running_containers"])'
note "running_containers: $(py 'print(hb[-1]["body"]["running_containers"]) or True')"
refute "running_containers leaves the foreign container out" \
    py "any('miaas-foreign' in n for h in hb for n in h['body']['running_containers'])"

# --- identity kept ----------------------------------------------------------
IDFILE=$TMP/state/identity/node.json
check "the identity is kept 0600" test "$(stat -c %a "$IDFILE")" = 600
check "it holds the node id" grep -q "$NODE_ID" "$IDFILE"
REGS=$(count /register)
stop_berthd
check "berthd restarts" start_berthd
check "heartbeats resume after the restart" wait_for 10 \
    "len(hb) > 0 and hb[-1]['time'] > $(date +%s) - 5 and hb[-1]['status'] == 200"
check "without a second registration" test "$(count /register)" = "$REGS"

# --- an expired token: 401, register again at once ---------------------------
REGS=$(count /register)
mock expire -X POST >/dev/null
check "a 401 makes the node register again" wait_for 10 \
    "len(reg) > $REGS"
check "and heartbeats succeed with the new token" wait_for 10 \
    'hb[-1]["status"] == 200 and hb[-1]["time"] > reg[-1]["time"]'
check "the node keeps its id (same name)" \
    py "reg[-1]['status'] == 201 and hb[-1]['path'] == '/api/v1/nodes/$NODE_ID/heartbeat'"
check "the new identity is stored" \
    sh -c "test \"\$(stat -c %a $IDFILE)\" = 600"

# --- 403: the token is another node's: register again at once -------------------
REGS=$(count /register)
mock_config '{"wrong_node": 1}'
check "a 403 makes the node register again" wait_for 15 "len(reg) > $REGS"
check "the 403 was logged with the server's detail" \
    grep -q "HTTP 403: Cannot send heartbeat for a different node" "$TMP/berthd.log"
check "heartbeats succeed after the 403" wait_for 15 'hb[-1]["status"] == 200'

# --- five failures in a row: register again ----------------------------------
REGS=$(count /register)
mock_config '{"fail_heartbeats": 5}'
check "five failed heartbeats make the node register again" wait_for 60 \
    "len(reg) > $REGS"
check "the log says why" grep -q "failed 5 times in a row" "$TMP/berthd.log"
check "heartbeats succeed again" wait_for 15 'hb[-1]["status"] == 200'
# Between failures the node backs off with jitter, not at a fixed beat.
check "failed heartbeats were retried with backoff, not a fixed 3 s beat" \
    py '(lambda f: len(f) >= 5 and len(set(round(b["time"] - a["time"], 1) for a, b in zip(f, f[1:]))) > 1)([h for h in hb if h["status"] == 500])'

# --- a server that refuses every token: no tight loop ------------------------
mock_config '{"reject_tokens": true}'
sleep 1
REGS=$(count /register)
sleep 12
N=$(( $(count /register) - REGS ))
note "registrations in 12 s while every token is refused: $N"
check "re-registration backs off (at most 8 in 12 s)" test "$N" -le 8
check "but does try again" test "$N" -ge 1
mock_config '{"reject_tokens": false}'
check "and recovers" wait_for 60 'hb[-1]["status"] == 200'

# --- 422 logged with the server's detail --------------------------------------
mock_config '{"heartbeat_422": true}'
check "a 422 is logged with the server's detail" wait_for 15 \
    "'value is not a valid float' in open('$TMP/berthd.log').read()"
mock_config '{"heartbeat_422": false}'
check "heartbeats recover after the 422s" wait_for 60 'hb[-1]["status"] == 200'

# --- the control plane away for a while --------------------------------------
save_tokens() {
	mock tokens | python3 -c 'import json,sys
for t in json.load(sys.stdin): print(t)' >>"$TMP/tokens"
}
save_tokens
kill "$MOCK_PID" 2>/dev/null
wait "$MOCK_PID" 2>/dev/null
sleep 10
check "berthd survives the control plane's absence" kill -0 "$BERTHD_PID"
check "and logs the failures" grep -q "miaas: heartbeat failed" "$TMP/berthd.log"
# The new mock has forgotten every node: the node registers again.
check "the control plane comes back on the same port" start_mock "$MOCK_PORT"
check "the node registers again with the new server" wait_for 90 \
    'len(reg) >= 1 and reg[-1]["status"] == 201'
check "and heartbeats flow again" wait_for 30 'len(hb) >= 1 and hb[-1]["status"] == 200'

# --- secrets -----------------------------------------------------------------
save_tokens
leaked=0
while read -r tok; do
	grep -qF "$tok" "$TMP/berthd.log" && leaked=1
done <"$TMP/tokens"
check "no token in berthd's log" test "$leaked" = 0
check "berthd still runs" kill -0 "$BERTHD_PID"

api -X DELETE "http://d/v1.41/containers/$FOREIGN?force=1" >/dev/null
finish
