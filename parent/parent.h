/*
 * parent.h: what the parent's files share.  The parent starts the three
 * children, supervises them, serves the control socket and, after start,
 * holds no capabilities and may not exec.
 */
#ifndef BERTH_PARENT_H
#define BERTH_PARENT_H

#include <sys/types.h>
#include <time.h>

#include "audit.h"
#include "berth.h"
#include "config.h"
#include "imsg.h"
#include "sandbox.h"

struct child {
	enum berth_role		 role;
	pid_t			 pid;		/* 0 once reaped */
	int			 channel_open;
	struct imsgev		 iev;
	int			 ready;
	struct wire_proc_ready	 report;
	struct timespec		 started;
	char			 user[BERTH_USER_LEN];
};

extern struct child		 children[ROLE_MAX];	/* [ROLE_PARENT] unused */
extern struct sandbox_report	 parent_sandbox;
extern struct timespec		 parent_started;
extern struct audit_log		 parent_audit;
extern char			 parent_node_label[64];
extern char			 parent_policy_hash[65];

/* berthd.c */
void	 parent_shutdown(int exit_status);
int	 parent_shutting_down(void);

/* proc.c */
void	 proc_start_all(struct event_base *, const struct berth_conf *,
	    const char *self_path);
void	 proc_reap(void);
void	 proc_close_channels(void);
int	 proc_all_reaped(void);
/* Ask every live child for its status; the number asked. */
int	 proc_request_status(uint32_t peerid);
int	 proc_send_run_request(uint32_t request_id, const char *json,
	    size_t len);
/* The same with a descriptor (the build context), which it then owns. */
int	 proc_send_run_request_fd(uint32_t request_id, const char *json,
	    size_t len, int fd);
/* A build request (or cancel) to the builder, peerid request_id. */
int	 proc_send_build_request(uint32_t request_id, const char *json,
	    size_t len);
/* uid, gid, Seccomp, NoNewPrivs and CapEff of pid, from /proc. */
void	 proc_read_status(pid_t, struct wire_ctl_proc *);
/* Send to one child; -1 if its channel is closed or the queue is full. */
int	 proc_compose(enum berth_role, uint32_t type, int fd,
	    const void *data, size_t len);

/* netd_feed.c */
void	 netd_feed_init(struct event_base *, const struct berth_conf *);
void	 netd_feed_ready(void);
/* Run requests of the feed's inventory carry this bit in their peerid. */
#define FEED_REQUEST_BIT	0x20000000u
/* The runner's list of this node's containers (peerid has the bit). */
void	 netd_feed_run_result(struct imsg *);

/* tasks.c: the native control-plane protocol. */
/* Run requests of tasks carry this bit in their peerid; berthctl's do not. */
#define TASKS_REQUEST_BIT	0x80000000u
void	 tasks_init(struct event_base *, const struct berth_conf *,
	    const char *self_path);
void	 tasks_netd_ready(void);
void	 tasks_node_tick(int, short, void *);
/* A protocol message from netd; -1 if it is not one or is malformed. */
int	 tasks_netd_message(struct imsg *);
void	 tasks_run_result(struct imsg *);
uint32_t tasks_running_count(void);

/* deploy.c: deploys from git (clone, build, deploy). */
/* Requests of deploys carry this bit in their peerid, to both children. */
#define DEPLOY_REQUEST_BIT	0x40000000u
struct deploy_owner {
	/* A stage line ("clone", "ok <commit>"), then exactly one done. */
	void	(*progress)(void *arg, const char *stage, const char *text);
	void	(*done)(void *arg, const char *result_json);
	void	*arg;
};
void	 deploy_init(struct event_base *, const struct berth_conf *);
/* A runop deploy with repo.url; -1 with err if refused at once. */
int	 deploy_start(const char *json, size_t len,
	    const struct deploy_owner *, char *err, size_t errlen);
void	 deploy_builder_message(struct imsg *);
void	 deploy_run_result(struct imsg *);

/* control.c */
void	 control_init(const struct berth_conf *, gid_t group);
void	 control_listen(struct event_base *);
void	 control_child_status(uint32_t peerid, enum berth_role,
	    const struct wire_proc_ready *);
void	 control_cleanup(void);
/* A RUN_RESULT from the runner; takes the imsg's descriptor. */
void	 control_run_result(struct imsg *);

#endif
