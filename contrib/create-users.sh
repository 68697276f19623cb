#!/bin/sh
# create-users.sh: create the system users and groups berthd's children
# run as, if they are missing: _berth (netd), _berthbuild (builder) and
# _berthrun (runner).  Each gets a group of its own name, no home and no
# login shell.  Safe to run again; used by the sandbox probes and by
# installs without sysusers.d.
set -eu

nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin

for name in _berth _berthbuild _berthrun; do
	if getent passwd "$name" >/dev/null; then
		continue
	fi
	if getent group "$name" >/dev/null; then
		group="--gid $name"
	else
		group="--user-group"
	fi
	# shellcheck disable=SC2086 # $group is two words on purpose
	useradd --system --no-create-home --home-dir /nonexistent \
	    --shell "$nologin" $group "$name"
	echo "create-users: created $name"
done
