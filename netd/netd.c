/*
 * netd.c: the network process.  It will speak to the control plane over
 * HTTPS/WSS and serve the local HTTP endpoints.  It runs as _berth in an
 * empty root with no file system access, may open only inet sockets, and
 * never holds the Docker socket or any state on disk.
 */
#include <sys/types.h>

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "child.h"
#include "imsg.h"
#include "log.h"
#include "sandbox.h"
#include "wire.h"

static struct imsgev		 iev_parent;
static struct sandbox_report	 netd_sandbox;

static void	 netd_dispatch_parent(int, short, void *);

void
netd_main(void)
{
	struct wire_proc_conf	 conf;
	struct event_base	*base;

	child_receive_conf(ROLE_NETD, &conf);
	/* The event base opens its epoll descriptor before seccomp. */
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	sandbox_confine(ROLE_NETD, &conf, &netd_sandbox);

	if (imsgev_init(&iev_parent, base, BERTH_PARENT_FD, BERTH_IMSG_MAX,
	    0, netd_dispatch_parent, &iev_parent) == -1)
		fatal("imsgev_init");
	child_send_ready(&iev_parent, ROLE_NETD, &netd_sandbox);
	log_info("ready as uid %u", (unsigned int)getuid());

	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	exit(0);
}

static void
netd_dispatch_parent(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;
	struct imsg	 imsg;
	const char	*why;
	int		 got;

	(void)fd;
	child_parent_io(iev, event);
	for (;;) {
		if ((got = imsg_get(&iev->ibuf, &imsg)) == -1)
			fatal("%s: malformed message from parent", __func__);
		if (got == 0)
			break;
		switch (imsg.hdr.type) {
		case IMSG_PROC_STATUS_REQ:
			if ((why = wire_decode_empty(&imsg)) != NULL)
				fatalx("%s: parent sent bad %s", __func__, why);
			child_send_status(iev, ROLE_NETD, &netd_sandbox,
			    imsg.hdr.peerid);
			break;
		default:
			fatalx("%s: parent sent unknown message type %u",
			    __func__, imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	imsgev_add(iev);
}
