/*
 * build.c: the builds the builder process runs, at most BUILDS_MAX at a
 * time.  Each gets a workspace directory of its own under the workspace
 * root and a child (build_child.c) that does the work confined to it;
 * this file only starts it, keeps its clock (timeout, cancel: the
 * child's whole process group is killed), passes on what it says after
 * checking every message, hands the read end of its tar pipe to the
 * parent with IMSG_BUILD_CONTEXT, answers IMSG_BUILD_DONE once the child
 * is gone, and removes the workspace.
 *
 * Runs in the builder process (confined as ROLE_BUILDER): it forks, and
 * execs rm to remove workspaces, and nothing else.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "builder.h"
#include "buildreq.h"
#include "imsg.h"
#include "log.h"

#define CLEANERS_MAX		16
#define CLOSE_FDS_MAX		65536
#define RM_PATH			"/bin/rm"

struct build {
	TAILQ_ENTRY(build)	 entry;
	struct builds		*builds;
	uint32_t		 peerid;
	char			 task[BUILD_TASK_LEN];
	char			 workspace[64];	/* name under the root */
	uint32_t		 timeout_sec;
	pid_t			 pid;
	int			 exited;
	int			 status;
	struct imsgev		 chan;
	int			 chan_open;
	int			 tar_read;	/* until given to the parent */
	struct event		*timer;
	enum build_stage	 stage;		/* as far as the child got */
	size_t			 nlogs;
	int			 context_sent;
	int			 got_done;
	struct build_done	 child_done;
	char			 fail[BUILD_ERROR_LEN];	/* ours: it wins */
};

TAILQ_HEAD(build_list, build);

struct builds {
	struct event_base	*base;
	char			 root[PATH_MAX];
	build_send_fn		 send;
	void			*arg;
	struct event		*sigchld;
	struct build_list	 list;
	size_t			 n;
	unsigned int		 seq;
	pid_t			 cleaners[CLEANERS_MAX];
};

static void	 send_done(struct builds *, uint32_t, const char *,
		    const char *, ...)
		    __attribute__((__format__(printf, 4, 5)));
static void	 build_kill(struct build *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));

/* --- telling the parent --------------------------------------------------- */

static void
send_json(struct builds *bs, uint32_t type, uint32_t peerid, int fd,
    char *json)
{
	if (json == NULL) {
		log_warnx("%s: cannot encode a build message", __func__);
		if (fd != -1)
			close(fd);
		return;
	}
	bs->send(bs->arg, type, peerid, fd, json);
	free(json);
}

/* A failed build or a refusal; error starts with the stage. */
static void
send_done(struct builds *bs, uint32_t peerid, const char *task,
    const char *fmt, ...)
{
	struct build_done	 done;
	va_list			 ap;

	memset(&done, 0, sizeof(done));
	(void)strlcpy(done.task, task, sizeof(done.task));
	va_start(ap, fmt);
	(void)vsnprintf(done.error, sizeof(done.error), fmt, ap);
	va_end(ap);
	log_info("build %s: %s", task[0] != '\0' ? task : "?", done.error);
	send_json(bs, IMSG_BUILD_DONE, peerid, -1, build_done_encode(&done));
}

static void
send_log(struct builds *bs, uint32_t peerid, const char *task,
    enum build_stage stage, const char *text)
{
	struct build_log	 log;

	memset(&log, 0, sizeof(log));
	(void)strlcpy(log.task, task, sizeof(log.task));
	log.stage = stage;
	(void)strlcpy(log.text, text, sizeof(log.text));
	send_json(bs, IMSG_BUILD_LOG, peerid, -1, build_log_encode(&log));
}

/* --- workspaces ----------------------------------------------------------- */

/*
 * rm -rf in a process of its own: a checkout may be deep and large, and
 * the builder's loop must not wait for it.
 */
static pid_t
workspace_discard_start(const char *root, const char *name)
{
	char	 path[PATH_MAX];
	char	*argv[] = { "rm", "-rf", "--one-file-system", "--", path,
		    NULL };
	char	*envp[] = { NULL };
	pid_t	 pid;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, name) >=
	    sizeof(path))
		return -1;
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		return -1;
	}
	if (pid == 0) {
		(void)signal(SIGCHLD, SIG_DFL);
		execve(RM_PATH, argv, envp);
		_exit(127);
	}
	return pid;
}

