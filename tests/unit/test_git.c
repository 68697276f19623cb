/*
 * test_git.c: git, run hardened (builder/git.c), and whole builds as the
 * parent drives them (builder/build.c and build_child.c, each build in
 * its confined child), against repositories this test makes.
 *
 * git: a pinned commit is exactly what is checked out; a ref and an
 * annotated tag resolve to their commits; file:// works when allowed and
 * is refused, before git runs, when not; so is a URL outside the
 * allowlist; hooks from a template directory in our own environment
 * never run (git's environment is built from nothing); submodules are
 * not fetched unless allowed, and then only from allowed URLs; git://
 * against a git daemon on 127.0.0.1.
 *
 * Builds: the messages in order with a tar stream on the context; a
 * refused request, a duplicate task, a fifth build; timeout and cancel
 * against a server that never answers; a symlink out of the workspace
 * and a workspace over its limit, each failing with its stage named.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth.h"
#include "builder.h"
#include "buildreq.h"
#include "log.h"

static char	 dir[] = "/tmp/berth-git-XXXXXX";
static char	 commit1[BUILD_COMMIT_LEN], commit2[BUILD_COMMIT_LEN];
static int	 ncase;

/* --- making repositories -------------------------------------------------- */

static void
sh(const char *fmt, ...) __attribute__((__format__(printf, 1, 2)));

/* Run a shell command in dir with a quiet, fixed git identity. */
static void
sh(const char *fmt, ...)
{
	char	 cmd[4096], full[4400];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	(void)snprintf(full, sizeof(full), "cd %s && env -i PATH=/usr/bin:/bin "
	    "HOME=%s GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t "
	    "GIT_AUTHOR_EMAIL=t@invalid GIT_COMMITTER_NAME=t "
	    "GIT_COMMITTER_EMAIL=t@invalid sh -ec '%s' >/dev/null 2>&1", dir,
	    dir, cmd);
	if (system(full) != 0)
		fail_msg("failed: %s", cmd);
}

static void
read_line(const char *path, char *buf, size_t len)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, (int)len, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void
make_repos(void)
{
	char	 path[PATH_MAX];

	sh("git init -q -b main src && cd src && echo first >index.html && "
	    "git add . && git commit -qm one && git tag -a v1 -m v1 && "
	    "git rev-parse HEAD >../commit1 && echo second >index.html && "
	    "echo more >more.txt && git commit -qam two && git add . && "
	    "git commit -qm three && git rev-parse HEAD >../commit2");
	(void)snprintf(path, sizeof(path), "%s/commit1", dir);
	read_line(path, commit1, sizeof(commit1));
	(void)snprintf(path, sizeof(path), "%s/commit2", dir);
	read_line(path, commit2, sizeof(commit2));

	sh("git init -q -b main sub && cd sub && echo inner >subfile && "
	    "git add . && git commit -qm sub");
	sh("git init -q -b main withsub && cd withsub && echo top >index.html "
	    "&& git add . && git -c protocol.file.allow=always submodule add "
	    "-q file://%s/sub lib && git commit -qm withsub", dir);
	sh("git init -q -b main escape && cd escape && echo x >index.html && "
	    "ln -s /etc/shadow link && git add . && git commit -qm escape");
	sh("git init -q -b main big && cd big && echo x >index.html && "
	    "head -c 3000000 /dev/urandom >blob && git add . && "
	    "git commit -qm big");
}

/* --- git.c directly ------------------------------------------------------- */

struct logs {
	char	 text[16384];
};

static void
collect(void *arg, const char *line)
{
	struct logs	*l = arg;

	(void)strlcat(l->text, line, sizeof(l->text));
	(void)strlcat(l->text, "\n", sizeof(l->text));
}

static struct build_allow allow_file;	/* file:// of dir, git://127.0.0.1 */

static void
fetch_params(struct git_fetch *f, const char *url, const char *commit,
    const char *ref, struct logs *logs, char *checkout, char *home)
{
	(void)snprintf(checkout, PATH_MAX, "%s/co%d", dir, ++ncase);
	(void)snprintf(home, PATH_MAX, "%s/home%d", dir, ncase);
	assert_int_equal(mkdir(home, 0700), 0);
	memset(f, 0, sizeof(*f));
	memset(logs, 0, sizeof(*logs));
	f->url = url;
	f->commit = commit;
	f->ref = ref;
	f->allow = &allow_file;
	f->checkout = checkout;
	f->home = home;
	f->log = collect;
	f->log_arg = logs;
}

