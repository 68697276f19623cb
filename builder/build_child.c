/*
 * build_child.c: one build, in a process of its own that build.c forks
 * for it.  The child confines itself to its workspace first
 * (sandbox_confine_build_child: Landlock, rlimits, TCP to its
 * repository's port only), then clones (git.c), detects how to build
 * (buildpack.c) and streams the context tar into the pipe the builder
 * hands to the parent (context.c).  It tells the builder how it goes
 * over its channel with the same JSON messages the parent gets, which
 * the builder checks before passing them on: this is the process that
 * reads untrusted repositories, and it is trusted with nothing.
 *
 * It never returns: every way out is _exit, so that nothing the
 * builder registered to run at exit runs here.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "sandbox.h"

#define USAGE_DEPTH_MAX		128

struct child {
	const struct build_request *req;
	const char	*workspace;
	struct imsgbuf	 ibuf;
	enum build_stage stage;
	size_t		 nlogs;
	size_t		 dropped;
	int		 wsfd;
	char		 src[PATH_MAX];
	char		 home[PATH_MAX];
	char		 commit[BUILD_COMMIT_LEN];
};

static void	 child_fail(struct child *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3), __noreturn__));
static void	 child_log(struct child *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));

/* Queue and flush one message; a builder that is gone ends us. */
static void
child_send(struct child *c, uint32_t type, char *json)
{
	if (json == NULL)
		_exit(1);
	if (imsg_compose(&c->ibuf, type, 0, getpid(), -1, json,
	    strlen(json)) == -1)
		_exit(1);
	free(json);
	while (imsgbuf_queued(&c->ibuf) > 0)
		if (imsgbuf_write(&c->ibuf) == -1)
			_exit(1);
}

static void
child_log(struct child *c, const char *fmt, ...)
{
	struct build_log	 log;
	va_list			 ap;

	if (c->nlogs >= BUILD_LOG_LINES_MAX) {
		c->dropped++;
		return;
	}
	c->nlogs++;
	memset(&log, 0, sizeof(log));
	(void)strlcpy(log.task, c->req->task, sizeof(log.task));
	log.stage = c->stage;
	va_start(ap, fmt);
	(void)vsnprintf(log.text, sizeof(log.text), fmt, ap);
	va_end(ap);
	child_send(c, IMSG_BUILD_LOG, build_log_encode(&log));
}

static void
child_done(struct child *c, int ok, const char *error)
{
	struct build_done	 done;

	if (c->dropped > 0) {
		c->nlogs = 0;
		child_log(c, "(%zu more log lines not shown)", c->dropped);
	}
	memset(&done, 0, sizeof(done));
	(void)strlcpy(done.task, c->req->task, sizeof(done.task));
	done.ok = ok;
	if (!ok)
		(void)snprintf(done.error, sizeof(done.error), "%s: %s",
		    build_stage_name(c->stage), error);
	child_send(c, IMSG_BUILD_DONE, build_done_encode(&done));
}

static void
child_fail(struct child *c, const char *fmt, ...)
{
	char	 why[BUILD_ERROR_LEN];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	child_done(c, 0, why);
	_exit(1);
}

/* --- the workspace -------------------------------------------------------- */

static uint64_t
usage_below(int dirfd, uint64_t limit, uint64_t used, int depth)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dir;
	int		 fd;

	if ((dir = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return used;
	}
	while (used <= limit && (de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		used += (uint64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode) || depth >= USAGE_DEPTH_MAX)
			continue;
		if ((fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) != -1)
			used = usage_below(fd, limit, used, depth + 1);
	}
	closedir(dir);
	return used;
}

uint64_t
workspace_usage(int dirfd, uint64_t limit)
{
	int	 fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return 0;
	return usage_below(fd, limit, 0, 0);
}

/* While git runs: the workspace must stay under its limit. */
static int
child_watch(void *arg, char *err, size_t errlen)
{
	struct child	*c = arg;
	uint64_t	 used;

	used = workspace_usage(c->wsfd, c->req->workspace_bytes);
	if (used <= c->req->workspace_bytes)
		return 0;
	(void)snprintf(err, errlen, "the workspace grew past its limit of "
	    "%llu bytes", (unsigned long long)c->req->workspace_bytes);
	return -1;
}