static void
workspace_discard(struct builds *bs, const char *name)
{
	pid_t	 pid;
	size_t	 i;

	if ((pid = workspace_discard_start(bs->root, name)) == -1)
		return;
	for (i = 0; i < CLEANERS_MAX; i++)
		if (bs->cleaners[i] == 0) {
			bs->cleaners[i] = pid;
			return;
		}
	/* Too many at once: wait for this one. */
	(void)waitpid(pid, NULL, 0);
}

/* Workspaces a builder that is gone left behind. */
static void
workspace_discard_stale(struct builds *bs)
{
	struct dirent	*de;
	DIR		*dir;

	if ((dir = opendir(bs->root)) == NULL) {
		log_warn("workspace root %s", bs->root);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, WORKSPACE_PREFIX,
		    strlen(WORKSPACE_PREFIX)) == 0) {
			log_info("removing the stale workspace %s",
			    de->d_name);
			workspace_discard(bs, de->d_name);
		}
	closedir(dir);
}

/* --- the end of a build --------------------------------------------------- */

static struct build *
build_find(struct builds *bs, const char *task)
{
	struct build	*b;

	TAILQ_FOREACH(b, &bs->list, entry)
		if (strcmp(b->task, task) == 0)
			return b;
	return NULL;
}

/* Stop the child and all it started; the first reason given is kept. */
static void
build_kill(struct build *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[BUILD_ERROR_LEN - 16];

	if (b->fail[0] == '\0') {
		va_start(ap, fmt);
		(void)vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		(void)snprintf(b->fail, sizeof(b->fail), "%s: %s",
		    build_stage_name(b->stage), why);
	}
	if (!b->exited) {
		(void)kill(-b->pid, SIGKILL);
		(void)kill(b->pid, SIGKILL);
	}
}

/* The child's own error, if it names a stage; else ours around it. */
static void
child_error(struct build *b, char *out, size_t len)
{
	const char	*e = b->child_done.error, *colon;
	char		 stage[16];
	int		 s;

	if ((colon = strchr(e, ':')) != NULL &&
	    (size_t)(colon - e) < sizeof(stage)) {
		memcpy(stage, e, colon - e);
		stage[colon - e] = '\0';
		for (s = BUILD_STAGE_CLONE; s < BUILD_STAGE_MAX; s++)
			if (strcmp(stage, build_stage_name(s)) == 0) {
				(void)strlcpy(out, e, len);
				return;
			}
	}
	/* Cut to fit on purpose: the reason is bounded by the reply field. */
	(void)strlcpy(out, build_stage_name(b->stage), len);
	(void)strlcat(out, ": ", len);
	(void)strlcat(out, e, len);
}

/* What to answer for a child that is gone: "" for success. */
static void
build_verdict(struct build *b, char *error, size_t len)
{
	const char	*stage = build_stage_name(b->stage);
	int		 sig;

	error[0] = '\0';
	if (b->fail[0] != '\0')
		(void)strlcpy(error, b->fail, len);
	else if (b->got_done && !b->child_done.ok)
		child_error(b, error, len);
	else if (WIFSIGNALED(b->status)) {
		sig = WTERMSIG(b->status);
		if (sig == SIGXCPU)
			(void)snprintf(error, len, "%s: CPU time limit reached",
			    stage);
		else if (sig == SIGXFSZ)
			(void)snprintf(error, len, "%s: file size limit "
			    "reached", stage);
		else
			(void)snprintf(error, len, "%s: build child killed by "
			    "signal %d", stage, sig);
	} else if (WEXITSTATUS(b->status) != 0)
		(void)snprintf(error, len, "%s: build child exited with "
		    "status %d", stage, WEXITSTATUS(b->status));
	else if (!b->got_done)
		(void)snprintf(error, len, "%s: build child ended without a "
		    "result", stage);
	else if (!b->context_sent)
		(void)snprintf(error, len, "context: build child finished "
		    "without a context");
}

static void
build_free(struct build *b)
{
	struct builds	*bs = b->builds;

	TAILQ_REMOVE(&bs->list, b, entry);
	bs->n--;
	if (b->timer != NULL)
		event_free(b->timer);
	if (b->chan_open) {
		imsgev_clear(&b->chan);
		close(b->chan.ibuf.fd);
	}
	if (b->tar_read != -1)
		close(b->tar_read);
	free(b);
}