static void
url_of(char *url, size_t len, const char *repo)
{
	(void)snprintf(url, len, "file://%s/%s", dir, repo);
}

static int
exists(const char *fmt, ...) __attribute__((__format__(printf, 1, 2)));

static int
exists(const char *fmt, ...)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	va_list		 ap;

	va_start(ap, fmt);
	(void)vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return lstat(path, &st) == 0;
}

static void
test_pinned_commit(void **state)
{
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512], line[64];
	char			 path[PATH_MAX + 16];

	(void)state;
	url_of(url, sizeof(url), "src");
	fetch_params(&f, url, commit1, "", &logs, co, home);
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1)
		fail_msg("fetch: %s\n%s", err, logs.text);
	assert_string_equal(got, commit1);
	(void)snprintf(path, sizeof(path), "%s/index.html", co);
	read_line(path, line, sizeof(line));
	assert_string_equal(line, "first");
	assert_false(exists("%s/more.txt", co));
	/* No template: not a single hook file in the new repository. */
	assert_false(exists("%s/.git/hooks", co));
}

static void
test_refs(void **state)
{
	static const struct {
		const char	*ref;
		int		 second;
	} cases[] = {
		{ "main", 1 },
		{ "refs/heads/main", 1 },
		{ "v1", 0 },		/* annotated tag: its commit */
		{ "refs/tags/v1", 0 },
		{ "HEAD", 1 },
	};
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512];
	size_t			 i;

	(void)state;
	url_of(url, sizeof(url), "src");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fetch_params(&f, url, "", cases[i].ref, &logs, co, home);
		if (git_fetch_commit(&f, got, err, sizeof(err)) == -1)
			fail_msg("%s: %s\n%s", cases[i].ref, err, logs.text);
		assert_string_equal(got, cases[i].second ? commit2 : commit1);
	}
	fetch_params(&f, url, "", "nosuch", &logs, co, home);
	assert_int_equal(git_fetch_commit(&f, got, err, sizeof(err)), -1);
	assert_string_equal(err, "ref nosuch not found in the repository");
}

static void
test_pick_ref(void **state)
{
	static const char out[] =
	    "1111111111111111111111111111111111111111\trefs/tags/v2\n"
	    "2222222222222222222222222222222222222222\trefs/tags/v2^{}\n"
	    "3333333333333333333333333333333333333333\trefs/heads/v2x\n"
	    "bad\trefs/heads/v3\n"
	    "4444444444444444444444444444444444444444\trefs/heads/v2";
	char	 c[BUILD_COMMIT_LEN];

	(void)state;
	assert_int_equal(git_pick_ref(out, "v2", c), 0);
	assert_string_equal(c, "4444444444444444444444444444444444444444");
	assert_int_equal(git_pick_ref(out, "refs/tags/v2", c), 0);
	assert_string_equal(c, "2222222222222222222222222222222222222222");
	assert_int_equal(git_pick_ref(out, "v3", c), -1);
	assert_int_equal(git_pick_ref(out, "v", c), -1);
}

