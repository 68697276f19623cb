/*
 * runop.h: one operation on the container engine, as the parent asks the
 * runner for it (IMSG_RUN_REQUEST) and as berthctl asks the parent
 * (IMSG_CTL_RUN).  The payload is a JSON object; runop_decode() is its
 * only reader: it checks the size, refuses unknown keys (fail closed, as
 * Docker itself would silently ignore them), and checks every field's
 * type, length and character set before filling struct run_request.
 * Both the parent and the runner decode: neither trusts its peer.
 *
 * Policy (what is allowed) is not checked here but in runner/policy.c;
 * this file only makes sure a request is well formed.
 */
#ifndef BERTH_RUNOP_H
#define BERTH_RUNOP_H

#include <stddef.h>
#include <stdint.h>

#define RUNOP_JSON_MAX		(60 * 1024)	/* payload cap */
/* A result must fit one imsg on the runner channel (BERTH_IMSG_RUN_MAX). */
#define RUNRESULT_JSON_MAX	(60 * 1024)
#define RUNOP_TASK_LEN		64	/* [A-Za-z0-9_.:-], may be empty */
#define RUNOP_APP_LEN		64	/* [a-z0-9][a-z0-9_.-]* */
#define RUNOP_IMAGE_LEN		256
#define RUNOP_ARG_LEN		4096
#define RUNOP_ARGS_MAX		64
#define RUNOP_ENV_MAX		128	/* "KEY=value", KEY [A-Za-z_][A-Za-z0-9_]* */
#define RUNOP_ENV_LEN		8192
#define RUNOP_LABELS_MAX	32	/* keys must not start with "berth." */
#define RUNOP_LABEL_LEN		512
#define RUNOP_PORTS_MAX		16
#define RUNOP_VOLUMES_MAX	16
#define RUNOP_PATH_LEN		256
#define RUNOP_CAPS_MAX		16
#define RUNOP_CAP_LEN		32
#define RUNOP_URL_LEN		512	/* BUILD_URL_LEN */
#define RUNOP_COMMIT_LEN	41	/* 40 lower-case hex digits */
#define RUNOP_REF_LEN		256

enum run_op {
	RUNOP_NONE = 0,
	RUNOP_DEPLOY,		/* create under policy + start (replaces app) */
	RUNOP_START,
	RUNOP_STOP,
	RUNOP_RESTART,
	RUNOP_REMOVE,
	RUNOP_INSPECT,
	RUNOP_LIST,		/* apps owned by this node */
	RUNOP_LOGS,
	RUNOP_STATS,
	RUNOP_WAIT,
	RUNOP_RENAME,
	RUNOP_IMAGE_REMOVE,
	RUNOP_IMAGE_PRUNE,
	RUNOP_IMAGE_BUILD,	/* the build context arrives as the imsg's fd */
	RUNOP_EVENTS,		/* engine events of owned objects, streamed */
	RUNOP_MAX
};

enum run_restart {
	RESTART_NO = 0,
	RESTART_ON_FAILURE,
	RESTART_UNLESS_STOPPED,
	RESTART_ALWAYS
};

struct run_port {
	uint16_t	 container_port;
	uint16_t	 host_port;		/* 0: engine picks */
	int		 udp;			/* 0 tcp, 1 udp */
	char		 host_ip[46];		/* "" = policy default */
};

struct run_volume {
	char		 source[RUNOP_PATH_LEN];	/* volume name or absolute host path */
	char		 target[RUNOP_PATH_LEN];	/* absolute path in the container */
	int		 bind;				/* 1: host bind mount */
	int		 read_only;
};

struct run_health {
	char		*cmd[RUNOP_ARGS_MAX];		/* CMD form; ncmd 0 = none */
	size_t		 ncmd;
	uint32_t	 interval_sec;
	uint32_t	 timeout_sec;
	uint32_t	 retries;
};

/* What a deploy creates; every field optional except image. */
struct run_spec {
	char		 image[RUNOP_IMAGE_LEN];
	char		*cmd[RUNOP_ARGS_MAX];
	size_t		 ncmd;
	char		*env[RUNOP_ENV_MAX];		/* "KEY=value" */
	size_t		 nenv;
	char		*label_keys[RUNOP_LABELS_MAX];
	char		*label_values[RUNOP_LABELS_MAX];
	size_t		 nlabels;
	struct run_port	 ports[RUNOP_PORTS_MAX];
	size_t		 nports;
	struct run_volume volumes[RUNOP_VOLUMES_MAX];
	size_t		 nvolumes;
	char		 cap_add[RUNOP_CAPS_MAX][RUNOP_CAP_LEN];
	size_t		 ncap_add;
	uint64_t	 memory_bytes;			/* 0: policy default */
	uint64_t	 nano_cpus;			/* 0: policy default */
	int64_t		 pids_limit;			/* 0: policy default */
	enum run_restart restart;
	uint32_t	 restart_max_retries;
	struct run_health health;
	char		 user[64];			/* "" = image default */
	char		 workdir[RUNOP_PATH_LEN];
	int		 read_only_root;
	/* Fields a request may ask for and policy always refuses. */
	int		 privileged;
	char		 network_mode[32];		/* "" or "bridge" or "none" */
	char		 pid_mode[32];
	char		 ipc_mode[32];
	char		 devices[4][RUNOP_PATH_LEN];
	size_t		 ndevices;
	int		 given;		/* decoder: the object was there */
};

