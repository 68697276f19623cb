/*
 * child.h: the start of every child process (netd, builder, runner):
 * receive the configuration from the parent on fd 3, and report
 * readiness and status back.  Each role keeps its own dispatch function.
 */
#ifndef BERTH_CHILD_H
#define BERTH_CHILD_H

#include "berth.h"
#include "imsg.h"
#include "sandbox.h"

/*
 * Check fd 3, read and decode IMSG_PROC_CONF (blocking), set up logging.
 * Fatal on anything unexpected.
 */
void	 child_receive_conf(enum berth_role, struct wire_proc_conf *);
/* Tell the parent how far confinement got (IMSG_PROC_READY). */
void	 child_send_ready(struct imsgev *, enum berth_role,
	    const struct sandbox_report *);
/* Answer IMSG_PROC_STATUS_REQ; peerid is echoed back. */
void	 child_send_status(struct imsgev *, enum berth_role,
	    const struct sandbox_report *, uint32_t peerid);
/*
 * The I/O half of a child's parent-channel handler: EOF or an error
 * ends the process (the parent closing the channel is how it says stop).
 */
void	 child_parent_io(struct imsgev *, short event);

#endif