/* Refused before git runs: the checkout is never even created. */
static void
test_refused_before_git(void **state)
{
	struct build_allow	 no_file;
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512];

	(void)state;
	url_of(url, sizeof(url), "src");
	fetch_params(&f, url, commit1, "", &logs, co, home);
	no_file = allow_file;
	no_file.file_urls = 0;
	f.allow = &no_file;
	assert_int_equal(git_fetch_commit(&f, got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "uses file, which the policy does not "
	    "allow"));
	assert_false(exists("%s", co));

	fetch_params(&f, "git://192.0.2.1/app.git", commit1, "", &logs, co,
	    home);
	assert_int_equal(git_fetch_commit(&f, got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not under any allowed URL prefix"));
	assert_false(exists("%s", co));
	assert_string_equal(logs.text, "");
}

/*
 * Our environment names a template directory whose hooks write a
 * marker, and a GIT_DIR that would break any git that read it; the
 * clone must see neither.
 */
static void
test_no_hooks_no_environment(void **state)
{
	static const char *const hooks[] = { "post-checkout", "post-merge",
	    "reference-transaction", "post-index-change",
	    "fsmonitor-watchman" };
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512];
	char			 tmpl[PATH_MAX], marker[PATH_MAX];
	size_t			 i;

	(void)state;
	(void)snprintf(tmpl, sizeof(tmpl), "%s/template", dir);
	(void)snprintf(marker, sizeof(marker), "%s/HOOK-RAN", dir);
	sh("mkdir -p template/hooks");
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		sh("printf \"#!/bin/sh\\ntouch %s\\n\" >template/hooks/%s && "
		    "chmod +x template/hooks/%s", marker, hooks[i], hooks[i]);
	assert_int_equal(setenv("GIT_TEMPLATE_DIR", tmpl, 1), 0);
	assert_int_equal(setenv("GIT_DIR", "/nonexistent", 1), 0);
	assert_int_equal(setenv("GIT_CONFIG_PARAMETERS",
	    "'core.hooksPath'='/tmp'", 1), 0);

	url_of(url, sizeof(url), "src");
	fetch_params(&f, url, "", "main", &logs, co, home);
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1)
		fail_msg("fetch: %s\n%s", err, logs.text);
	(void)unsetenv("GIT_TEMPLATE_DIR");
	(void)unsetenv("GIT_DIR");
	(void)unsetenv("GIT_CONFIG_PARAMETERS");
	assert_string_equal(got, commit2);
	assert_false(exists("%s", marker));
	assert_false(exists("%s/.git/hooks", co));
}

static void
test_environment(void **state)
{
	static const char *const want[] = {
		"PATH=/usr/bin:/bin", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false",
		"GIT_PROTOCOL_FROM_USER=0", "GIT_NO_REPLACE_OBJECTS=1",
		"GIT_ALLOW_PROTOCOL=git:https",
	};
	struct build_allow	 allow;
	struct git_fetch	 f;
	char			 buf[4096], *envp[32];
	size_t			 i, j;

	(void)state;
	memset(&allow, 0, sizeof(allow));
	memset(&f, 0, sizeof(f));
	f.allow = &allow;
	f.home = "/w/.home";
	assert_int_equal(git_environment(&f, buf, sizeof(buf), envp, 32), 0);
	assert_string_equal(envp[0], "HOME=/w/.home");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(envp[i + 1], want[i]);
	assert_null(envp[i + 1]);
	allow.file_urls = allow.ssh = 1;
	assert_int_equal(git_environment(&f, buf, sizeof(buf), envp, 32), 0);
	for (j = 0; envp[j] != NULL; j++)
		;
	assert_string_equal(envp[j - 2],
	    "GIT_ALLOW_PROTOCOL=git:https:file:ssh");
	assert_non_null(strstr(envp[j - 1], "GIT_SSH_COMMAND=ssh -o "
	    "BatchMode=yes"));
	assert_int_equal(git_environment(&f, buf, 20, envp, 32), -1);
}

static void
test_url_port(void **state)
{
	(void)state;
	assert_int_equal(git_url_port("git://h/x"), 9418);
	assert_int_equal(git_url_port("git://h:1234/x"), 1234);
	assert_int_equal(git_url_port("https://h/x"), 443);
	assert_int_equal(git_url_port("https://[::1]:8443/x"), 8443);
	assert_int_equal(git_url_port("https://[::1]/x"), 443);
	assert_int_equal(git_url_port("ssh://git@h/x"), 22);
	assert_int_equal(git_url_port("ssh://git@h:2222/x"), 2222);
	assert_int_equal(git_url_port("git://h:99999/x"), 9418);
	assert_int_equal(git_url_port("file:///srv/x"), 0);
	assert_string_equal(git_url_path("file:///srv/x"), "/srv/x");
	assert_null(git_url_path("git://h/x"));
}

static void
test_submodules(void **state)
{
	struct build_allow	 allow;
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512];

	(void)state;
	url_of(url, sizeof(url), "withsub");

	/* Off: the submodule stays an empty directory. */
	fetch_params(&f, url, "", "main", &logs, co, home);
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1)
		fail_msg("fetch: %s\n%s", err, logs.text);
	assert_true(exists("%s/lib", co));
	assert_false(exists("%s/lib/subfile", co));
	assert_non_null(strstr(logs.text, "submodules not fetched"));

	/* On, but its URL is outside the allowlist: refused. */
	allow = allow_file;
	allow.submodules = 1;
	(void)snprintf(allow.url_prefixes[0], sizeof(allow.url_prefixes[0]),
	    "file://%s/withsub/", dir);
	allow.nurl_prefixes = 1;
	(void)snprintf(url, sizeof(url), "file://%s/withsub/", dir);
	fetch_params(&f, url, "", "main", &logs, co, home);
	f.allow = &allow;
	assert_int_equal(git_fetch_commit(&f, got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/sub is not under any allowed URL "
	    "prefix"));
	assert_false(exists("%s/lib/subfile", co));

	/* On and allowed: fetched. */
	allow = allow_file;
	allow.submodules = 1;
	fetch_params(&f, url, "", "main", &logs, co, home);
	f.allow = &allow;
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1)
		fail_msg("fetch: %s\n%s", err, logs.text);
	assert_true(exists("%s/lib/subfile", co));
}

