/*
 * task.h: a task of the native protocol (PROTOCOL.md 5.1, 5.2) and its
 * strict decoder.  netd decodes every task it receives before passing it
 * on, and the parent decodes it again (it trusts netd no more than the
 * network).  Fail closed: an unknown member anywhere, a float, a null, a
 * key outside [a-z0-9_], a control character where none may be, a value
 * out of range, and the task is refused with a sentence naming the field.
 *
 * The decoded task keeps the parsed JSON; its strings point into it and
 * live until task_free().
 */
#ifndef BERTH_TASK_H
#define BERTH_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define TASK_JSON_MAX		(60 * 1024)	/* one imsg on netd's channel */
#define TASK_ID_LEN		65
#define TASK_SIGNATURE_LEN	64
#define TASK_KEY_LEN		32
#define TASK_ENV_MAX		256
#define TASK_PORTS_MAX		64
#define TASK_CMD_MAX		256

enum task_kind {
	TASK_DEPLOY = 0,
	TASK_START,
	TASK_STOP,
	TASK_RESTART,
	TASK_REMOVE,
	TASK_SCALE,
	TASK_RUN,
	TASK_LOGS,
	TASK_KIND_MAX
};

struct task_env {
	const char	*name;
	const char	*value;
	int		 secret;
};

struct task_port {
	uint32_t	 container_port;
	uint32_t	 host_port;
	int		 udp;
	const char	*host_ip;		/* "" when absent */
};

struct task_spec {
	const char	*image;			/* "" when absent */
	const char	*repo_url;		/* NULL: no repo */
	const char	*repo_commit;		/* "" when absent */
	const char	*repo_ref;		/* "" when absent */
	const char	*dockerfile;		/* "" when absent */
	struct task_env	 env[TASK_ENV_MAX];
	size_t		 nenv;
	struct task_port ports[TASK_PORTS_MAX];
	size_t		 nports;
	const char	*cmd[TASK_CMD_MAX];
	size_t		 ncmd;
	int64_t		 memory_bytes;		/* 0: absent */
	int64_t		 cpu_millis;
	int64_t		 pids;
	int64_t		 replicas;		/* deploy default 1 */
	int64_t		 timeout_sec;
	int64_t		 grace_sec;		/* -1: absent */
	const char	*workdir;		/* "" when absent */
	int		 follow;
	int64_t		 since;
	int64_t		 tail;			/* -1: absent */
	int		 has_health;
};

struct task {
	json_t		*json;			/* owned */
	char		 id[TASK_ID_LEN];
	enum task_kind	 kind;
	char		 app[64];
	char		 node_id[TASK_ID_LEN];
	int64_t		 seq;
	int64_t		 created;
	int64_t		 not_after;
	int		 has_signature;
	uint8_t		 signature[TASK_SIGNATURE_LEN];
	struct task_spec spec;
};

/*
 * Decode len bytes of JSON.  0, or -1 with the reason in err; when the
 * id could be read before the failure it is in task->id (for the
 * rejected event), else task->id is "".  task_free() in both cases.
 */
int		 task_decode(const char *json, size_t len, struct task *,
		    char *err, size_t errlen);
/* The same from a value already parsed (borrowed, increfed). */
int		 task_decode_json(json_t *, struct task *, char *err,
		    size_t errlen);
void		 task_free(struct task *);
const char	*task_kind_name(enum task_kind);

/*
 * The bytes a task signature covers (PROTOCOL.md 5.3): "berth-task-v1",
 * LF, the canonical form of the task without its signature.  malloc'd,
 * NULL on failure; *len set.
 */
char		*task_signed_message(const struct task *, size_t *len);
/* 1 if the task's signature verifies with key, else 0. */
int		 task_signature_valid(const struct task *,
		    const uint8_t key[TASK_KEY_LEN]);
/* The task as compact JSON (what netd sends the parent); malloc'd. */
char		*task_encode(const struct task *);

#endif