/*
 * Where a deploy's image comes from when it is built here (the parent
 * runs the build and replaces this with spec.image before the runner
 * sees the deploy), and, for image-build, the commit the tag names.
 */
struct run_repo {
	char		 url[RUNOP_URL_LEN];		/* DEPLOY only */
	char		 commit[RUNOP_COMMIT_LEN];	/* "" or 40 hex */
	char		 ref[RUNOP_REF_LEN];		/* DEPLOY only */
	char		 dockerfile[RUNOP_PATH_LEN];	/* DEPLOY only */
};

struct run_request {
	enum run_op	 op;
	char		 task[RUNOP_TASK_LEN];
	char		 app[RUNOP_APP_LEN];
	struct run_spec	 spec;				/* RUNOP_DEPLOY */
	uint32_t	 stop_timeout_sec;		/* STOP, RESTART, DEPLOY */
	int		 follow;			/* LOGS, EVENTS */
	uint32_t	 tail;				/* LOGS: 0 all */
	int64_t		 since;				/* LOGS, EVENTS: unix time,
							   0 all */
	char		 new_name[RUNOP_APP_LEN];	/* RENAME */
	char		 image_ref[RUNOP_IMAGE_LEN];	/* IMAGE_REMOVE */
	struct run_repo	 repo;			/* DEPLOY, IMAGE_BUILD */
};

/*
 * JSON shape (all keys optional except "op"; unknown keys refused):
 * {"op":"deploy","task":"t1","app":"web","stop_timeout":10,
 *  "follow":false,"tail":100,"since":0,"new_name":"","image_ref":"",
 *  "spec":{"image":"berth-base:latest","cmd":["httpd","-f"],
 *          "env":["A=1"],"labels":{"k":"v"},
 *          "ports":[{"container":80,"host":8080,"proto":"tcp","host_ip":"127.0.0.1"}],
 *          "volumes":[{"source":"data","target":"/data","bind":false,"read_only":false}],
 *          "cap_add":["NET_BIND_SERVICE"],"memory":134217728,"nano_cpus":500000000,
 *          "pids_limit":128,"restart":"on-failure","restart_max_retries":3,
 *          "health":{"cmd":["wget","-q","-O-","http://127.0.0.1/"],"interval":5,"timeout":3,"retries":3},
 *          "user":"65534","workdir":"/","read_only_root":false,
 *          "privileged":false,"network_mode":"","pid_mode":"","ipc_mode":"","devices":[]},
 *  "repo":{"url":"git://127.0.0.1/app.git","commit":"<40 hex>","ref":"main",
 *          "dockerfile":"Dockerfile"}}
 * op names: deploy start stop restart remove inspect list logs stats wait
 * rename image-remove image-prune image-build events.
 *
 * A deploy carries either spec.image or repo.url (built first by the
 * parent, never forwarded as such to the runner) and with repo.url one
 * of repo.commit and repo.ref.  image-build carries task and app, and
 * optionally repo.commit, which names the tag; its build context is the
 * descriptor passed with the message, allowed for this op only.
 * events takes follow and since and no app: it covers the whole node.
 */

/*
 * Decode len bytes of JSON into req (zeroed first).  0 on success; -1
 * with a sentence naming the field at fault in err.  The caller frees
 * with runop_free() in both cases.
 */
int	 runop_decode(const char *json, size_t len, struct run_request *req,
	    char *err, size_t errlen);
/* Canonical JSON for req (malloc'd, NUL-terminated), NULL on failure. */
char	*runop_encode(const struct run_request *req);
void	 runop_free(struct run_request *);
const char *runop_name(enum run_op);

/*
 * Check a runner result (IMSG_RUN_RESULT, shapes in runner/ops.h): a
 * JSON object of at most RUNRESULT_JSON_MAX bytes, "ok" a boolean,
 * "error" a string present exactly when ok is false, and no top-level
 * key other than those of the result shapes, each with its type.  0, or
 * -1 with the reason in err.
 */
int	 runresult_check(const char *json, size_t len, char *err,
	    size_t errlen);

#endif