/* --- a git daemon, and a server that never answers ------------------------ */

static pid_t	 daemon_pid;
static int	 daemon_port;
static int	 silent_fd = -1;
static int	 silent_port;

static int
listen_any(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 s;

	assert_true((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
	    -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s, 16), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return s;
}

static int
can_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 s, ok;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	ok = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(s);
	return ok;
}

static void
daemon_start(void)
{
	char	 base[PATH_MAX + 16], port[32];
	int	 s, i;

	/* A free port: bind 0, learn it, let it go for the daemon. */
	s = listen_any(&daemon_port);
	close(s);
	(void)snprintf(base, sizeof(base), "--base-path=%s", dir);
	(void)snprintf(port, sizeof(port), "--port=%d", daemon_port);
	if ((daemon_pid = fork()) == 0) {
		int	 null = open("/dev/null", O_WRONLY);

		(void)dup2(null, STDERR_FILENO);
		execl("/usr/bin/git", "git", "daemon", "--export-all", base,
		    "--reuseaddr", "--listen=127.0.0.1", port, dir,
		    (char *)NULL);
		_exit(127);
	}
	assert_true(daemon_pid > 0);
	for (i = 0; i < 100 && !can_connect(daemon_port); i++)
		usleep(50000);
	assert_true(can_connect(daemon_port));
}

static void
daemon_stop(void)
{
	if (daemon_pid > 0) {
		(void)kill(daemon_pid, SIGTERM);
		(void)waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
}

static void
test_git_daemon(void **state)
{
	struct git_fetch	 f;
	struct logs		 logs;
	char			 url[PATH_MAX], co[PATH_MAX], home[PATH_MAX];
	char			 got[BUILD_COMMIT_LEN], err[512];

	(void)state;
	daemon_start();
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/src",
	    daemon_port);
	fetch_params(&f, url, commit1, "", &logs, co, home);
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1) {
		daemon_stop();
		fail_msg("fetch: %s\n%s", err, logs.text);
	}
	assert_string_equal(got, commit1);
	fetch_params(&f, url, "", "main", &logs, co, home);
	if (git_fetch_commit(&f, got, err, sizeof(err)) == -1) {
		daemon_stop();
		fail_msg("fetch: %s\n%s", err, logs.text);
	}
	assert_string_equal(got, commit2);
	daemon_stop();
}

/* --- whole builds --------------------------------------------------------- */

struct message {
	uint32_t	 type;
	uint32_t	 peerid;
	char		 json[BUILDREQ_JSON_MAX];
};

struct capture {
	struct event_base	*base;
	struct message		 msgs[512];
	size_t			 n;
	int			 tarfd;
	char			*tar;
	size_t			 tarlen;
	struct event		*tarev;
};

static void
tar_readable(int fd, short event, void *arg)
{
	struct capture	*cap = arg;
	char		 buf[65536];
	ssize_t		 n;

	(void)event;
	if ((n = read(fd, buf, sizeof(buf))) <= 0) {
		event_del(cap->tarev);
		return;
	}
	cap->tar = realloc(cap->tar, cap->tarlen + (size_t)n);
	assert_non_null(cap->tar);
	memcpy(cap->tar + cap->tarlen, buf, (size_t)n);
	cap->tarlen += (size_t)n;
}

