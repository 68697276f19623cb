/*
 * builder.c: the build process.  It turns repositories into build
 * contexts, each build in a child of its own confined to its workspace
 * (build.c, build_child.c).  It runs as _berthbuild, sees the system's
 * programs read-only and the workspace root read-write, neither
 * /var/lib/berth nor /run, and cannot reach the Docker socket; it may
 * fork and exec (git, rm) and open TCP connections (git remotes).
 *
 * From the parent: IMSG_BUILD_REQUEST (buildreq.h: a build or a cancel),
 * IMSG_PROC_STATUS_REQ.  To the parent: IMSG_BUILD_LOG, IMSG_BUILD_CONTEXT
 * (with the read end of the tar stream), IMSG_BUILD_DONE, each with the
 * request's peerid.  The parent channel passes descriptors and carries
 * messages up to BERTH_IMSG_RUN_MAX.
 */
#include <sys/types.h>

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "builder.h"
#include "buildreq.h"
#include "child.h"
#include "imsg.h"
#include "log.h"
#include "sandbox.h"
#include "wire.h"

static struct imsgev		 iev_parent;
static struct sandbox_report	 builder_sandbox;
static struct builds		*builds;

static void	 builder_dispatch_parent(int, short, void *);
static void	 builder_send(void *, uint32_t, uint32_t, int, const char *);

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

	if (imsgev_init(&iev_parent, base, BERTH_PARENT_FD, BERTH_IMSG_RUN_MAX,
	    1, builder_dispatch_parent, &iev_parent) == -1)
		fatal("imsgev_init");
	if ((builds = builds_new(base, conf.workspace_root, builder_send,
	    &iev_parent)) == NULL)
		fatalx("cannot set up builds in %s", conf.workspace_root);
	child_send_ready(&iev_parent, ROLE_BUILDER, &builder_sandbox);
	log_info("ready as uid %u", (unsigned int)getuid());

	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	exit(0);
}

/*
 * What build.c has to say.  Log lines may be dropped when the parent is
 * slow to read (the queue is full); a context or a result may not.
 */
static void
builder_send(void *arg, uint32_t type, uint32_t peerid, int fd,
    const char *json)
{
	struct imsgev	*iev = arg;

	if (imsgev_compose(iev, type, peerid, getpid(), fd, json,
	    strlen(json)) == 0)
		return;
	if (fd != -1)
		close(fd);
	if (type == IMSG_BUILD_LOG && errno == ENOBUFS) {
		log_warnx("parent is slow: build log line dropped");
		return;
	}
	fatal("%s: compose %s", __func__, imsg_type_name(type));
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
		case IMSG_BUILD_REQUEST:
			if ((why = wire_decode_json(&imsg, BUILDREQ_JSON_MAX,
			    0)) != NULL)
				fatalx("%s: parent sent bad %s", __func__, why);
			/* build.c judges the JSON itself, and answers. */
			builds_request(builds, imsg.hdr.peerid, imsg.data,
			    imsg.hdr.len);
			break;
		default:
			fatalx("%s: parent sent unknown message type %u",
			    __func__, imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	imsgev_add(iev);
}

void
builder_errset(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
