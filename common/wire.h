/*
 * wire.h: one decoder per imsg type.  Each checks the exact payload size,
 * that every string field is NUL-terminated inside its array, and that
 * every enum is in range, before a field is used.  A decoder returns NULL
 * on success or a sentence saying what was wrong, for the log line that
 * precedes the connection being dropped.
 */
#ifndef BERTH_WIRE_H
#define BERTH_WIRE_H

#include "berth.h"
#include "imsg.h"

const char	*wire_decode_empty(const struct imsg *);
const char	*wire_decode_proc_conf(const struct imsg *,
		    struct wire_proc_conf *);
const char	*wire_decode_proc_ready(const struct imsg *,
		    struct wire_proc_ready *);
const char	*wire_decode_ctl_proc(const struct imsg *,
		    struct wire_ctl_proc *);
const char	*wire_decode_ctl_error(const struct imsg *,
		    struct wire_ctl_error *);
/* IMSG_CTL_PROGRESS: both strings terminated, printable, tails zero. */
const char	*wire_decode_ctl_progress(const struct imsg *,
		    struct wire_ctl_progress *);

const char	*wire_decode_audit(const struct imsg *, struct wire_audit *);
/*
 * A JSON payload (runop request or result): size within cap, no
 * descriptor unless allow_fd, text without NUL.  The JSON itself is then
 * checked field by field by its own decoder (runop.c, runresult.c).
 */
const char	*wire_decode_json(const struct imsg *, size_t cap,
		    int allow_fd);

/*
 * IMSG_NETD_RESOLVER: counts in range, every address numeric, names
 * made of host-name characters, unused entries all zero.
 */
const char	*wire_decode_resolver(const struct imsg *,
		    struct wire_resolver *);

/* The native protocol's messages (berth.h). */
const char	*wire_decode_netd_identity(const struct imsg *,
		    struct wire_netd_identity *);
const char	*wire_decode_netd_enrolled(const struct imsg *,
		    struct wire_netd_enrolled *);
const char	*wire_decode_netd_node(const struct imsg *,
		    struct wire_netd_node *);
const char	*wire_decode_task_ref(const struct imsg *,
		    struct wire_task_ref *);
const char	*wire_decode_task_answer(const struct imsg *,
		    struct wire_task_answer *);
const char	*wire_decode_event(const struct imsg *, struct wire_event *);
const char	*wire_decode_event_ack(const struct imsg *,
		    struct wire_event_ack *);
/*
 * berthctl tasks, task ID and policy.  Strings that berthctl prints are
 * single printable lines; a task's state is a journal state, its event's
 * state and stage are words of a-z.  The task body is a JSON object with
 * a valid "id" and no value of an env entry marked secret; on success
 * *task is the parsed object, for the caller to json_decref().  The
 * policy passes policy_validate() and carries a non-empty SHA-256.
 */
struct json_t;
const char	*wire_decode_ctl_tasks_req(const struct imsg *,
		    struct wire_ctl_tasks_req *);
const char	*wire_decode_ctl_task_req(const struct imsg *,
		    struct wire_ctl_task_req *);
const char	*wire_decode_ctl_task(const struct imsg *,
		    struct wire_ctl_task *);
const char	*wire_decode_ctl_tasks_end(const struct imsg *,
		    struct wire_ctl_tasks_end *);
const char	*wire_decode_ctl_task_body(const struct imsg *,
		    struct json_t **task);
const char	*wire_decode_ctl_policy(const struct imsg *,
		    struct wire_ctl_policy *);

/* A protocol id: 1-64 of A-Z a-z 0-9 _ -. */
int		 wire_id_valid(const char *);

/* Copy src into a fixed wire field; -1 if it does not fit. */
int		 wire_strset(char *dst, size_t dstsize, const char *src);

#endif