/* build.c's send: what builder.c would compose to the parent. */
static void
capture_send(void *arg, uint32_t type, uint32_t peerid, int fd,
    const char *json)
{
	struct capture	*cap = arg;
	struct message	*m;

	assert_true(cap->n < sizeof(cap->msgs) / sizeof(cap->msgs[0]));
	m = &cap->msgs[cap->n++];
	m->type = type;
	m->peerid = peerid;
	(void)strlcpy(m->json, json, sizeof(m->json));
	assert_int_equal(fd != -1, type == IMSG_BUILD_CONTEXT);
	if (fd != -1) {
		cap->tarfd = fd;
		cap->tarev = event_new(cap->base, fd, EV_READ | EV_PERSIST,
		    tar_readable, cap);
		assert_non_null(cap->tarev);
		assert_int_equal(event_add(cap->tarev, NULL), 0);
	}
}

static const struct message *
find_done(const struct capture *cap, uint32_t peerid)
{
	size_t	 i;

	for (i = 0; i < cap->n; i++)
		if (cap->msgs[i].type == IMSG_BUILD_DONE &&
		    cap->msgs[i].peerid == peerid)
			return &cap->msgs[i];
	return NULL;
}

static void
tick(int fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
}

/* Run the loop until peerid has its DONE, for at most limit seconds. */
static const struct message *
run_until_done(struct capture *cap, uint32_t peerid, int limit)
{
	struct timeval	 tv = { 0, 50000 };
	struct event	*t;
	time_t		 end = time(NULL) + limit;
	const struct message *m;

	t = event_new(cap->base, -1, EV_PERSIST, tick, NULL);
	assert_int_equal(event_add(t, &tv), 0);
	while ((m = find_done(cap, peerid)) == NULL && time(NULL) < end)
		(void)event_base_loop(cap->base, EVLOOP_ONCE);
	event_free(t);
	if (m == NULL)
		fail_msg("no DONE for %u within %d s", peerid, limit);
	return m;
}

static struct builds *
capture_start(struct capture *cap, char *root, size_t rootlen)
{
	struct builds	*bs;

	memset(cap, 0, sizeof(*cap));
	cap->tarfd = -1;
	assert_non_null(cap->base = event_base_new());
	(void)snprintf(root, rootlen, "%s/ws%d", dir, ++ncase);
	assert_int_equal(mkdir(root, 0700), 0);
	assert_non_null(bs = builds_new(cap->base, root, capture_send, cap));
	return bs;
}

static void
capture_end(struct capture *cap, struct builds *bs)
{
	builds_free(bs);
	if (cap->tarev != NULL)
		event_free(cap->tarev);
	if (cap->tarfd != -1)
		close(cap->tarfd);
	free(cap->tar);
	event_base_free(cap->base);
}

static void
request(struct builds *bs, uint32_t peerid, const char *fmt, ...)
    __attribute__((__format__(printf, 3, 4)));

static void
request(struct builds *bs, uint32_t peerid, const char *fmt, ...)
{
	char	 json[4096];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	builds_request(bs, peerid, json, strlen(json));
}

/* Format arguments: the task's (if any), url, commit, dir, a git port. */
#define BUILD_JSON(task, extra) \
	"{\"task\":\"" task "\",\"app\":\"web\",\"repo\":{\"url\":\"%s\"," \
	"\"commit\":\"%s\"},\"buildpack\":{\"static\":\"berth-base:latest\"}," \
	"\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file://%s/\"," \
	"\"git://127.0.0.1:%d/\"]}" extra "}"

/* The names in a tar held in memory, one per line. */
static void
tar_names(const char *tar, size_t len, char *out, size_t outlen)
{
	struct archive		*a;
	struct archive_entry	*e;

	out[0] = '\0';
	assert_non_null(a = archive_read_new());
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		(void)strlcat(out, archive_entry_pathname(e), outlen);
		(void)strlcat(out, "\n", outlen);
	}
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
}

