/*
 * builder.h: what the files of the builder process share.
 *
 *	builder.c	the process: confinement, the parent channel
 *	build.c		the builds: workspace, one child each, timeout,
 *			cancel, and what the parent is told
 *	build_child.c	what one build child does: confine itself, clone,
 *			detect, stream the context
 *	git.c		git, run hardened
 *	buildpack.c	Dockerfile or buildpack detection, generated
 *			Dockerfiles
 *	context.c	the build-context tar stream, .dockerignore
 */
#ifndef BERTH_BUILDER_H
#define BERTH_BUILDER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "buildreq.h"

struct event_base;

/* Builds one builder runs at once; the parent admits fewer if told to. */
#define BUILDS_MAX		4
/* Log lines one build may send; more are counted and dropped. */
#define BUILD_LOG_LINES_MAX	200
/*
 * A workspace is WORKSPACE_PREFIX<pid>.<n> under the workspace root;
 * whatever carries the prefix there is the builder's to remove.
 */
#define WORKSPACE_PREFIX	"b."
/* Inside a workspace: the checkout and git's (empty) home. */
#define WORKSPACE_SRC		"src"
#define WORKSPACE_HOME		".home"

/* --- build.c -------------------------------------------------------------- */

/*
 * How build.c speaks: one message for the parent, JSON already checked
 * and canonical, and a descriptor (the tar stream) with
 * IMSG_BUILD_CONTEXT, else -1.  The callee owns fd from then on.
 */
typedef void	(*build_send_fn)(void *arg, uint32_t type, uint32_t peerid,
		    int fd, const char *json);

struct builds;

struct builds	*builds_new(struct event_base *, const char *workspace_root,
		    build_send_fn, void *arg);
/* One IMSG_BUILD_REQUEST payload: start, cancel, or refuse (answered). */
void		 builds_request(struct builds *, uint32_t peerid,
		    const char *json, size_t len);
size_t		 builds_running(const struct builds *);
/* Kill every build, remove its workspace, free all. */
void		 builds_free(struct builds *);

/* --- build_child.c -------------------------------------------------------- */

/*
 * The build child, forked by build.c with the channel to the builder on
 * BUILD_CHILD_CHAN_FD and the tar pipe on BUILD_CHILD_TAR_FD.
 */
#define BUILD_CHILD_CHAN_FD	3
#define BUILD_CHILD_TAR_FD	4
void	 build_child_main(const struct build_request *,
	    const char *workspace) __attribute__((__noreturn__));
/* Bytes on disk below dirfd (st_blocks), stopping past limit. */
uint64_t workspace_usage(int dirfd, uint64_t limit);

/* --- git.c ---------------------------------------------------------------- */

struct git_fetch {
	const char		*url;
	const char		*commit;	/* "" or 40 hex: wins */
	const char		*ref;		/* "" or a ref, resolved once */
	const struct build_allow *allow;
	const char		*checkout;	/* created by git init */
	const char		*home;		/* HOME for git, empty */
	/* Each line git prints, cleaned and cut; may be NULL. */
	void			(*log)(void *, const char *);
	void			*log_arg;
	/* About every second while git runs; -1 (err set) stops git. */
	int			(*watch)(void *, char *, size_t);
	void			*watch_arg;
};

/*
 * Fetch exactly one commit into checkout and check it out detached;
 * commit receives what was checked out.  0, or -1 with the reason.
 */
int	 git_fetch_commit(const struct git_fetch *,
	    char commit[BUILD_COMMIT_LEN], char *err, size_t errlen);
/* The TCP port url's transport connects to; 0 for file URLs. */
uint16_t git_url_port(const char *url);
/* The directory of a file:// URL, else NULL. */
const char *git_url_path(const char *url);
/*
 * The environment git runs with (NULL-ended in envp, strings in buf).
 * Exposed for the tests.
 */
int	 git_environment(const struct git_fetch *, char *buf, size_t len,
	    char *envp[], size_t nenvp);
/* Pick ref's commit from ls-remote output; 0 or -1. */
int	 git_pick_ref(const char *output, const char *ref,
	    char commit[BUILD_COMMIT_LEN]);

/* --- buildpack.c ---------------------------------------------------------- */

/* The name of a generated Dockerfile in the context (never the repo's). */
#define BUILDPACK_DOCKERFILE	".berth.Dockerfile"

struct buildpack_result {
	enum build_kind	 kind;
	char		 dockerfile[BUILD_PATH_LEN];	/* in the context */
	char		*generated;	/* malloc'd text, NULL for the repo's */
};

/*
 * Decide how srcfd (the checkout) is built, in the order buildpack.c
 * documents.  0, or -1 with the reason (naming the files looked for).
 */
int	 buildpack_detect(int srcfd, const struct build_request *,
	    struct buildpack_result *, char *err, size_t errlen);
/* The Dockerfile for kind with its base image; malloc'd, NULL if none. */
char	*buildpack_generate(enum build_kind, const char *image);
void	 buildpack_result_free(struct buildpack_result *);

/* --- context.c ------------------------------------------------------------ */

struct dockerignore;

/* Parse .dockerignore text; NULL with the reason (too many patterns). */
struct dockerignore *dockerignore_parse(const char *text, size_t len,
	    char *err, size_t errlen);
/* 1 if the relative path is excluded from the context. */
int	 dockerignore_excluded(const struct dockerignore *, const char *path);
/* 1 if some "!" pattern may bring back a path below an excluded one. */
int	 dockerignore_has_exceptions(const struct dockerignore *);
void	 dockerignore_free(struct dockerignore *);
/* One cleaned pattern against one path, Docker's way: 1 on a match. */
int	 dockerignore_match(const char *pattern, const char *path);

struct context_params {
	int		 srcfd;		/* the checkout, O_DIRECTORY */
	int		 outfd;		/* the tar goes here */
	uint64_t	 max_bytes;	/* file bytes the context may hold */
	const char	*dockerfile;	/* always included; NULL if generated */
	const char	*generated_name;	/* NULL, or an entry made */
						/* of generated, from memory */
	const char	*generated;
};

struct context_stats {
	uint64_t	 files;
	uint64_t	 dirs;
	uint64_t	 symlinks;
	uint64_t	 excluded;
	uint64_t	 file_bytes;
	uint64_t	 tar_bytes;
};

/* Write the whole context; 0, or -1 with the reason (paths named). */
int	 context_write(const struct context_params *, struct context_stats *,
	    char *err, size_t errlen);

/* Format a reason into the caller's error buffer (builder.c). */
void	 builder_errset(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((__format__(printf, 3, 4)));

#endif
