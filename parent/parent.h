/*
 * parent.h: what the parent's files share.  The parent starts the three
 * children, supervises them, serves the control socket and, after start,
 * holds no capabilities and may not exec.
 */
#ifndef BERTH_PARENT_H
#define BERTH_PARENT_H

#include <sys/types.h>
#include <time.h>

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

/* control.c */
void	 control_init(const char *path, gid_t group);
void	 control_listen(struct event_base *);
void	 control_child_status(uint32_t peerid, enum berth_role,
	    const struct wire_proc_ready *);
void	 control_cleanup(void);

#endif