static void
test_build_ok(void **state)
{
	static struct capture	 cap;
	struct builds		*bs;
	const struct message	*done;
	char			 root[PATH_MAX], url[PATH_MAX], names[4096];
	char			 want[512];
	size_t			 i, ncontext = 0;

	(void)state;
	bs = capture_start(&cap, root, sizeof(root));
	url_of(url, sizeof(url), "src");
	request(bs, 7, BUILD_JSON("t1", ""), url, commit1, dir,
	    1);
	assert_int_equal(builds_running(bs), 1);
	done = run_until_done(&cap, 7, 60);
	assert_string_equal(done->json, "{\"task\":\"t1\",\"ok\":true}");
	/* Let the tar reader drain what is left. */
	while (event_base_loop(cap.base, EVLOOP_NONBLOCK) == 0 &&
	    event_pending(cap.tarev, EV_READ, NULL))
		;

	/* LOG*, one CONTEXT, LOG*, DONE last; every one with our peerid. */
	for (i = 0; i < cap.n; i++) {
		assert_int_equal(cap.msgs[i].peerid, 7);
		if (cap.msgs[i].type == IMSG_BUILD_CONTEXT)
			ncontext++;
		else if (i < cap.n - 1)
			assert_int_equal(cap.msgs[i].type, IMSG_BUILD_LOG);
	}
	assert_int_equal(ncontext, 1);
	assert_int_equal(cap.msgs[cap.n - 1].type, IMSG_BUILD_DONE);
	for (i = 0; cap.msgs[i].type != IMSG_BUILD_CONTEXT; i++)
		;
	(void)snprintf(want, sizeof(want), "{\"task\":\"t1\",\"commit\":\"%s\","
	    "\"detected\":\"static\",\"dockerfile\":\".berth.Dockerfile\"}",
	    commit1);
	assert_string_equal(cap.msgs[i].json, want);
	assert_non_null(strstr(cap.msgs[0].json, "\"stage\":\"clone\""));

	tar_names(cap.tar, cap.tarlen, names, sizeof(names));
	assert_string_equal(names, ".berth.Dockerfile\nindex.html\n");
	assert_int_equal(builds_running(bs), 0);
	capture_end(&cap, bs);
	/* The workspace is gone (the cleaner was waited for). */
	assert_int_equal(rmdir(root), 0);
}

static void
test_build_refusals(void **state)
{
	static struct capture	 cap;
	struct builds		*bs;
	char			 root[PATH_MAX], url[PATH_MAX];

	(void)state;
	bs = capture_start(&cap, root, sizeof(root));
	request(bs, 1, "{\"task\":\"t2\",\"app\":\"web\"}");
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.msgs[0].json, "{\"task\":\"t2\",\"ok\":false,"
	    "\"error\":\"request: repo: required\"}");
	request(bs, 2, "not json");
	assert_non_null(strstr(cap.msgs[1].json, "{\"task\":\"\",\"ok\":false,"
	    "\"error\":\"request: malformed JSON"));
	url_of(url, sizeof(url), "src");
	request(bs, 3, BUILD_JSON("t3", ""), "git://192.0.2.1/x",
	    commit1, dir, 1);
	assert_non_null(strstr(cap.msgs[2].json, "repo.url: "
	    "\\\"git://192.0.2.1/x\\\" is not under any allowed URL prefix"));
	request(bs, 4, "{\"cancel\":\"nosuch\"}");
	assert_int_equal(cap.msgs[3].type, IMSG_BUILD_LOG);
	assert_string_equal(cap.msgs[3].json, "{\"task\":\"nosuch\","
	    "\"stage\":\"request\",\"text\":\"cancel: no such build is "
	    "running\"}");
	assert_int_equal(builds_running(bs), 0);
	capture_end(&cap, bs);
}

/* A server that takes connections and never says a word. */
static void
test_timeout_cancel_busy(void **state)
{
	static struct capture	 cap;
	struct builds		*bs;
	const struct message	*done;
	char			 root[PATH_MAX], url[PATH_MAX];
	int			 i;

	(void)state;
	silent_fd = listen_any(&silent_port);
	bs = capture_start(&cap, root, sizeof(root));
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git",
	    silent_port);

	request(bs, 1, BUILD_JSON("slow", ",\"limits\":"
	    "{\"timeout_sec\":1}"), url, commit1, dir, silent_port);
	done = run_until_done(&cap, 1, 20);
	assert_string_equal(done->json, "{\"task\":\"slow\",\"ok\":false,"
	    "\"error\":\"clone: timed out after 1 s\"}");

	for (i = 0; i < BUILDS_MAX; i++)
		request(bs, 10 + i, BUILD_JSON("c%d", ""), i, url,
		    commit1, dir, silent_port);
	assert_int_equal(builds_running(bs), BUILDS_MAX);
	request(bs, 20, BUILD_JSON("c0", ""), url, commit1, dir,
	    silent_port);
	assert_non_null(done = find_done(&cap, 20));
	assert_string_equal(done->json, "{\"task\":\"c0\",\"ok\":false,"
	    "\"error\":\"request: task c0 is already building\"}");
	request(bs, 21, BUILD_JSON("c9", ""), url, commit1, dir,
	    silent_port);
	assert_non_null(done = find_done(&cap, 21));
	assert_string_equal(done->json, "{\"task\":\"c9\",\"ok\":false,"
	    "\"error\":\"request: 4 builds are running already\"}");

	for (i = 0; i < BUILDS_MAX; i++) {
		request(bs, 30, "{\"cancel\":\"c%d\"}", i);
		done = run_until_done(&cap, 10 + i, 20);
		assert_non_null(strstr(done->json, "\"error\":\"clone: "
		    "cancelled\""));
	}
	assert_int_equal(builds_running(bs), 0);
	capture_end(&cap, bs);
	close(silent_fd);
}

