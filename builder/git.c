/*
 * git.c: git, run hardened, in a build child (which is already confined
 * to its workspace when it calls here).  git is the one program the
 * builder runs, and it runs on untrusted repositories, so every run gets
 * an environment built here from nothing (no variable of ours leaks in,
 * no GIT_TEMPLATE_DIR, no GIT_DIR) and settings that leave the
 * repository no say in what runs:
 *
 *	no system or global configuration, no templates, hooksPath
 *	/dev/null, no fsmonitor, no credential helper, no prompt, no
 *	askpass;  a protocol allowlist (git and https; file and ssh only
 *	when the policy says so), redirects not followed (they could leave
 *	the URL allowlist), fsck of every object received, no submodule
 *	recursion unless allowed, and then only to URLs the allowlist
 *	takes.
 *
 * One commit is fetched, shallow, by its id; a ref is resolved with
 * ls-remote once and then pinned to the commit it named.  git's output
 * becomes log lines, bounded in length and number.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "builder.h"
#include "buildreq.h"

#define GIT_PATH		"/usr/bin/git"
#define GIT_LINE_MAX		400	/* one log line of git output */
#define GIT_LINES_MAX		40	/* lines shown per git command */
#define GIT_CAPTURE_MAX		(64 * 1024)	/* stdout we parse */
#define GIT_ARGV_MAX		64
#define GIT_ENV_MAX		24
#define GIT_ENV_LEN		4096

/*
 * Settings for every run, on the command line so that they outrank the
 * repository's own configuration.  Why each:
 */
static const char *const git_settings[] = {
	"core.hooksPath=/dev/null",	/* no hook ever runs */
	"core.fsmonitor=false",		/* no fsmonitor program */
	"core.symlinks=true",		/* links stay links; context.c judges */
	"credential.helper=",		/* no stored or prompted credentials */
	"transfer.fsckObjects=true",	/* refuse malformed objects */
	"fetch.fsckObjects=true",
	"submodule.recurse=false",	/* submodules only when we ask */
	"http.followRedirects=false",	/* could leave the URL allowlist */
	"protocol.allow=never",		/* then each allowed one by name */
	"protocol.git.allow=always",
	"protocol.https.allow=always",
	"gc.auto=0",			/* nothing in the background */
	"maintenance.auto=false",
	"advice.detachedHead=false",
	"init.defaultBranch=main",	/* quiets a hint */
};

struct git_lines {
	const struct git_fetch	*f;
	const char		*what;		/* "fetch", ... */
	char			 line[GIT_LINE_MAX];
	size_t			 len;
	int			 skipping;	/* rest of a cut line */
	size_t			 shown;
	size_t			 dropped;
	char			 last[200];	/* for the error message */
};

/* --- the environment and the command line --------------------------------- */

static int
env_add(char *buf, size_t len, size_t *off, char *envp[], size_t nenvp,
    size_t *n, const char *fmt, ...) __attribute__((__format__(printf, 7, 8)));

static int
env_add(char *buf, size_t len, size_t *off, char *envp[], size_t nenvp,
    size_t *n, const char *fmt, ...)
{
	va_list	 ap;
	int	 w;

	if (*n + 1 >= nenvp || *off >= len)
		return -1;
	va_start(ap, fmt);
	w = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *off)
		return -1;
	envp[(*n)++] = buf + *off;
	envp[*n] = NULL;
	*off += (size_t)w + 1;
	return 0;
}

int
git_environment(const struct git_fetch *f, char *buf, size_t len,
    char *envp[], size_t nenvp)
{
	static const char *const fixed[] = {
		"PATH=/usr/bin:/bin",
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_NO_REPLACE_OBJECTS=1",
	};
	size_t	 off = 0, n = 0, i;

	if (nenvp == 0)
		return -1;
	envp[0] = NULL;
	if (env_add(buf, len, &off, envp, nenvp, &n, "HOME=%s", f->home) == -1)
		return -1;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (env_add(buf, len, &off, envp, nenvp, &n, "%s",
		    fixed[i]) == -1)
			return -1;
	/* The allowlist git itself enforces, submodules included. */
	if (env_add(buf, len, &off, envp, nenvp, &n,
	    "GIT_ALLOW_PROTOCOL=git:https%s%s",
	    f->allow->file_urls ? ":file" : "",
	    f->allow->ssh ? ":ssh" : "") == -1)
		return -1;
	/* ssh never asks: keys and known hosts come from the system. */
	if (f->allow->ssh && env_add(buf, len, &off, envp, nenvp, &n,
	    "GIT_SSH_COMMAND=ssh -o BatchMode=yes "
	    "-o StrictHostKeyChecking=yes") == -1)
		return -1;
	return 0;
}

