/*
 * runner.c: the only Docker client.  It builds every Docker request
 * itself from typed, policy-checked fields (ops.c) and never forwards a
 * request.  It runs as _berthrun plus the socket's group, in an empty
 * network namespace and a mount namespace whose root holds nothing but
 * the Docker socket; it opens no files, may create only AF_UNIX sockets
 * and pipes, and never forks or execs.
 *
 * From the parent: IMSG_POLICY (once, before any request is carried
 * out), IMSG_RUN_REQUEST (runop JSON; image-build's carries the read
 * end of the build-context tar the builder writes), IMSG_PROC_STATUS_REQ.
 * To the parent: IMSG_RUN_RESULT (one per request, with a pipe for logs)
 * and IMSG_AUDIT.
 */
#include <sys/types.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "child.h"
#include "docker.h"
#include "imsg.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "runop.h"
#include "sandbox.h"
#include "wire.h"

#define PING_RETRY_MIN	1	/* seconds */
#define PING_RETRY_MAX	60

static struct imsgev		 iev_parent;
static struct sandbox_report	 runner_sandbox;
static struct docker		*docker;
static struct runner_ops	*ops;
static struct event		*ping_timer;
static int			 ping_backoff = PING_RETRY_MIN;

static void	 runner_dispatch_parent(int, short, void *);
static void	 runner_ping(evutil_socket_t, short, void *);

void
runner_main(void)
{
	struct wire_proc_conf	 conf;
	struct event_base	*base;

	child_receive_conf(ROLE_RUNNER, &conf);
	/*
	 * Everything that opens a file or a descriptor happens before the
	 * sandbox: the event base (epoll), libcurl's global state (it may
	 * read its configuration).  docker_new() opens nothing; the socket
	 * path is bound at the same place inside the empty root.
	 */
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
		fatalx("curl_global_init");
	if ((docker = docker_new(base, conf.docker_socket)) == NULL)
		fatalx("docker_new");
	if ((ping_timer = evtimer_new(base, runner_ping, NULL)) == NULL)
		fatalx("evtimer_new");
	sandbox_confine(ROLE_RUNNER, &conf, &runner_sandbox);

	if (imsgev_init(&iev_parent, base, BERTH_PARENT_FD, BERTH_IMSG_RUN_MAX,
	    1, runner_dispatch_parent, &iev_parent) == -1)
		fatal("imsgev_init");
	/* An older parent sends no node label: own objects as "berth". */
	if (conf.node_label[0] == '\0') {
		log_warnx("no node label configured; using \"berth\"");
		(void)strlcpy(conf.node_label, "berth",
		    sizeof(conf.node_label));
	}
	if ((ops = ops_new(base, docker, &iev_parent, conf.node_label)) ==
	    NULL)
		fatalx("ops_new");
	child_send_ready(&iev_parent, ROLE_RUNNER, &runner_sandbox);
	log_info("ready as uid %u", (unsigned int)getuid());
	runner_ping(-1, 0, NULL);

	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	exit(0);
}

/*
 * The engine may start after us or be away for a while: keep asking,
 * with a capped backoff, and answer requests with an error meanwhile.
 */
static void
runner_pinged(const struct docker_engine_version *v, const char *error,
    void *arg)
{
	struct timeval	 tv;

	(void)arg;
	if (v != NULL) {
		log_info("docker engine %s, API %s (min %s)", v->version,
		    v->api_version, v->min_api_version);
		ops_set_engine_version(ops, v->version);
		ops_set_engine(ops, 1);
		ping_backoff = PING_RETRY_MIN;
		return;
	}
	ops_set_engine(ops, 0);
	log_warnx("docker engine not reachable: %s; again in %d s", error,
	    ping_backoff);
	tv.tv_sec = ping_backoff;
	tv.tv_usec = 0;
	if (evtimer_add(ping_timer, &tv) == -1)
		fatalx("%s: evtimer_add", __func__);
	ping_backoff = ping_backoff * 2 > PING_RETRY_MAX ? PING_RETRY_MAX :
	    ping_backoff * 2;
}

static void
runner_ping(evutil_socket_t fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
	if (docker_ping_version(docker, runner_pinged, NULL) == -1)
		runner_pinged(NULL, "cannot start the request", NULL);
}

static void
runner_policy(const struct imsg *imsg)
{
	struct policy	 policy;
	const char	*why;

	if (imsg->hdr.len != sizeof(policy) || imsg->fd != -1)
		fatalx("%s: POLICY of %u bytes%s, expected %zu", __func__,
		    imsg->hdr.len, imsg->fd != -1 ? " with a descriptor" : "",
		    sizeof(policy));
	memcpy(&policy, imsg->data, sizeof(policy));
	if ((why = policy_validate(&policy)) != NULL)
		fatalx("%s: parent sent a bad policy: %s", __func__, why);
	ops_set_policy(ops, &policy);
	log_debug("policy received");
}

static void
runner_dispatch_parent(int fd, short event, void *arg)
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
			child_send_status(iev, ROLE_RUNNER, &runner_sandbox,
			    imsg.hdr.peerid);
			break;
		case IMSG_POLICY:
			runner_policy(&imsg);
			break;
		case IMSG_RUN_REQUEST:
			/*
			 * A descriptor may come along: ops takes it only
			 * with image-build (the build context) and refuses
			 * any other op that carries one.
			 */
			if ((why = wire_decode_json(&imsg, RUNOP_JSON_MAX,
			    1)) != NULL)
				fatalx("%s: parent sent bad %s", __func__, why);
			/* The JSON itself is judged, and answered, by ops. */
			ops_request_fd(ops, imsg.hdr.peerid, imsg.data,
			    imsg.hdr.len, imsg.fd);
			imsg.fd = -1;	/* ops owns it now */
			break;
		default:
			fatalx("%s: parent sent unknown message type %u",
			    __func__, imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	imsgev_add(iev);
}
