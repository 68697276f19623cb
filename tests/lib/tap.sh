# tap.sh: "ok - ..." / "not ok - ..." reporting shared by the integration
# scripts, sourced from bash.  finish() prints the count and exits 1 if
# any check failed.
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
# refute DESCRIPTION COMMAND...: ok if the command fails.
refute() {
	local what=$1
	shift
	if "$@"; then not_ok "$what"; else ok "$what"; fi
}
note() {
	echo "# $*"
}
finish() {
	if [ "$failures" -eq 0 ]; then
		echo "# all $checks checks passed"
		exit 0
	fi
	echo "# $failures of $checks checks failed"
	exit 1
}