/* Once the child has exited and its channel is closed: answer, clean. */
static void
build_finish(struct build *b)
{
	struct builds		*bs = b->builds;
	struct build_done	 done;

	if (!b->exited || b->chan_open)
		return;
	memset(&done, 0, sizeof(done));
	(void)strlcpy(done.task, b->task, sizeof(done.task));
	build_verdict(b, done.error, sizeof(done.error));
	done.ok = done.error[0] == '\0';
	log_info("build %s: %s", b->task, done.ok ? "done" : done.error);
	send_json(bs, IMSG_BUILD_DONE, b->peerid, -1,
	    build_done_encode(&done));
	workspace_discard(bs, b->workspace);
	build_free(b);
}

static void
build_channel_close(struct build *b)
{
	if (!b->chan_open)
		return;
	imsgev_clear(&b->chan);
	close(b->chan.ibuf.fd);
	b->chan_open = 0;
}

/* --- what the child says -------------------------------------------------- */

static int
refuse(char *err, size_t errlen, const char *why)
{
	(void)strlcpy(err, why, errlen);
	return -1;
}

static int
child_log_message(struct build *b, const char *json, size_t len,
    char *err, size_t errlen)
{
	struct build_log	 log;

	if (b->got_done)
		return refuse(err, errlen, "a log line after its result");
	if (build_log_decode(json, len, &log, err, errlen) == -1)
		return -1;
	if (strcmp(log.task, b->task) != 0)
		return refuse(err, errlen, "a log line for another task");
	if (log.stage > b->stage)
		b->stage = log.stage;
	/* One over the cap: the child's own "lines not shown" line. */
	if (++b->nlogs > BUILD_LOG_LINES_MAX + 1)
		return 0;
	send_json(b->builds, IMSG_BUILD_LOG, b->peerid, -1,
	    build_log_encode(&log));
	return 0;
}

static int
child_context_message(struct build *b, const char *json, size_t len,
    char *err, size_t errlen)
{
	struct build_context	 bc;

	if (b->context_sent || b->got_done)
		return refuse(err, errlen, "a second context");
	if (build_context_decode(json, len, &bc, err, errlen) == -1)
		return -1;
	if (strcmp(bc.task, b->task) != 0)
		return refuse(err, errlen, "a context for another task");
	b->stage = BUILD_STAGE_CONTEXT;
	b->context_sent = 1;
	/* The parent owns the read end from here. */
	send_json(b->builds, IMSG_BUILD_CONTEXT, b->peerid, b->tar_read,
	    build_context_encode(&bc));
	b->tar_read = -1;
	return 0;
}

static int
child_done_message(struct build *b, const char *json, size_t len,
    char *err, size_t errlen)
{
	if (b->got_done)
		return refuse(err, errlen, "a second result");
	if (build_done_decode(json, len, &b->child_done, err, errlen) == -1)
		return -1;
	if (strcmp(b->child_done.task, b->task) != 0)
		return refuse(err, errlen, "a result for another task");
	b->got_done = 1;
	return 0;
}

/* One message from the child; anything wrong with it: -1 with err. */
static int
child_message(struct build *b, const struct imsg *imsg, char *err,
    size_t errlen)
{
	const char	*json = imsg->data;
	size_t		 len = imsg->hdr.len;

	if (len == 0 || len > BUILDREQ_JSON_MAX || json == NULL) {
		(void)snprintf(err, errlen, "a message of %zu bytes", len);
		return -1;
	}
	switch (imsg->hdr.type) {
	case IMSG_BUILD_LOG:
		return child_log_message(b, json, len, err, errlen);
	case IMSG_BUILD_CONTEXT:
		return child_context_message(b, json, len, err, errlen);
	case IMSG_BUILD_DONE:
		return child_done_message(b, json, len, err, errlen);
	default:
		(void)snprintf(err, errlen, "a message of type %u",
		    imsg->hdr.type);
		return -1;
	}
}

static void
build_dispatch_child(int fd, short event, void *arg)
{
	struct build	*b = arg;
	struct imsg	 imsg;
	char		 err[256];
	int		 got;

	(void)fd;
	if (imsgev_io(&b->chan, event) != 1)
		goto closed;
	for (;;) {
		if ((got = imsg_get(&b->chan.ibuf, &imsg)) == -1) {
			build_kill(b, "build child sent a malformed message");
			goto closed;
		}
		if (got == 0)
			break;
		got = child_message(b, &imsg, err, sizeof(err));
		imsg_free(&imsg);
		if (got == -1) {
			build_kill(b, "build child sent %s", err);
			goto closed;
		}
	}
	imsgev_add(&b->chan);
	return;
 closed:
	build_channel_close(b);
	build_finish(b);
}

