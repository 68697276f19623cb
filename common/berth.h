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
#include "policy.h"

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
	IMSG_POLICY,		/* parent -> runner: struct policy (policy.h) */
	IMSG_BUILD_REQUEST,	/* parent -> builder: build JSON (buildreq.h) */
	IMSG_BUILD_CONTEXT,	/* builder -> parent: JSON + fd of the tar stream */
	IMSG_BUILD_LOG,		/* builder -> parent: JSON {task, text} */
	IMSG_BUILD_DONE,	/* builder -> parent: JSON {task, ok, error, ...} */
	IMSG_NETD_STATUS,	/* parent -> netd: status JSON (netd/status.h) */
	IMSG_NETD_RESOLVER,	/* parent -> netd: struct wire_resolver */
	/* The native control-plane protocol (netd/proto_native.c). */
	IMSG_NETD_IDENTITY,	/* parent -> netd: struct wire_netd_identity */
	IMSG_NETD_ENROLLED,	/* netd -> parent: struct wire_netd_enrolled */
	IMSG_NETD_REENROL,	/* netd -> parent: empty, credential_unknown */
	IMSG_NETD_NODE,		/* parent -> netd: struct wire_netd_node */
	IMSG_TASK_OFFER,	/* netd -> parent: one task, JSON (task.h) */
	IMSG_TASK_ACCEPT,	/* parent -> netd: struct wire_task_ref */
	IMSG_TASK_ANSWER,	/* netd -> parent: struct wire_task_answer */
	IMSG_EVENT_SEND,	/* parent -> netd: struct wire_event */
	IMSG_EVENT_ACKED,	/* netd -> parent: struct wire_event_ack */
	IMSG_NETD_SIGNED,	/* netd -> parent: empty, "tasks_signed": true */
	IMSG_CTL_PROGRESS,	/* parent -> berthctl: struct wire_ctl_progress */
	/* berthctl tasks, task ID, policy (parent/control.c). */
	IMSG_CTL_TASKS_REQ,	/* berthctl -> parent: wire_ctl_tasks_req */
	IMSG_CTL_TASK,		/* parent -> berthctl: wire_ctl_task */
	IMSG_CTL_TASKS_END,	/* parent -> berthctl: wire_ctl_tasks_end */
	IMSG_CTL_TASK_REQ,	/* berthctl -> parent: wire_ctl_task_req */
	IMSG_CTL_TASK_BODY,	/* parent -> berthctl: task JSON, no secrets */
	IMSG_CTL_TASK_EVENT,	/* parent -> berthctl: wire_event, spooled */
	IMSG_CTL_POLICY_REQ,	/* berthctl -> parent: empty */
	IMSG_CTL_POLICY,	/* parent -> berthctl: wire_ctl_policy */
	IMSG_TYPE_MAX
};

/* The control-plane dialect netd speaks (berth.conf "protocol"). */
enum cp_protocol {
	PROTO_NATIVE = 0,
	PROTO_SKYPANEL,
	PROTO_SKYPANEL_V2,
	PROTO_MIAAS,
	PROTO_LORMAS,
	PROTO_CODARA,
	PROTO_MAX
};

