/*
 * child.c: start-up shared by the three children.  A child is started by
 * the parent as `berthd -P ROLE` with its end of a socketpair on fd 3 and
 * an empty environment; everything it needs arrives as IMSG_PROC_CONF
 * before it confines itself.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "berth.h"
#include "child.h"
#include "log.h"
#include "wire.h"

static void
child_check_parent_fd(void)
{
	struct stat	 sb;

	if (fstat(BERTH_PARENT_FD, &sb) == -1)
		fatal("parent channel fd %d", BERTH_PARENT_FD);
	if (!S_ISSOCK(sb.st_mode))
		fatalx("fd %d is not a socket: berthd -P is started by the "
		    "parent only", BERTH_PARENT_FD);
}

/* Wait for one whole message on a fresh imsgbuf; fatal on EOF or error. */
static void
child_read_one(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = BERTH_PARENT_FD, .events = POLLIN };
	ssize_t		 n;
	int		 got;

	for (;;) {
		if ((got = imsg_get(ibuf, imsg)) == -1)
			fatal("%s: bad message from parent", __func__);
		if (got == 1)
			return;
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: poll", __func__);
		}
		if ((n = imsgbuf_read(ibuf)) == 0)
			fatalx("%s: parent closed the channel", __func__);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			fatal("%s: read", __func__);
	}
}

void
child_receive_conf(enum berth_role role, struct wire_proc_conf *conf)
{
	struct imsgbuf	 ibuf;
	struct imsg	 imsg;
	const char	*why;

	log_init(1, LOG_LEVEL_INFO, 0);
	log_procinit(role_name(role));
	/*
	 * Terminal signals go to the whole process group; only the parent
	 * decides when the agent stops, and tells children by closing fd 3.
	 */
	(void)signal(SIGINT, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);
	(void)signal(SIGPIPE, SIG_IGN);
	child_check_parent_fd();

	if (imsgbuf_init(&ibuf, BERTH_PARENT_FD, BERTH_IMSG_MAX,
	    BERTH_IMSG_QUEUE_MAX, 0) == -1)
		fatal("%s: imsgbuf_init", __func__);
	child_read_one(&ibuf, &imsg);
	if (imsg.hdr.type != IMSG_PROC_CONF)
		fatalx("%s: expected PROC_CONF from parent, got type %u (%s)",
		    __func__, imsg.hdr.type, imsg_type_name(imsg.hdr.type));
	if ((why = wire_decode_proc_conf(&imsg, conf)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	if (conf->role != role)
		fatalx("%s: configuration for %s sent to %s", __func__,
		    role_name(conf->role), role_name(role));
	imsg_free(&imsg);
	/* Nothing may follow PROC_CONF before we answer READY. */
	if (ibuf.rlen != 0)
		fatalx("%s: parent sent more than PROC_CONF", __func__);
	imsgbuf_clear(&ibuf);

	log_init(conf->foreground, conf->verbose, LOG_DAEMON);
	log_procinit(role_name(role));
	/* jansson opens /dev/urandom on first use: do it before confinement. */
	json_object_seed(0);
}

static void
child_compose_report(struct imsgev *iev, uint32_t type, enum berth_role role,
    const struct sandbox_report *report, uint32_t peerid)
{
	struct wire_proc_ready	 ready;

	memset(&ready, 0, sizeof(ready));
	ready.role = role;
	ready.landlock_abi = report->landlock_abi;
	ready.landlock_full = report->landlock_full ? 1 : 0;
	ready.seccomp = report->seccomp ? 1 : 0;
	ready.netns = report->netns ? 1 : 0;
	ready.mntns = report->mntns ? 1 : 0;
	if (imsgev_compose(iev, type, peerid, getpid(), -1, &ready,
	    sizeof(ready)) == -1)
		fatal("%s: compose %s", __func__, imsg_type_name(type));
}

void
child_send_ready(struct imsgev *iev, enum berth_role role,
    const struct sandbox_report *report)
{
	child_compose_report(iev, IMSG_PROC_READY, role, report, 0);
}

void
child_send_status(struct imsgev *iev, enum berth_role role,
    const struct sandbox_report *report, uint32_t peerid)
{
	child_compose_report(iev, IMSG_PROC_STATUS, role, report, peerid);
}

void
child_parent_io(struct imsgev *iev, short event)
{
	switch (imsgev_io(iev, event)) {
	case 0:
		log_debug("parent closed the channel, exiting");
		exit(0);
	case -1:
		fatalx("lost the parent channel");
	default:
		break;
	}
}
