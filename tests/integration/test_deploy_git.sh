#!/usr/bin/env bash
# shellcheck disable=SC2317
# test_deploy_git.sh: deploy from git, end to end.  A git daemon on
# 127.0.0.1 serves bare repositories made from contrib/examples; berthd
# clones (builder), builds the image (runner, the context's descriptor
# passed through the parent) and deploys it; curl checks what serves.
# Then a new commit, a broken build that leaves the old version serving,
# a URL outside the prefixes refused before any clone, a hostile
# repository refused at the context stage, and the audit chain.
#
# Needs root, git, BERTHD, BERTHCTL, BERTH_SRC and DOCKER_HOST=unix://PATH.

set -u
. "${BERTH_SRC:?}/tests/lib/tap.sh"

BERTHD=${BERTHD:?}
BERTHCTL=${BERTHCTL:?}
DOCKER_HOST=${DOCKER_HOST:-}
if [ "$(id -u)" -ne 0 ] || [ "$DOCKER_HOST" = "${DOCKER_HOST#unix://}" ] ||
    ! command -v git >/dev/null; then
	echo "# skip: needs root, git and DOCKER_HOST=unix://..."
	exit 77
fi
SOCK=${DOCKER_HOST#unix://}
api() { curl -sf --unix-socket "$SOCK" "$@"; }

TMP=$(mktemp -d /tmp/berth-deploy-git.XXXXXX) || exit 1
chmod 0755 "$TMP"
GIT_PORT=$((20000 + RANDOM % 20000))
WEB_PORT=$((20000 + RANDOM % 20000))
[ "$WEB_PORT" = "$GIT_PORT" ] && WEB_PORT=$((GIT_PORT + 1))
URL=git://127.0.0.1:$GIT_PORT
CONF=$TMP/berth.conf
CTL="$BERTHCTL -s $TMP/control.sock -a $TMP/state/audit.log"
BERTHD_PID=
GITD_PID=

cleanup() {
	[ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && \
	    wait "$BERTHD_PID" 2>/dev/null
	[ -n "$GITD_PID" ] && kill "$GITD_PID" 2>/dev/null
	for id in $(api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.node%3Ddeploy-git-test%22%5D%7D" |
	    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null
	done
	for id in $(api "http://d/v1.41/images/json?filters=%7B%22label%22%3A%5B%22berth.node%3Ddeploy-git-test%22%5D%7D" |
	    grep -o '"Id":"sha256:[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://d/v1.41/images/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

git_commit() {
	git -C "$1" add -A &&
	git -C "$1" -c user.name=berth -c user.email=berth@localhost \
	    commit -qm "$2"
}

# A working tree per repository under src/, a bare clone under repos/.
make_repo() {
	local name=$1 from=$2
	mkdir -p "$TMP/src/$name"
	cp -r "$from"/. "$TMP/src/$name/"
	git -C "$TMP/src/$name" init -q -b main &&
	git_commit "$TMP/src/$name" "$name" &&
	git clone -q --bare "$TMP/src/$name" "$TMP/repos/$name.git" &&
	git -C "$TMP/src/$name" remote add origin "$TMP/repos/$name.git"
}

mkdir -p "$TMP/repos" "$TMP/src" "$TMP/state" "$TMP/work"
make_repo static "$BERTH_SRC/contrib/examples/static"
make_repo dockerfile "$BERTH_SRC/contrib/examples/dockerfile"
mkdir -p "$TMP/hostile"
echo '<p>hostile</p>' > "$TMP/hostile/index.html"
ln -s /etc/shadow "$TMP/hostile/secrets"
make_repo hostile "$TMP/hostile"

git daemon --export-all --base-path="$TMP/repos" --reuseaddr \
    --listen=127.0.0.1 --port="$GIT_PORT" 2>"$TMP/gitd.log" &
GITD_PID=$!

cat > "$CONF" <<CONF
state-dir "$TMP/state"
control-socket "$TMP/control.sock"
workspace-root "$TMP/work"
docker-socket "$SOCK"
log-level debug
control-plane {
	node-name "deploy-git-test"
}
policy {
	image "berth-base:*"
	memory default 64M max 512M
	publish-address "127.0.0.1"
}
limits {
	max-concurrent-builds 1
}
build {
	repo-prefix "$URL/"
}
CONF
chmod 0600 "$CONF"

"$BERTHD" -d -f "$CONF" 2>"$TMP/berthd.log" &
BERTHD_PID=$!
for _ in $(seq 50); do
	$CTL status >/dev/null 2>&1 && git ls-remote "$URL/static.git" \
	    >/dev/null 2>&1 && break
	sleep 0.2
done
check "berthd is up" $CTL status
check "git daemon serves" git ls-remote "$URL/static.git"

containers() {
	api "http://d/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.app%3D$1%22%5D%7D" |
	    grep -o '"Id"' | wc -l
}
page() { curl -sf "http://127.0.0.1:$WEB_PORT/"; }
# The app serves the page with text $1, within a few seconds.
serves() {
	local _
	for _ in $(seq 20); do
		page | grep -q "$1" && return 0
		sleep 0.25
	done
	return 1
}

# 1. the static example, from git
out=$($CTL deploy --repo "$URL/static.git" --name web \
    --port "127.0.0.1:$WEB_PORT:8080" 2>&1)
note "$out"
check "deploy from git prints the clone stage" \
    grep -q "^clone ok [0-9a-f]\{40\}" <<<"$out"
check "deploy from git prints the build stage" \
    grep -q "^build ok berth/web:" <<<"$out"
check "deploy from git prints the deploy stage" \
    grep -q "^deploy ok [0-9a-f]\{64\}" <<<"$out"
check "detected the static buildpack" grep -q "^detect detected static" <<<"$out"
check "deploy ends with the container id" \
    sh -c 'tail -n 1 | grep -qE "^[0-9a-f]{64}$"' <<<"$out"
check "curl gets the static example" serves "hello from the berth static example"

# 2. a new commit replaces it: one container, the new page
sed -i 's/hello from the berth static example/second version/' \
    "$TMP/src/static/index.html"
git_commit "$TMP/src/static" "second" &&
    git -C "$TMP/src/static" push -q origin main
NEW=$(git -C "$TMP/src/static" rev-parse HEAD)
out=$($CTL deploy --repo "$URL/static.git" --commit "$NEW" --name web \
    --port "127.0.0.1:$WEB_PORT:8080" 2>&1)
check "redeploy at the new commit" grep -q "^clone ok $NEW" <<<"$out"
check "curl gets the new page" serves "second version"
check "one container for web" test "$(containers web)" = 1

# 3. a build that fails: the build stage is named, the old version serves
printf 'FROM berth-base:latest\nRUN false\n' > "$TMP/src/static/Dockerfile"
git_commit "$TMP/src/static" "broken" &&
    git -C "$TMP/src/static" push -q origin main
if out=$($CTL deploy --repo "$URL/static.git" --name web \
    --port "127.0.0.1:$WEB_PORT:8080" 2>&1); then
	not_ok "a broken build fails (it was deployed)"
else
	check "a broken build fails naming the build stage" \
	    grep -q "berthctl: build: .*non-zero code" <<<"$out"
fi
note "$(tail -n 1 <<<"$out")"
check "the old version still answers" serves "second version"
check "still one container for web" test "$(containers web)" = 1

# 4. the dockerfile example, as another app
DF_PORT=$((WEB_PORT + 1))
out=$($CTL deploy --repo "$URL/dockerfile.git" --ref main --name site \
    --port "127.0.0.1:$DF_PORT:8080" 2>&1)
check "the dockerfile example is detected" \
    grep -q "^detect detected dockerfile" <<<"$out"
check "the dockerfile example serves" \
    sh -c "sleep 1; curl -sf http://127.0.0.1:$DF_PORT/ >/dev/null"

# 5. one build at a time (max-concurrent-builds 1): a second is refused
$CTL deploy --repo "$URL/dockerfile.git" --name site \
    --port "127.0.0.1:$DF_PORT:8080" >"$TMP/first.out" 2>&1 &
FIRST=$!
sleep 0.3
if out=$($CTL deploy --repo "$URL/static.git" --name other 2>&1); then
	not_ok "a build over max-concurrent-builds is refused (it ran)"
else
	check "a build over max-concurrent-builds is refused, saying so" \
	    grep -q "max-concurrent-builds" <<<"$out"
fi
check "the first build goes on" wait "$FIRST"

# 6. a URL outside the prefixes: refused before any clone
clones=$(grep -c "build .*: started" "$TMP/berthd.log")
if out=$($CTL deploy --repo "git://127.0.0.2:$GIT_PORT/static.git" \
    --name evil 2>&1); then
	not_ok "a URL outside the prefixes is refused (it was deployed)"
else
	check "a URL outside the prefixes is refused naming repo.url" \
	    grep -q "repo.url" <<<"$out"
fi
note "$out"
check "no clone was started for it" \
    test "$(grep -c "build .*: started" "$TMP/berthd.log")" = "$clones"
check "no container for evil" test "$(containers evil)" = 0

# 7. a symlink to /etc/shadow: refused at the context stage
if out=$($CTL deploy --repo "$URL/hostile.git" --name hostile 2>&1); then
	not_ok "a hostile repository is refused (it was deployed)"
else
	check "a hostile repository is refused at the context stage" \
	    grep -q "berthctl: context: .*secrets" <<<"$out"
fi
note "$(tail -n 1 <<<"$out")"
check "no container for hostile" test "$(containers hostile)" = 0

# 8. audit
check "audit verify" $CTL audit verify
check "the audit log has image.build records" \
    sh -c "$CTL audit tail -n 200 | grep -q image.build"
check "a failed image.build is audited" \
    sh -c "$CTL audit tail -n 200 | grep image.build | grep -q error"
check "remove web" $CTL remove web
check "remove site" $CTL remove site
check "berthd still runs" kill -0 "$BERTHD_PID"

finish