static void
child_prepare(struct child *c)
{
	if ((c->wsfd = open(c->workspace, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		child_fail(c, "workspace %s: %s", c->workspace,
		    strerror(errno));
	if (mkdirat(c->wsfd, WORKSPACE_HOME, 0700) == -1)
		child_fail(c, "workspace: %s: %s", WORKSPACE_HOME,
		    strerror(errno));
	(void)snprintf(c->src, sizeof(c->src), "%s/%s", c->workspace,
	    WORKSPACE_SRC);
	(void)snprintf(c->home, sizeof(c->home), "%s/%s", c->workspace,
	    WORKSPACE_HOME);
}

static void
child_confine(struct child *c)
{
	struct sandbox_build	 sb;
	struct sandbox_report	 report;

	memset(&sb, 0, sizeof(sb));
	sb.workspace = c->workspace;
	sb.repository = git_url_path(c->req->url);
	sb.git_port = git_url_port(c->req->url);
	sb.cpu_sec = c->req->timeout_sec;
	sb.file_bytes = c->req->workspace_bytes;
	sandbox_confine_build_child(&sb, &report);
}

/* --- the stages ----------------------------------------------------------- */

static void
child_git_log(void *arg, const char *line)
{
	child_log(arg, "%s", line);
}

static void
child_clone(struct child *c)
{
	struct git_fetch	 f;
	char			 err[BUILD_ERROR_LEN];
	uint64_t		 used;

	c->stage = BUILD_STAGE_CLONE;
	memset(&f, 0, sizeof(f));
	f.url = c->req->url;
	f.commit = c->req->commit;
	f.ref = c->req->ref;
	f.allow = &c->req->allow;
	f.checkout = c->src;
	f.home = c->home;
	f.log = child_git_log;
	f.log_arg = c;
	f.watch = child_watch;
	f.watch_arg = c;
	child_log(c, "fetching %s at %s", c->req->url, c->req->commit[0] !=
	    '\0' ? c->req->commit : c->req->ref);
	if (git_fetch_commit(&f, c->commit, err, sizeof(err)) == -1)
		child_fail(c, "%s", err);
	used = workspace_usage(c->wsfd, c->req->workspace_bytes);
	if (used > c->req->workspace_bytes)
		child_fail(c, "the checkout takes more than the workspace "
		    "limit of %llu bytes",
		    (unsigned long long)c->req->workspace_bytes);
	child_log(c, "checked out %s (%llu bytes on disk)", c->commit,
	    (unsigned long long)used);
}

static int
child_detect(struct child *c, struct buildpack_result *bp)
{
	char	 err[BUILD_ERROR_LEN];
	int	 srcfd;

	c->stage = BUILD_STAGE_DETECT;
	if ((srcfd = open(c->src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		child_fail(c, "checkout: %s", strerror(errno));
	if (buildpack_detect(srcfd, c->req, bp, err, sizeof(err)) == -1)
		child_fail(c, "%s", err);
	if (bp->kind == BUILD_KIND_DOCKERFILE)
		child_log(c, "detected a Dockerfile at %s", bp->dockerfile);
	else
		child_log(c, "detected a %s app; generated %s from %s",
		    build_kind_name(bp->kind), bp->dockerfile,
		    c->req->buildpack[bp->kind]);
	return srcfd;
}

static void
child_send_context(struct child *c, const struct buildpack_result *bp)
{
	struct build_context	 bc;

	memset(&bc, 0, sizeof(bc));
	(void)strlcpy(bc.task, c->req->task, sizeof(bc.task));
	(void)strlcpy(bc.commit, c->commit, sizeof(bc.commit));
	bc.detected = bp->kind;
	(void)strlcpy(bc.dockerfile, bp->dockerfile, sizeof(bc.dockerfile));
	child_send(c, IMSG_BUILD_CONTEXT, build_context_encode(&bc));
}

static void
child_stream(struct child *c, int srcfd, const struct buildpack_result *bp)
{
	struct context_params	 p;
	struct context_stats	 st;
	char			 err[BUILD_ERROR_LEN];

	c->stage = BUILD_STAGE_CONTEXT;
	memset(&p, 0, sizeof(p));
	p.srcfd = srcfd;
	p.outfd = BUILD_CHILD_TAR_FD;
	p.max_bytes = c->req->workspace_bytes;
	if (bp->generated != NULL) {
		p.generated_name = bp->dockerfile;
		p.generated = bp->generated;
	} else
		p.dockerfile = bp->dockerfile;
	if (context_write(&p, &st, err, sizeof(err)) == -1)
		child_fail(c, "%s", err);
	/* The reader sees the end of the stream now, not at our exit. */
	close(BUILD_CHILD_TAR_FD);
	child_log(c, "context: %llu files, %llu directories, %llu symlinks, "
	    "%llu left out; %llu bytes of files, %llu bytes of tar",
	    (unsigned long long)st.files, (unsigned long long)st.dirs,
	    (unsigned long long)st.symlinks, (unsigned long long)st.excluded,
	    (unsigned long long)st.file_bytes,
	    (unsigned long long)st.tar_bytes);
}

void
build_child_main(const struct build_request *req, const char *workspace)
{
	struct buildpack_result	 bp;
	struct child		 c;
	int			 srcfd;

	memset(&c, 0, sizeof(c));
	c.req = req;
	c.workspace = workspace;
	c.stage = BUILD_STAGE_CLONE;
	if (imsgbuf_init(&c.ibuf, BUILD_CHILD_CHAN_FD, BERTH_IMSG_MAX,
	    BERTH_IMSG_QUEUE_MAX, 0) == -1)
		_exit(1);
	child_prepare(&c);
	child_confine(&c);
	child_clone(&c);
	srcfd = child_detect(&c, &bp);
	child_send_context(&c, &bp);
	child_stream(&c, srcfd, &bp);
	child_done(&c, 1, NULL);
	_exit(0);
}