/* What a child needs from the configuration to set itself up. */
struct wire_proc_conf {
	uint32_t	role;		/* enum berth_role, never ROLE_PARENT */
	uint32_t	verbose;	/* log verbosity, 0..3 */
	uint32_t	foreground;	/* 1: log to stderr */
	char		user[BERTH_USER_LEN];
	char		docker_socket[BERTH_PATH_LEN];
	char		workspace_root[BERTH_PATH_LEN];
	char		node_label[64];	/* value of the berth.node owner label */
	/* netd's local HTTP listener, bound before it confines itself. */
	char		listen_addr[64];	/* numeric IPv4 or IPv6 */
	uint32_t	listen_port;		/* 0: no listener */
	/* netd's CA bundle for the control plane, read before confinement. */
	char		ca_file[BERTH_PATH_LEN];	/* "": the system's */
	uint32_t	protocol;	/* enum cp_protocol, netd only */
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

/* One stage line of a deploy from git, sent before its result. */
struct wire_ctl_progress {
	char		stage[16];	/* request clone detect context build deploy */
	char		text[1024];	/* printable, no newline */
};

/*
 * What netd resolves names with: the nameservers of /etc/resolv.conf and
 * the entries of /etc/hosts, read by the parent (netd reads no file).
 * Addresses are numeric; entries past the counts are all zero.
 */
#define WIRE_RESOLVER_NS_MAX	4
#define WIRE_RESOLVER_HOSTS_MAX	16
#define WIRE_ADDR_LEN		46	/* INET6_ADDRSTRLEN */
#define WIRE_HOSTNAME_LEN	256

struct wire_resolver_host {
	char		name[WIRE_HOSTNAME_LEN];
	char		addr[WIRE_ADDR_LEN];
};

struct wire_resolver {
	char		nameservers[WIRE_RESOLVER_NS_MAX][WIRE_ADDR_LEN];
	uint32_t	nnameservers;
	struct wire_resolver_host hosts[WIRE_RESOLVER_HOSTS_MAX];
	uint32_t	nhosts;
};

/*
 * The native protocol.  The parent holds the node's identity on disk
 * and hands netd what it needs to speak for the node; netd keeps it in
 * memory only.  Ids are PROTOCOL.md 2.7 ids (1-64 of A-Z a-z 0-9 _ -).
 */
#define WIRE_ID_LEN		65
#define WIRE_CREDENTIAL_LEN	2048	/* JWTs of the dialects are long */
#define WIRE_URL_LEN		1024
#define WIRE_ED25519_LEN	32
#define WIRE_HEX_LEN		65	/* 64 hex digits of a SHA-256 */
#define WIRE_TASKS_RUNNING_MAX	64

/* berth.conf pin-sha256: up to 8 "sha256//" + 44 base64, ';' between. */
#define WIRE_PIN_LEN	424

struct wire_netd_identity {
	uint8_t		private_key[WIRE_ED25519_LEN];	/* Ed25519 seed */
	char		node_id[WIRE_ID_LEN];		/* "": enrol first */
	char		credential[WIRE_CREDENTIAL_LEN];
	char		token[WIRE_CREDENTIAL_LEN];	/* only when enrolling */
	char		url[WIRE_URL_LEN];
	char		node_name[128];
	char		binary_sha256[WIRE_HEX_LEN];
	char		policy_hash[WIRE_HEX_LEN];
	uint32_t	heartbeat_sec;		/* 1..3600 until the server says */
	uint32_t	poll_interval_ms;	/* with poll_timeout_sec 0 */
	uint64_t	high_seq;		/* the journal's high-water mark */
	char		pin_sha256[WIRE_PIN_LEN];	/* "": no pin */
};

struct wire_netd_enrolled {
	char		node_id[WIRE_ID_LEN];
	char		credential[WIRE_CREDENTIAL_LEN];
	uint8_t		task_key[WIRE_ED25519_LEN];
	uint32_t	tasks_signed;		/* 0 or 1 */
	uint32_t	heartbeat_sec;
	uint32_t	poll_timeout_sec;
	uint32_t	retry_max_sec;
};

/* What a heartbeat needs that only the parent knows. */
struct wire_netd_node {
	uint64_t	audit_records;
	char		audit_head[WIRE_HEX_LEN];
	uint32_t	ntasks;
	char		tasks_running[WIRE_TASKS_RUNNING_MAX][WIRE_ID_LEN];
};

struct wire_task_ref {
	char		task_id[WIRE_ID_LEN];
	int64_t		not_after;		/* accept retries stop here */
};

enum wire_task_outcome {
	TASK_ANSWER_ACCEPTED = 0,	/* 200: run it */
	TASK_ANSWER_CLOSED,		/* taken, rejected, cancelled, expired... */
	TASK_ANSWER_MAX
};

struct wire_task_answer {
	char		task_id[WIRE_ID_LEN];
	uint32_t	outcome;		/* enum wire_task_outcome */
	char		reason[128];		/* the error code, for the log */
};

#define WIRE_EVENT_MESSAGE_LEN	4097
struct wire_event {
	char		task_id[WIRE_ID_LEN];
	uint32_t	seq;			/* >= 1 */
	int64_t		time;
	char		state[16];		/* running succeeded failed ... */
	char		stage[16];		/* "" or a PROTOCOL.md 5.7 stage */
	char		message[WIRE_EVENT_MESSAGE_LEN];
	uint32_t	has_exit_code;
	int32_t		exit_code;
};

struct wire_event_ack {
	char		task_id[WIRE_ID_LEN];
	uint32_t	acked_seq;		/* every event 1..acked_seq is done */
};

/*
 * berthctl tasks and task ID: the parent's task journal (parent/journal.h)
 * as berthctl sees it.  Strings are printable lines, the parent having
 * replaced any control character; states are journal_state_name()'s.
 */
#define WIRE_CTL_TASK_MESSAGE_LEN	256
#define WIRE_CTL_TASKS_MAX		4096	/* rows in one listing */
/* The task JSON of IMSG_CTL_TASK_BODY fits one control-socket message. */
#define WIRE_CTL_TASK_BODY_MAX		(64 * 1024 - 64)

struct wire_ctl_tasks_req {
	uint32_t	all;		/* 1: every task, else recent only */
};

struct wire_ctl_task_req {
	char		task_id[WIRE_ID_LEN];
};

struct wire_ctl_task {
	char		task_id[WIRE_ID_LEN];
	char		kind[16];		/* "deploy", ...; "" unknown */
	char		app[64];
	char		state[16];		/* received ... refused */
	char		event_state[16];	/* "" or the last event's */
	char		event_stage[16];
	char		event_message[WIRE_CTL_TASK_MESSAGE_LEN];
	int64_t		seq;
	int64_t		not_after;
	int64_t		received;		/* unix time; 0: not known */
	int64_t		updated;		/* last journal change */
	int64_t		event_time;		/* 0: no event yet */
	uint32_t	event_seq;		/* events made so far */
	uint32_t	spooled;		/* of those, not acknowledged */
};

struct wire_ctl_tasks_end {
	uint32_t	journal;	/* 0: no journal (no control plane) */
	uint32_t	listed;		/* IMSG_CTL_TASK rows sent */
	uint32_t	total;		/* tasks in the journal */
};

/* berthctl policy: the parent's policy and the hash it audits with. */
struct wire_ctl_policy {
	struct policy	policy;
	char		policy_hash[WIRE_HEX_LEN];
};

/* Entry points of the children, called from berthd's main for -P ROLE. */
void	 netd_main(void) __attribute__((__noreturn__));
void	 builder_main(void) __attribute__((__noreturn__));
void	 runner_main(void) __attribute__((__noreturn__));

const char	*role_name(enum berth_role);
int		 role_from_name(const char *, enum berth_role *);
const char	*imsg_type_name(uint32_t);

#endif /* BERTH_H */