/* --- time, signals -------------------------------------------------------- */

static void
build_timeout(int fd, short event, void *arg)
{
	struct build	*b = arg;

	(void)fd;
	(void)event;
	build_kill(b, "timed out after %u s", b->timeout_sec);
}

static void
builds_sigchld(int sig, short event, void *arg)
{
	struct builds	*bs = arg;
	struct build	*b, *next;
	size_t		 i;
	int		 status;

	(void)sig;
	(void)event;
	for (i = 0; i < CLEANERS_MAX; i++)
		if (bs->cleaners[i] != 0 &&
		    waitpid(bs->cleaners[i], NULL, WNOHANG) != 0)
			bs->cleaners[i] = 0;
	for (b = TAILQ_FIRST(&bs->list); b != NULL; b = next) {
		next = TAILQ_NEXT(b, entry);
		if (b->exited || waitpid(b->pid, &status, WNOHANG) != b->pid)
			continue;
		b->exited = 1;
		b->status = status;
		/* git's helpers, if any outlived it, go too. */
		(void)kill(-b->pid, SIGKILL);
		build_finish(b);
	}
}

/* --- starting ------------------------------------------------------------- */

/* In the new child: the channel and the pipe on fixed descriptors, no other. */
static void
build_child_fds(int chan, int tar)
{
	struct rlimit	 rl;
	int		 a, b, fd, max = CLOSE_FDS_MAX;

	if ((a = fcntl(chan, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (b = fcntl(tar, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    dup3(a, BUILD_CHILD_CHAN_FD, O_CLOEXEC) == -1 ||
	    dup3(b, BUILD_CHILD_TAR_FD, O_CLOEXEC) == -1)
		_exit(1);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < CLOSE_FDS_MAX)
		max = (int)rl.rlim_cur;
	/* The parent channel, libevent's, other builds': none of it is ours. */
	for (fd = BUILD_CHILD_TAR_FD + 1; fd < max; fd++)
		(void)close(fd);
}

static void
build_child_start(const struct build_request *req, const char *workspace,
    int chan, int tar)
{
	sigset_t	 none;

	log_procinit("build");
	(void)setpgid(0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	(void)signal(SIGCHLD, SIG_DFL);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGHUP, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	/* A reader that went away is an error to report, not a death. */
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	build_child_fds(chan, tar);
	build_child_main(req, workspace);
}

/* Fork the child; the builder keeps one end of each. */
static int
build_spawn(struct build *b, const struct build_request *req,
    const char *path)
{
	int	 sp[2], tp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return -1;
	if (pipe2(tp, O_CLOEXEC) == -1) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if ((b->pid = fork()) == -1) {
		close(sp[0]);
		close(sp[1]);
		close(tp[0]);
		close(tp[1]);
		return -1;
	}
	if (b->pid == 0)
		build_child_start(req, path, sp[1], tp[1]);
	(void)setpgid(b->pid, b->pid);
	close(sp[1]);
	close(tp[1]);
	b->tar_read = tp[0];
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK) == -1 ||
	    imsgev_init(&b->chan, b->builds->base, sp[0], BERTH_IMSG_MAX, 0,
	    build_dispatch_child, b) == -1) {
		close(sp[0]);
		return -1;
	}
	b->chan_open = 1;
	return 0;
}

static void
build_start(struct builds *bs, uint32_t peerid,
    const struct build_request *req)
{
	struct build	*b;
	struct timeval	 tv;
	char		 path[PATH_MAX];

	if (build_find(bs, req->task) != NULL) {
		send_done(bs, peerid, req->task, "request: task %s is already "
		    "building", req->task);
		return;
	}
	if (bs->n >= BUILDS_MAX) {
		send_done(bs, peerid, req->task, "request: %d builds are "
		    "running already", BUILDS_MAX);
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		send_done(bs, peerid, req->task, "request: out of memory");
		return;
	}
	b->builds = bs;
	b->peerid = peerid;
	b->tar_read = -1;
	b->stage = BUILD_STAGE_CLONE;
	b->timeout_sec = req->timeout_sec;
	(void)strlcpy(b->task, req->task, sizeof(b->task));
	(void)snprintf(b->workspace, sizeof(b->workspace), "%s%ld.%u",
	    WORKSPACE_PREFIX, (long)getpid(), ++bs->seq);
	errno = ENAMETOOLONG;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bs->root,
	    b->workspace) >= sizeof(path) || mkdir(path, 0700) == -1) {
		send_done(bs, peerid, req->task, "request: workspace %s: %s",
		    path, strerror(errno));
		free(b);
		return;
	}
	TAILQ_INSERT_TAIL(&bs->list, b, entry);
	bs->n++;
	if (build_spawn(b, req, path) == -1) {
		send_done(bs, peerid, req->task, "request: cannot start the "
		    "build child: %s", strerror(errno));
		if (b->pid > 0) {
			(void)kill(b->pid, SIGKILL);
			(void)waitpid(b->pid, NULL, 0);
		}
		workspace_discard(bs, b->workspace);
		build_free(b);
		return;
	}
	tv.tv_sec = req->timeout_sec;
	tv.tv_usec = 0;
	if ((b->timer = evtimer_new(bs->base, build_timeout, b)) == NULL ||
	    evtimer_add(b->timer, &tv) == -1)
		build_kill(b, "cannot arm the timeout");
	log_info("build %s: started in %s (pid %ld)", b->task, b->workspace,
	    (long)b->pid);
}

