#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_runner.sh: the runner issue's acceptance, end to end through
# berthctl against the private dockerd of the test fixture: every
# operation, every policy refusal (with nothing created in the engine),
# the audit chain and its tamper detection, a container removed behind
# berth's back, and a foreign unlabelled container that survives every
# berth operation including prune.
#
# Needs root, BERTHD, BERTHCTL, BERTH_SRC and DOCKER_HOST=unix://PATH.

set -u
. "${BERTH_SRC:?}/tests/lib/tap.sh"

BERTHD=${BERTHD:?}
BERTHCTL=${BERTHCTL:?}
DOCKER_HOST=${DOCKER_HOST:-}
if [ "$(id -u)" -ne 0 ] || [ "$DOCKER_HOST" = "${DOCKER_HOST#unix://}" ]; then
	echo "# skip: needs root and DOCKER_HOST=unix://..."
	exit 77
fi
SOCK=${DOCKER_HOST#unix://}
api() { curl -sf --unix-socket "$SOCK" "$@"; }

TMP=$(mktemp -d /tmp/berth-runner.XXXXXX) || exit 1
chmod 0755 "$TMP"
mkdir -p "$TMP/binds/data" "$TMP/outside"
ln -s /etc "$TMP/binds/escape"
PORT=$((20000 + RANDOM % 20000))
HTTP_PORT=$((PORT + 1))
CONF=$TMP/berth.conf
CTL="$BERTHCTL -s $TMP/control.sock -a $TMP/state/audit.log"
BERTHD_PID=
FOREIGN=

cleanup() {
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	[ -n "$FOREIGN" ] && api -X DELETE \
	    "http://d/v1.41/containers/$FOREIGN?force=1" >/dev/null
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3Drunner-test%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

cat > "$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
log-level debug
listen on 127.0.0.1 port $HTTP_PORT
control-plane {
	node-name "runner-test"
}
policy {
	image "berth-base:*"
	image "testbb:*"
	memory default 64M max 512M
	bind-prefix "$TMP/binds"
	cap-allow NET_BIND_SERVICE
	publish-address "127.0.0.1"
}
CONF
chmod 0600 "$CONF"
mkdir -p "$TMP/state" "$TMP/work"

# A strict umask (systemd's UMask=0077) must not cut the runner off from
# the Docker socket bound into its empty root.
(umask 077 && exec "$BERTHD" -d -f "$CONF") 2>"$TMP/berthd.log" &
BERTHD_PID=$!
for _ in $(seq 50); do
	$CTL status >/dev/null 2>&1 && break
	sleep 0.2
done
check "berthd is up" $CTL status
note "$(grep -E 'engine|docker' "$TMP/berthd.log" | head -3)"

containers() {
	api 'http://d/v1.41/containers/json?all=1' | grep -o '"Id"' | wc -l
}
app_id() {
	$CTL --json apps | tr '{' '\n' | grep "\"app\":\"$1\"" |
	    grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4
}

# Engine events from here on: events --since START.
START=$(date +%s)

# A container someone made without berth: berth must never touch it.
FOREIGN=$(api -X POST -H 'Content-Type: application/json' \
    -d '{"Image":"berth-base:latest","Cmd":["sleep","1000"]}' \
    'http://d/v1.41/containers/create?name=foreign-intruder' |
    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4)
api -X POST "http://d/v1.41/containers/$FOREIGN/start" >/dev/null
check "a foreign container runs" test -n "$FOREIGN"

# deploy: a web server on a loopback port
WEB='mkdir -p /tmp/www && echo hello-berth >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'
out=$($CTL deploy --image berth-base:latest --name web \
    --port 127.0.0.1:$PORT:8080 --memory 128M --cpus 0.5 -- sh -c "$WEB" 2>&1)
check "deploy web prints an id ($out)" grep -qE '^[0-9a-f]{64}$' <<<"$out"
WEB_ID=$out
sleep 1
check "curl 127.0.0.1:$PORT reaches the app" \
    sh -c "curl -sf http://127.0.0.1:$PORT/ | grep -q hello-berth"
check "apps lists web as running" sh -c "$CTL apps | grep -E '^web +' | grep -q running"
refute "apps does not list the foreign container" sh -c "$CTL apps | grep -q intruder"
check "inspect web" sh -c "$CTL inspect web | grep -q running"
check "stats web" $CTL stats web

# The status feed lists this node's containers from the runner: netd's
# /status counts web as running (and not the foreign one) and carries
# the engine's version.  The feed ticks every 5 s.
engine=$(api http://d/v1.41/version | grep -o '"Version":"[^"]*"' | head -1 |
    cut -d'"' -f4)
status=
for _ in $(seq 30); do
	status=$(curl -sf "http://127.0.0.1:$HTTP_PORT/status")
	grep -q '"containers_running":1,' <<<"$status" && break
	sleep 0.5
done
note "status: $status"
check "/status counts one running container of ours" \
    grep -q '"containers_running":1,"containers_total":1,' <<<"$status"
check "/status carries the engine version ($engine)" \
    grep -q "\"docker_version\":\"$engine\"" <<<"$status"

# the effective HostConfig is what policy says
hc=$(api "http://d/v1.41/containers/$WEB_ID/json")
check "CapDrop ALL" grep -q '"CapDrop":\["ALL"\]' <<<"$hc"
check "no-new-privileges" grep -q 'no-new-privileges' <<<"$hc"
check "memory 128M" grep -q '"Memory":134217728' <<<"$hc"
check "published on 127.0.0.1 only" grep -q '"HostIp":"127.0.0.1"' <<<"$hc"
check "owner labels" grep -q '"berth.app":"web"' <<<"$hc"

# lifecycle
check "stop web" $CTL stop web
check "web is exited" sh -c "$CTL apps | grep -E '^web ' | grep -q exited"
check "start web" $CTL start web
check "restart web" $CTL restart web
sleep 1
check "web serves after restart" \
    sh -c "curl -sf http://127.0.0.1:$PORT/ | grep -q hello-berth"

# logs
check "deploy echoer" $CTL deploy --image berth-base:latest --name echoer \
    -- sh -c 'echo line-one; echo line-two >&2; exec sleep 1000'
sleep 1
logs=$($CTL logs echoer 2>&1)
check "logs has stdout" grep -q line-one <<<"$logs"
check "logs has stderr" grep -q line-two <<<"$logs"
check "logs --tail 1" sh -c "$CTL logs --tail 1 echoer | grep -c line | grep -qx 1"
check "rename echoer to echo2" $CTL rename echoer echo2
check "echo2 listed" sh -c "$CTL apps | grep -qE '^echo2 '"

# redeploy replaces the container and keeps serving
check "redeploy web" $CTL deploy --image berth-base:latest --name web \
    --env VERSION=2 --port 127.0.0.1:$PORT:8080 -- sh -c "$WEB"
NEW_ID=$(app_id web)
check "one web container with a new id" test -n "$NEW_ID" -a "$NEW_ID" != "$WEB_ID"
check "one web in apps" sh -c "$CTL apps | grep -cE '^web ' | grep -qx 1"
sleep 1
check "web serves after redeploy" \
    sh -c "curl -sf http://127.0.0.1:$PORT/ | grep -q hello-berth"

# binds under the allowed prefix work
check "bind under the prefix" $CTL deploy --image berth-base:latest \
    --name binder --volume "$TMP/binds/data:/data:ro" -- sleep 1000

# policy refusals: each names the field and creates nothing
refused() {
	local what=$1 field=$2 before after out
	shift 2
	before=$(containers)
	if out=$($CTL deploy --image berth-base:latest --name evil "$@" \
	    -- sleep 1 2>&1); then
		not_ok "refuse $what (was accepted)"
		return
	fi
	after=$(containers)
	if ! grep -q "$field" <<<"$out"; then
		not_ok "refuse $what: message lacks $field: $out"
	elif [ "$before" != "$after" ]; then
		not_ok "refuse $what: the engine has a new container"
	else
		ok "refuse $what ($out)"
	fi
}
refused "privileged" privileged --privileged
refused "host network" network_mode --network host
refused "host pid" pid_mode --pid host
refused "a device" devices --device /dev/sda
refused "cap SYS_ADMIN" cap_add --cap-add SYS_ADMIN
refused "a bind outside the prefixes" source --volume /etc:/x
refused "a symlink escaping the prefix" source --volume "$TMP/binds/escape:/x"
refused "memory over the ceiling" memory --memory 4G
before=$(containers)
if out=$($CTL deploy --image busybox:latest --name evil -- true 2>&1); then
	not_ok "refuse an image outside the allowlist"
elif ! grep -q image <<<"$out" || [ "$before" != "$(containers)" ]; then
	not_ok "refuse an image outside the allowlist: $out"
else
	ok "refuse an image outside the allowlist ($out)"
fi

# the foreign container survives everything, prune included
refute "stop of a foreign name is refused" $CTL stop foreign-intruder
check "image prune" $CTL image prune
check "foreign container still runs" \
    sh -c "curl -sf --unix-socket $SOCK http://d/v1.41/containers/$FOREIGN/json | grep -q '\"Running\":true'"

# events: the owned app's, none of the foreign container's
events=$($CTL events --since "$START" 2>&1)
jevents=$($CTL --json events --since "$START" 2>&1)
note "$(head -3 <<<"$events")"
check "events lists an event for app web" \
    awk '$4 == "web" { found = 1 } END { exit !found }' <<<"$events"
refute "events has nothing of foreign-intruder" \
    grep -qE "foreign-intruder|${FOREIGN:0:12}" <<<"$events$jevents"

# removed behind berth's back: apps stops listing it
api -X DELETE "http://d/v1.41/containers/$(app_id binder)?force=1" >/dev/null
refute "apps no longer lists binder" sh -c "$CTL apps | grep -qE '^binder '"

check "remove web" $CTL remove web
check "remove echo2" $CTL remove echo2
refute "apps is empty of web" sh -c "$CTL apps | grep -qE '^web '"

# audit: whole, then tampered
check "audit verify" $CTL audit verify
check "audit has refusals" sh -c "$CTL audit tail -n 200 | grep -q refused"
check "audit has creates" sh -c "$CTL audit tail -n 200 | grep -q container.create"
kill "$BERTHD_PID"; wait "$BERTHD_PID"; BERTHD_PID=
LOG=$TMP/state/audit.log
offset=$(awk 'NR<5 { n += length($0) + 1 } END { print n + 80 }' "$LOG")
printf '\x01' | dd of="$LOG" bs=1 seek="$offset" conv=notrunc 2>/dev/null
out=$($CTL audit verify 2>&1)
rc=$?
check "a flipped byte is detected (exit $rc)" test "$rc" -ne 0
check "verify names record 5 ($out)" grep -q 'record 5' <<<"$out"

finish
