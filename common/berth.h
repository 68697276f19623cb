/*
 * berth.h: what every berth process shares: the roles, the imsg types
 * exchanged between them, and the wire structs that ride in those
 * messages.  Each wire struct has exactly one decoder in wire.c.
 */
#ifndef BERTH_H
#define BERTH_H

#include <sys/types.h>
#include <stdint.h>

#include "compat.h"

#define BERTH_CONF_FILE		"/etc/berth/berth.conf"
#define BERTH_STATE_DIR		"/var/lib/berth"
#define BERTH_CONTROL_SOCKET	"/run/berth/control.sock"
#define BERTH_WORKSPACE_ROOT	"/var/lib/berth-build"
#define BERTH_DOCKER_SOCKET	"/var/run/docker.sock"
#define BERTH_EMPTY_DIR		"/var/empty"

/* The parent channel of every child is this descriptor after re-exec. */
#define BERTH_PARENT_FD		3

/* Largest imsg (header + payload) on a process channel. */
#define BERTH_IMSG_MAX		16384
/* Channels that carry runner operations (JSON up to RUNOP_JSON_MAX). */
#define BERTH_IMSG_RUN_MAX	65536
/* Bytes a channel may queue for writing before compose refuses. */
#define BERTH_IMSG_QUEUE_MAX	(4 * 1024 * 1024)

#define BERTH_USER_LEN		32
#define BERTH_PATH_LEN		256	/* fits in a sockaddr_un too (108) only if checked */

enum berth_role {
	ROLE_PARENT = 0,
	ROLE_NETD,
	ROLE_BUILDER,
	ROLE_RUNNER,
	ROLE_MAX
};

enum imsg_type {
	IMSG_NONE = 0,
	IMSG_PROC_CONF,		/* parent -> child: struct wire_proc_conf */
	IMSG_PROC_READY,	/* child -> parent: struct wire_proc_ready */
	IMSG_PROC_STATUS_REQ,	/* parent -> child: empty */
	IMSG_PROC_STATUS,	/* child -> parent: struct wire_proc_ready */
	IMSG_CTL_STATUS,	/* berthctl -> parent: empty */
	IMSG_CTL_PROC,		/* parent -> berthctl: struct wire_ctl_proc */
	IMSG_CTL_END,		/* parent -> berthctl: empty, ends a listing */
	IMSG_CTL_ERROR,		/* parent -> berthctl: struct wire_ctl_error */
	IMSG_CTL_RUN,		/* berthctl -> parent: runop JSON (runop.h) */
	IMSG_CTL_RUN_RESULT,	/* parent -> berthctl: result JSON, fd for logs */
	IMSG_RUN_REQUEST,	/* parent -> runner: runop JSON, peerid = request */
	IMSG_RUN_RESULT,	/* runner -> parent: result JSON, fd for logs */
	IMSG_AUDIT,		/* runner -> parent: struct wire_audit */
	IMSG_TYPE_MAX
};

/* What a child needs from the configuration to set itself up. */
struct wire_proc_conf {
	uint32_t	role;		/* enum berth_role, never ROLE_PARENT */
	uint32_t	verbose;	/* log verbosity, 0..3 */
	uint32_t	foreground;	/* 1: log to stderr */
	char		user[BERTH_USER_LEN];
	char		docker_socket[BERTH_PATH_LEN];
	char		workspace_root[BERTH_PATH_LEN];
};

/* How far a child's confinement got, as the child itself set it up. */
struct wire_proc_ready {
	uint32_t	role;
	int32_t		landlock_abi;	/* ABI in force, 0 if none */
	uint32_t	landlock_full;	/* 1: every access bit we asked for is enforced */
	uint32_t	seccomp;	/* 1: our filter is installed */
	uint32_t	netns;		/* 1: in an empty network namespace */
	uint32_t	mntns;		/* 1: in a mount namespace with an empty root */
};

/* One process, as berthctl status shows it. */
struct wire_ctl_proc {
	uint32_t	role;
	uint32_t	pid;
	uint32_t	uid;
	uint32_t	gid;
	uint32_t	seccomp_mode;	/* /proc/PID/status Seccomp: */
	uint32_t	no_new_privs;
	int32_t		landlock_abi;
	uint32_t	landlock_full;
	uint64_t	cap_eff;
	uint64_t	uptime_sec;
	char		user[BERTH_USER_LEN];
};

/* One audit record the runner asks the parent to append. */
struct wire_audit {
	char		task[64];
	char		operation[32];	/* e.g. "container.create" */
	char		object[128];	/* id or name */
	char		policy_hash[65];
	char		request_hash[65];	/* SHA-256 hex of the Docker request body */
	char		result[256];	/* "ok", "refused: ...", "error: ..." */
};

struct wire_ctl_error {
	char		message[256];
};

/* Entry points of the children, called from berthd's main for -P ROLE. */
void	 netd_main(void) __attribute__((__noreturn__));
void	 builder_main(void) __attribute__((__noreturn__));
void	 runner_main(void) __attribute__((__noreturn__));

const char	*role_name(enum berth_role);
int		 role_from_name(const char *, enum berth_role *);
const char	*imsg_type_name(uint32_t);

#endif /* BERTH_H */