static void
test_build_failures(void **state)
{
	static struct capture	 cap;
	struct builds		*bs;
	const struct message	*done;
	char			 root[PATH_MAX], url[PATH_MAX];

	(void)state;
	bs = capture_start(&cap, root, sizeof(root));

	url_of(url, sizeof(url), "escape");
	request(bs, 2, "{\"task\":\"esc\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"%s\",\"ref\":\"main\"},\"buildpack\":{\"static\":\"b:1\"},"
	    "\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file://%s/\"]}}",
	    url, dir);
	done = run_until_done(&cap, 2, 60);
	assert_string_equal(done->json, "{\"task\":\"esc\",\"ok\":false,"
	    "\"error\":\"context: symlink link points outside the workspace "
	    "(-> /etc/shadow)\"}");

	url_of(url, sizeof(url), "big");
	request(bs, 3, "{\"task\":\"big\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"%s\",\"ref\":\"main\"},\"buildpack\":{\"static\":\"b:1\"},"
	    "\"limits\":{\"workspace_bytes\":1048576},"
	    "\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file://%s/\"]}}",
	    url, dir);
	done = run_until_done(&cap, 3, 60);
	assert_non_null(strstr(done->json, "\"ok\":false,\"error\":\"clone: "));

	url_of(url, sizeof(url), "sub");
	request(bs, 4, "{\"task\":\"none\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"%s\",\"ref\":\"main\"},"
	    "\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file://%s/\"]}}",
	    url, dir);
	done = run_until_done(&cap, 4, 60);
	assert_non_null(strstr(done->json, "\"error\":\"detect: nothing to "
	    "build: no Dockerfile, and none of package.json"));
	capture_end(&cap, bs);
}

/* git:// through the build child's sandbox (Landlock lets its port by). */
static void
test_build_git_daemon(void **state)
{
	static struct capture	 cap;
	struct builds		*bs;
	const struct message	*done;
	char			 root[PATH_MAX], url[PATH_MAX];

	(void)state;
	daemon_start();
	bs = capture_start(&cap, root, sizeof(root));
	(void)snprintf(url, sizeof(url), "git://127.0.0.1:%d/src",
	    daemon_port);
	request(bs, 5, BUILD_JSON("gd", ""), url, commit2, dir,
	    daemon_port);
	done = run_until_done(&cap, 5, 60);
	daemon_stop();
	if (strcmp(done->json, "{\"task\":\"gd\",\"ok\":true}") != 0) {
		size_t	 i;

		for (i = 0; i < cap.n; i++)
			fprintf(stderr, "%s\n", cap.msgs[i].json);
		fail_msg("%s", done->json);
	}
	capture_end(&cap, bs);
}

static int
setup(void **state)
{
	(void)state;
	if (access("/usr/bin/git", X_OK) == -1)
		return -1;
	log_init(1, LOG_LEVEL_WARN, 0);
	(void)signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return -1;
	make_repos();
	allow_file.file_urls = 1;
	(void)snprintf(allow_file.url_prefixes[0],
	    sizeof(allow_file.url_prefixes[0]), "file://%s/", dir);
	(void)strlcpy(allow_file.url_prefixes[1], "git://127.0.0.1:",
	    sizeof(allow_file.url_prefixes[1]));
	allow_file.nurl_prefixes = 2;
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	daemon_stop();
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pinned_commit),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_pick_ref),
		cmocka_unit_test(test_refused_before_git),
		cmocka_unit_test(test_no_hooks_no_environment),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_url_port),
		cmocka_unit_test(test_submodules),
		cmocka_unit_test(test_git_daemon),
		cmocka_unit_test(test_build_ok),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_timeout_cancel_busy),
		cmocka_unit_test(test_build_failures),
		cmocka_unit_test(test_build_git_daemon),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