/* argv: git, the settings, then args (NULL-ended). */
static int
git_argv(const struct git_fetch *f, const char *const *args, char *argv[],
    size_t max)
{
	size_t	 n = 0, i;

#define PUSH(s)	do {						\
	if (n + 1 >= max)					\
		return -1;					\
	argv[n++] = (char *)(uintptr_t)(s);			\
} while (0)
	PUSH("git");
	for (i = 0; i < sizeof(git_settings) / sizeof(git_settings[0]); i++) {
		PUSH("-c");
		PUSH(git_settings[i]);
	}
	PUSH("-c");
	PUSH(f->allow->file_urls ? "protocol.file.allow=always" :
	    "protocol.file.allow=never");
	PUSH("-c");
	PUSH(f->allow->ssh ? "protocol.ssh.allow=always" :
	    "protocol.ssh.allow=never");
	for (i = 0; args[i] != NULL; i++)
		PUSH(args[i]);
#undef PUSH
	argv[n] = NULL;
	return 0;
}

/* --- running git ---------------------------------------------------------- */

static void
lines_emit(struct git_lines *gl)
{
	char	 text[GIT_LINE_MAX + 32];

	if (gl->len == 0)
		return;
	gl->line[gl->len] = '\0';
	build_text_clean(gl->line);
	(void)strlcpy(gl->last, gl->line, sizeof(gl->last));
	if (gl->shown < GIT_LINES_MAX) {
		(void)snprintf(text, sizeof(text), "git %s: %s", gl->what,
		    gl->line);
		if (gl->f->log != NULL)
			gl->f->log(gl->f->log_arg, text);
		gl->shown++;
	} else
		gl->dropped++;
	gl->len = 0;
}

/* Progress lines end in \r, others in \n: both end a log line. */
static void
lines_feed(struct git_lines *gl, const char *data, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (data[i] == '\n' || data[i] == '\r') {
			if (!gl->skipping)
				lines_emit(gl);
			gl->skipping = 0;
			gl->len = 0;
			continue;
		}
		if (gl->skipping)
			continue;
		if (gl->len == sizeof(gl->line) - 1) {
			lines_emit(gl);
			gl->skipping = 1;
			continue;
		}
		gl->line[gl->len++] = data[i];
	}
}

static void
git_exec(char *const argv[], char *const envp[], int outfd, int errfd)
{
	int	 null;

	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 ||
	    dup2(outfd, STDOUT_FILENO) == -1 ||
	    dup2(errfd, STDERR_FILENO) == -1)
		_exit(126);
	(void)signal(SIGPIPE, SIG_DFL);
	(void)signal(SIGCHLD, SIG_DFL);
	/* git goes when the build child goes, whatever killed it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	execve(GIT_PATH, argv, envp);
	_exit(127);
}

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct git_io {
	int		 fds[2];	/* stderr, stdout (or -1) */
	char		*capture;
	size_t		 caplen, capsize;
	int		 failed;
};

/* One read from fds[i]; EOF closes it. */
static void
git_read_one(struct git_io *io, int i, struct git_lines *gl, char *err,
    size_t errlen)
{
	char	 buf[4096];
	ssize_t	 n;

	n = read(io->fds[i], buf, sizeof(buf));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(io->fds[i]);
		io->fds[i] = -1;
		return;
	}
	if (i == 0) {
		lines_feed(gl, buf, (size_t)n);
		return;
	}
	if ((size_t)n >= io->capsize - io->caplen) {
		builder_errset(err, errlen, "git printed more than %zu bytes",
		    io->capsize);
		io->failed = 1;
		return;
	}
	memcpy(io->capture + io->caplen, buf, (size_t)n);
	io->caplen += (size_t)n;
	io->capture[io->caplen] = '\0';
}

/*
 * Read git's output until both pipes close, asking watch about every
 * second.  -1 (err set) if git had to be stopped.
 */
static int
git_collect(const struct git_fetch *f, pid_t pid, struct git_io *io,
    struct git_lines *gl, char *err, size_t errlen)
{
	struct pollfd	 pfd[2];
	uint64_t	 last = now_ms();
	int		 i, n;

