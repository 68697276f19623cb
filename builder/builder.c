/*
 * builder.c: the build process.  It will clone repositories and turn
 * them into build contexts, each build in a child confined to its
 * workspace.  It runs as _berthbuild, sees neither /var/lib/berth nor
 * /run, and cannot reach the Docker socket.
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
static struct sandbox_report	 builder_sandbox;

static void	 builder_dispatch_parent(int, short, void *);

void
builder_main(void)
{
	struct wire_proc_conf	 conf;
	struct event_base	*base;

	child_receive_conf(ROLE_BUILDER, &conf);
	/* The event base opens its epoll descriptor before seccomp. */
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	sandbox_confine(ROLE_BUILDER, &conf, &builder_sandbox);

	if (imsgev_init(&iev_parent, base, BERTH_PARENT_FD, BERTH_IMSG_MAX,
	    0, builder_dispatch_parent, &iev_parent) == -1)
		fatal("imsgev_init");
	child_send_ready(&iev_parent, ROLE_BUILDER, &builder_sandbox);
	log_info("ready as uid %u", (unsigned int)getuid());

	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	exit(0);
}

static void
builder_dispatch_parent(int fd, short event, void *arg)
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
			child_send_status(iev, ROLE_BUILDER, &builder_sandbox,
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