static void
build_cancel(struct builds *bs, uint32_t peerid, const char *task)
{
	struct build	*b;

	if ((b = build_find(bs, task)) == NULL) {
		send_log(bs, peerid, task, BUILD_STAGE_REQUEST,
		    "cancel: no such build is running");
		return;
	}
	log_info("build %s: cancelled", task);
	build_kill(b, "cancelled");
}

void
builds_request(struct builds *bs, uint32_t peerid, const char *json,
    size_t len)
{
	struct build_request	*req;
	char			 err[BUILD_ERROR_LEN - 16];

	if ((req = malloc(sizeof(*req))) == NULL) {
		send_done(bs, peerid, "", "request: out of memory");
		return;
	}
	/* The decoder names the field; "request" itself is named once. */
	if (buildreq_decode(json, len, req, err, sizeof(err)) == -1)
		send_done(bs, peerid, req->task, "%s%s",
		    strncmp(err, "request: ", 9) == 0 ? "" : "request: ", err);
	else if (req->cancel)
		build_cancel(bs, peerid, req->task);
	else
		build_start(bs, peerid, req);
	free(req);
}

/* --- the set -------------------------------------------------------------- */

struct builds *
builds_new(struct event_base *base, const char *workspace_root,
    build_send_fn send, void *arg)
{
	struct builds	*bs;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		return NULL;
	bs->base = base;
	bs->send = send;
	bs->arg = arg;
	TAILQ_INIT(&bs->list);
	if (strlcpy(bs->root, workspace_root, sizeof(bs->root)) >=
	    sizeof(bs->root) ||
	    (bs->sigchld = evsignal_new(base, SIGCHLD, builds_sigchld,
	    bs)) == NULL || evsignal_add(bs->sigchld, NULL) == -1) {
		if (bs->sigchld != NULL)
			event_free(bs->sigchld);
		free(bs);
		return NULL;
	}
	workspace_discard_stale(bs);
	return bs;
}

size_t
builds_running(const struct builds *bs)
{
	return bs->n;
}

void
builds_free(struct builds *bs)
{
	struct build	*b;
	size_t		 i;
	pid_t		 pid;

	if (bs == NULL)
		return;
	while ((b = TAILQ_FIRST(&bs->list)) != NULL) {
		if (!b->exited) {
			(void)kill(-b->pid, SIGKILL);
			(void)kill(b->pid, SIGKILL);
			(void)waitpid(b->pid, NULL, 0);
		}
		if ((pid = workspace_discard_start(bs->root,
		    b->workspace)) != -1)
			(void)waitpid(pid, NULL, 0);
		build_free(b);
	}
	for (i = 0; i < CLEANERS_MAX; i++)
		if (bs->cleaners[i] != 0)
			(void)waitpid(bs->cleaners[i], NULL, 0);
	event_free(bs->sigchld);
	free(bs);
}