	while (!io->failed && (io->fds[0] != -1 || io->fds[1] != -1)) {
		for (i = 0; i < 2; i++) {
			pfd[i].fd = io->fds[i];
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if ((n = poll(pfd, 2, 1000)) == -1 && errno != EINTR) {
			builder_errset(err, errlen, "poll: %s", strerror(errno));
			io->failed = 1;
			break;
		}
		for (i = 0; i < 2 && n > 0; i++)
			if (pfd[i].revents != 0 && io->fds[i] != -1)
				git_read_one(io, i, gl, err, errlen);
		if (f->watch != NULL && now_ms() - last >= 1000) {
			last = now_ms();
			if (f->watch(f->watch_arg, err, errlen) == -1)
				io->failed = 1;
		}
	}
	if (io->failed)
		(void)kill(pid, SIGKILL);
	for (i = 0; i < 2; i++)
		if (io->fds[i] != -1) {
			close(io->fds[i]);
			io->fds[i] = -1;
		}
	return io->failed ? -1 : 0;
}

static int
git_wait(pid_t pid, const char *what, struct git_lines *gl, char *err,
    size_t errlen)
{
	int	 status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			builder_errset(err, errlen, "git %s: waitpid: %s", what,
			    strerror(errno));
			return -1;
		}
	if (WIFSIGNALED(status)) {
		builder_errset(err, errlen, "git %s killed by signal %d", what,
		    WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0)
		builder_errset(err, errlen, "git %s failed (exit %d)%s%s", what,
		    WEXITSTATUS(status), gl->last[0] != '\0' ? ": " : "",
		    gl->last);
	return WEXITSTATUS(status);
}

/*
 * Run git with args (what names it in messages), stdout into capture
 * when given (NUL-terminated, its length in *caplen), else into the log
 * with stderr.  The exit
 * status, or -1 if git could not run or was stopped; err says why
 * whenever the result is not 0.
 */
static int
git_run(const struct git_fetch *f, const char *what, const char *const *args,
    char *capture, size_t capsize, size_t *caplen, char *err, size_t errlen)
{
	struct git_lines	 gl;
	struct git_io		 io;
	char			*argv[GIT_ARGV_MAX], *envp[GIT_ENV_MAX];
	char			 envbuf[GIT_ENV_LEN];
	int			 errp[2], outp[2] = { -1, -1 }, rc;
	pid_t			 pid;

	memset(&gl, 0, sizeof(gl));
	gl.f = f;
	gl.what = what;
	if (git_argv(f, args, argv, GIT_ARGV_MAX) == -1 ||
	    git_environment(f, envbuf, sizeof(envbuf), envp,
	    GIT_ENV_MAX) == -1) {
		builder_errset(err, errlen, "git %s: command line too long", what);
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) == -1) {
		builder_errset(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((capture != NULL && pipe2(outp, O_CLOEXEC) == -1) ||
	    (pid = fork()) == -1) {
		builder_errset(err, errlen, "git %s: %s", what, strerror(errno));
		close(errp[0]);
		close(errp[1]);
		if (outp[0] != -1) {
			close(outp[0]);
			close(outp[1]);
		}
		return -1;
	}
	if (pid == 0)
		git_exec(argv, envp, capture != NULL ? outp[1] : errp[1],
		    errp[1]);
	close(errp[1]);
	if (outp[1] != -1)
		close(outp[1]);

	memset(&io, 0, sizeof(io));
	io.fds[0] = errp[0];
	io.fds[1] = outp[0];
	io.capture = capture;
	io.capsize = capsize;
	if (capture != NULL)
		capture[0] = '\0';
	rc = git_collect(f, pid, &io, &gl, err, errlen);
	if (caplen != NULL)
		*caplen = io.caplen;
	lines_emit(&gl);
	if (gl.dropped > 0 && f->log != NULL) {
		char	 more[64];

		(void)snprintf(more, sizeof(more), "git %s: (%zu more lines "
		    "not shown)", what, gl.dropped);
		f->log(f->log_arg, more);
	}
	if (rc == -1) {
		(void)git_wait(pid, what, &gl, NULL, 0);
		return -1;
	}
	return git_wait(pid, what, &gl, err, errlen);
}

/* --- URLs and refs -------------------------------------------------------- */

uint16_t
git_url_port(const char *url)
{
	const char	*host, *end, *colon;
	uint16_t	 port;
	long		 n;
	char		*ep;

	if (strncmp(url, "https://", 8) == 0) {
		host = url + 8;
		port = 443;
	} else if (strncmp(url, "git://", 6) == 0) {
		host = url + 6;
		port = 9418;
	} else if (strncmp(url, "ssh://", 6) == 0) {
		host = url + 6;
		port = 22;
	} else
		return 0;
	if ((end = strchr(host, '/')) == NULL)
		end = host + strlen(host);
	if ((colon = memchr(host, '@', end - host)) != NULL)
		host = colon + 1;
	if (*host == '[' && (colon = memchr(host, ']', end - host)) != NULL)
		host = colon;
	if ((colon = memchr(host, ':', end - host)) == NULL || colon + 1 == end)
		return port;
	errno = 0;
	n = strtol(colon + 1, &ep, 10);
	if (ep != end || errno != 0 || n < 1 || n > 65535)
		return port;
	return (uint16_t)n;
}

const char *
git_url_path(const char *url)
{
	if (strncmp(url, "file://", 7) != 0 || url[7] != '/')
		return NULL;
	return url + 7;
}

static int
is_commit_id(const char *s, size_t len)
{
	size_t	 i;

	if (len != BUILD_COMMIT_LEN - 1)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* The names ref may stand for, best first (peeled tags before tags). */
static size_t
ref_candidates(const char *ref, char out[4][BUILD_REF_LEN + 16])
{
	size_t	 n = 0;

	if (strncmp(ref, "refs/", 5) == 0 || strcmp(ref, "HEAD") == 0) {
		(void)snprintf(out[n++], sizeof(out[0]), "%s^{}", ref);
		(void)snprintf(out[n++], sizeof(out[0]), "%s", ref);
		return n;
	}
	(void)snprintf(out[n++], sizeof(out[0]), "refs/heads/%s", ref);
	(void)snprintf(out[n++], sizeof(out[0]), "refs/tags/%s^{}", ref);
	(void)snprintf(out[n++], sizeof(out[0]), "refs/tags/%s", ref);
	return n;
}

/* The commit on the line "<id>\t<name>\n" of output, if there is one. */
static int
find_ref(const char *output, const char *name, char commit[BUILD_COMMIT_LEN])
{
	const char	*line, *tab, *end;
	size_t		 namelen = strlen(name);

	for (line = output; *line != '\0'; line = end + (*end != '\0')) {
		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		if ((tab = memchr(line, '\t', end - line)) == NULL ||
		    !is_commit_id(line, (size_t)(tab - line)))
			continue;
		if ((size_t)(end - tab - 1) == namelen &&
		    memcmp(tab + 1, name, namelen) == 0) {
			memcpy(commit, line, BUILD_COMMIT_LEN - 1);
			commit[BUILD_COMMIT_LEN - 1] = '\0';
			return 0;
		}
	}
	return -1;
}

int
git_pick_ref(const char *output, const char *ref,
    char commit[BUILD_COMMIT_LEN])
{
	char	 names[4][BUILD_REF_LEN + 16];
	size_t	 i, n;

	n = ref_candidates(ref, names);
	for (i = 0; i < n; i++)
		if (find_ref(output, names[i], commit) == 0)
			return 0;
	return -1;
}

/* --- the steps ------------------------------------------------------------ */

static int
git_resolve_ref(const struct git_fetch *f, char commit[BUILD_COMMIT_LEN],
    char *err, size_t errlen)
{
	char		 names[4][BUILD_REF_LEN + 16];
	const char	*args[10];
	char		*out;
	size_t		 i, n, a = 0;
	int		 rc;

	n = ref_candidates(f->ref, names);
	args[a++] = "ls-remote";
	args[a++] = "--";
	args[a++] = f->url;
	for (i = 0; i < n; i++)
		args[a++] = names[i];
	args[a] = NULL;
	if ((out = malloc(GIT_CAPTURE_MAX)) == NULL) {
		builder_errset(err, errlen, "out of memory");
		return -1;
	}
	if ((rc = git_run(f, "ls-remote", args, out, GIT_CAPTURE_MAX, NULL,
	    err, errlen)) == 0 && git_pick_ref(out, f->ref, commit) == -1) {
		builder_errset(err, errlen, "ref %s not found in the repository",
		    f->ref);
		rc = -1;
	}
	free(out);
	return rc == 0 ? 0 : -1;
}

/* HEAD of the checkout must be the commit asked for, exactly. */
static int
git_verify_head(const struct git_fetch *f, const char *commit, char *err,
    size_t errlen)
{
	const char *const args[] = { "-C", f->checkout, "rev-parse", "-q",
	    "--verify", "HEAD^{commit}", NULL };
	char	 out[128];

	if (git_run(f, "rev-parse", args, out, sizeof(out), NULL, err,
	    errlen) != 0)
		return -1;
	if (strlen(out) < BUILD_COMMIT_LEN - 1 ||
	    strncmp(out, commit, BUILD_COMMIT_LEN - 1) != 0) {
		builder_errset(err, errlen, "checked out %.40s, not %s", out, commit);
		return -1;
	}
	return 0;
}

/* Every submodule URL, as git submodule init resolved it, allowed? */
static int
git_check_submodule_urls(const struct git_fetch *f, const char *out,
    size_t len, char *err, size_t errlen)
{
	const char	*p = out, *end = out + len, *value, *why;

	/* -z: "key\nvalue\0" per entry. */
	while (p < end) {
		if ((value = memchr(p, '\n', end - p)) == NULL)
			break;
		value++;
		why = buildreq_check_url(value, f->allow);
		if (why != NULL) {
			builder_errset(err, errlen, "submodule URL %.200s %s", value,
			    why);
			return -1;
		}
		p = value + strlen(value) + 1;
	}
	return 0;
}

static int
git_submodules(const struct git_fetch *f, char *err, size_t errlen)
{
	const char *const init[] = { "-C", f->checkout, "submodule", "--quiet",
	    "init", NULL };
	const char *const urls[] = { "-C", f->checkout, "config", "-z",
	    "--get-regexp", "^submodule\\..*\\.url$", NULL };
	const char *const update[] = { "-C", f->checkout, "submodule",
	    "--quiet", "update", "--depth=1", NULL };
	char		 path[PATH_MAX], *out;
	struct stat	 st;
	size_t		 len = 0;
	int		 rc;

	(void)snprintf(path, sizeof(path), "%s/.gitmodules", f->checkout);
	if (lstat(path, &st) == -1)
		return 0;
	if (!f->allow->submodules) {
		if (f->log != NULL)
			f->log(f->log_arg, "submodules not fetched: the policy "
			    "does not allow them");
		return 0;
	}
	if (git_run(f, "submodule init", init, NULL, 0, NULL, err, errlen) != 0)
		return -1;
	if ((out = malloc(GIT_CAPTURE_MAX)) == NULL) {
		builder_errset(err, errlen, "out of memory");
		return -1;
	}
	/* Exit 1: no submodule has a URL, nothing to fetch. */
	rc = git_run(f, "config", urls, out, GIT_CAPTURE_MAX, &len, err,
	    errlen);
	if (rc == 0)
		rc = git_check_submodule_urls(f, out, len, err, errlen);
	free(out);
	if (rc == 1)
		return 0;
	if (rc != 0)
		return -1;
	return git_run(f, "submodule update", update, NULL, 0, NULL, err,
	    errlen) == 0 ? 0 : -1;
}

static int
git_fetch_pinned(const struct git_fetch *f, const char *commit, char *err,
    size_t errlen)
{
	const char *const fetch[] = { "-C", f->checkout, "fetch", "-q",
	    "--depth=1", "--no-tags", "--no-recurse-submodules", "--",
	    f->url, commit, NULL };
	const char *const checkout[] = { "-C", f->checkout, "checkout", "-q",
	    "--detach", commit, "--", NULL };
	const char *const origin[] = { "-C", f->checkout, "config",
	    "remote.origin.url", f->url, NULL };

	/* Relative submodule URLs resolve against origin. */
	if (f->allow->submodules &&
	    git_run(f, "config", origin, NULL, 0, NULL, err, errlen) != 0)
		return -1;
	if (git_run(f, "fetch", fetch, NULL, 0, NULL, err, errlen) != 0 ||
	    git_run(f, "checkout", checkout, NULL, 0, NULL, err, errlen) != 0 ||
	    git_verify_head(f, commit, err, errlen) == -1)
		return -1;
	return git_submodules(f, err, errlen);
}

int
git_fetch_commit(const struct git_fetch *f, char commit[BUILD_COMMIT_LEN],
    char *err, size_t errlen)
{
	const char *const init[] = { "init", "-q", "--template=", f->checkout,
	    NULL };
	const char	*why;

	/* Judged again here: nothing reaches git unchecked. */
	if ((why = buildreq_check_url(f->url, f->allow)) != NULL) {
		builder_errset(err, errlen, "repository URL %.200s %s", f->url, why);
		return -1;
	}
	if (f->commit[0] != '\0') {
		if (!is_commit_id(f->commit, strlen(f->commit))) {
			builder_errset(err, errlen, "commit %.64s is not 40 hex digits",
			    f->commit);
			return -1;
		}
		(void)strlcpy(commit, f->commit, BUILD_COMMIT_LEN);
	} else if (git_resolve_ref(f, commit, err, errlen) == -1)
		return -1;
	if (f->commit[0] == '\0' && f->log != NULL) {
		char	 line[BUILD_REF_LEN + 64];

		(void)snprintf(line, sizeof(line), "ref %s is commit %s",
		    f->ref, commit);
		f->log(f->log_arg, line);
	}
	if (git_run(f, "init", init, NULL, 0, NULL, err, errlen) != 0)
		return -1;
	return git_fetch_pinned(f, commit, err, errlen);
}
