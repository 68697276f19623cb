# users.sh: the system users berth's children run as (DESIGN.md section 1).
# Sourced by tests/run and contrib/quickstart.sh (bash); needs root.

BERTH_USERS="_berth _berthbuild _berthrun"

# Prefer contrib/create-users.sh (the packaging's own script, so tests
# exercise it); otherwise create the users here.  Idempotent either way.
# $1: the repository root.
berth_create_users() {
	local root=$1 user
	if [ -f "$root/contrib/create-users.sh" ]; then
		echo "users: contrib/create-users.sh"
		sh "$root/contrib/create-users.sh" || return 1
	else
		for user in $BERTH_USERS; do
			getent passwd "$user" >/dev/null && continue
			echo "users: adding $user"
			useradd --system --no-create-home \
			    --shell /usr/sbin/nologin --user-group "$user" ||
			    return 1
		done
	fi
	for user in $BERTH_USERS; do
		if ! getent passwd "$user" >/dev/null; then
			echo "users: $user missing" >&2
			return 1
		fi
	done
}
