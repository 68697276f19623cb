/*
 * test_context.c: the build-context stream (builder/context.c).  A small
 * tree written as tar and read back with libarchive is the tree, less
 * .git and what .dockerignore leaves out; .dockerignore follows Docker's
 * rules (a table); symlinks that stay inside are kept and those that
 * leave (absolute, ../.., through another link) are refused with their
 * path; a 2 GiB sparse file is refused by its size at once; 10,000 files
 * stream without memory growing; a reader that goes away is an error.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
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

#include "builder.h"
#include "compat.h"

static char	 dir[] = "/tmp/berth-context-XXXXXX";
static int	 ncase;

/* --- helpers -------------------------------------------------------------- */

static int
new_tree(char *path, size_t len)
{
	int	 dfd;

	(void)snprintf(path, len, "%s/case%d", dir, ++ncase);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_true((dfd = open(path, O_RDONLY | O_DIRECTORY)) != -1);
	return dfd;
}

/* Make "a/b/c" (directories as needed) holding text. */
static void
put(int dfd, const char *path, const char *text, mode_t mode)
{
	char	 sub[512], *slash;
	int	 fd;

	(void)strlcpy(sub, path, sizeof(sub));
	for (slash = strchr(sub, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		(void)mkdirat(dfd, sub, 0755);
		*slash = '/';
	}
	assert_true((fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC,
	    mode)) != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Write the context of dfd into a file; its path in out. */
static int
write_context(int dfd, const struct context_params *extra, char *out,
    size_t outlen, char *err, size_t errlen, struct context_stats *st)
{
	struct context_params	 p;
	int			 fd, rc;

	(void)snprintf(out, outlen, "%s/ctx%d.tar", dir, ++ncase);
	assert_true((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) !=
	    -1);
	memset(&p, 0, sizeof(p));
	if (extra != NULL)
		p = *extra;
	p.srcfd = dfd;
	p.outfd = fd;
	if (p.max_bytes == 0)
		p.max_bytes = 1 << 30;
	rc = context_write(&p, st, err, errlen);
	close(fd);
	return rc;
}

/* "path type size [content|target]" per entry, in tar order, to buf. */
static void
list_tar(const char *file, char *buf, size_t len)
{
	struct archive		*a;
	struct archive_entry	*e;
	char			 data[256], line[1024], *p;
	la_ssize_t		 n;

	buf[0] = '\0';
	assert_non_null(a = archive_read_new());
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_filename(a, file, 10240),
	    ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		switch (archive_entry_filetype(e)) {
		case AE_IFDIR:
			(void)snprintf(line, sizeof(line), "%s dir %o\n",
			    archive_entry_pathname(e),
			    (unsigned)archive_entry_perm(e));
			break;
		case AE_IFLNK:
			(void)snprintf(line, sizeof(line), "%s link %s\n",
			    archive_entry_pathname(e),
			    archive_entry_symlink(e));
			break;
		default:
			n = archive_read_data(a, data, sizeof(data) - 1);
			assert_true(n >= 0);
			data[n] = '\0';
			if (n > 0 && data[n - 1] == '\n')
				data[n - 1] = '\0';
			for (p = data; (p = strchr(p, '\n')) != NULL; p++)
				*p = '|';
			(void)snprintf(line, sizeof(line), "%s file %o %s\n",
			    archive_entry_pathname(e),
			    (unsigned)archive_entry_perm(e), data);
			assert_int_equal(archive_entry_uid(e), 0);
			break;
		}
		(void)strlcat(buf, line, len);
	}
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
}

/* Each expected line is in the listing, and nothing else is. */
static void
assert_listing(const char *listing, const char *const *want)
{
	size_t	 n = 0, lines = 0;
	const char *p;

	for (; want[n] != NULL; n++)
		if (strstr(listing, want[n]) == NULL)
			fail_msg("missing \"%s\" in:\n%s", want[n], listing);
	for (p = listing; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	if (lines != n)
		fail_msg("%zu entries, want %zu:\n%s", lines, n, listing);
}

/* Does the file end in tar's end-of-archive blocks (1024 zero bytes)? */
static int
ends_whole(const char *file)
{
	struct stat	 st;
	char		 tail[1024];
	size_t		 i;
	int		 fd;

	assert_int_equal(stat(file, &st), 0);
	if (st.st_size < (off_t)sizeof(tail))
		return 0;
	assert_true((fd = open(file, O_RDONLY)) != -1);
	assert_int_equal(pread(fd, tail, sizeof(tail),
	    st.st_size - (off_t)sizeof(tail)), (ssize_t)sizeof(tail));
	close(fd);
	for (i = 0; i < sizeof(tail); i++)
		if (tail[i] != '\0')
			return 0;
	return 1;
}

/* --- the tree ------------------------------------------------------------- */

static void
test_tree_round_trip(void **state)
{
	static const char *const want[] = {
		"Dockerfile file 644 FROM berth-base:latest\n",
		"bin/ dir 755\n",
		"bin/run.sh file 755 #!/bin/sh\n",
		"src/ dir 755\n",
		"src/main.c file 644 int main;\n",
		"src/empty file 644 \n",
		"src/deep/ dir 755\n",
		"src/deep/er/ dir 755\n",
		"src/deep/er/x.txt file 600 x\n",
		"src/current link main.c\n",
		"src/up link ../Dockerfile\n",
		"src/winding link deep/er/../../current\n",
		NULL
	};
	struct context_stats	 st;
	char			 path[512], tar[512], err[512], listing[8192];
	int			 dfd;

	(void)state;
	dfd = new_tree(path, sizeof(path));
	put(dfd, "Dockerfile", "FROM berth-base:latest\n", 0644);
	put(dfd, "bin/run.sh", "#!/bin/sh\n", 0755);
	put(dfd, "src/main.c", "int main;\n", 0644);
	put(dfd, "src/empty", "", 0644);
	put(dfd, "src/deep/er/x.txt", "x\n", 0600);
	put(dfd, ".git/config", "[core]\n", 0644);
	put(dfd, "src/.git", "gitdir: ../.git/modules/x\n", 0644);
	assert_int_equal(symlinkat("main.c", dfd, "src/current"), 0);
	assert_int_equal(symlinkat("../Dockerfile", dfd, "src/up"), 0);
	assert_int_equal(symlinkat("deep/er/../../current", dfd,
	    "src/winding"), 0);
	if (write_context(dfd, NULL, tar, sizeof(tar), err, sizeof(err),
	    &st) == -1)
		fail_msg("refused: %s", err);
	list_tar(tar, listing, sizeof(listing));
	assert_listing(listing, want);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 4);
	assert_int_equal(st.symlinks, 3);
	assert_int_equal(st.file_bytes, 23 + 10 + 10 + 0 + 2);
	close(dfd);
}

static void
test_generated_dockerfile(void **state)
{
	static const char *const want[] = {
		".berth.Dockerfile file 644 FROM base\n",
		"index.html file 644 hello\n",
		NULL
	};
	struct context_params	 p;
	struct context_stats	 st;
	char			 path[512], tar[512], err[512], listing[4096];
	int			 dfd;

	(void)state;
	dfd = new_tree(path, sizeof(path));
	put(dfd, "index.html", "hello\n", 0644);
	/* The repository's own file of that name is never sent. */
	put(dfd, ".berth.Dockerfile", "FROM evil\n", 0644);
	memset(&p, 0, sizeof(p));
	p.generated_name = BUILDPACK_DOCKERFILE;
	p.generated = "FROM base\n";
	if (write_context(dfd, &p, tar, sizeof(tar), err, sizeof(err),
	    &st) == -1)
		fail_msg("refused: %s", err);
	list_tar(tar, listing, sizeof(listing));
	assert_listing(listing, want);
	/* It comes first, so a reader finds it before the tree. */
	assert_int_equal(strncmp(listing, ".berth.Dockerfile", 17), 0);
	close(dfd);
}

static void
test_dockerignore_in_walk(void **state)
{
	static const char *const want[] = {
		".dockerignore file 644 *|!build|!node_modules/keep.txt|"
		    "build/*.o\n",
		"build/ dir 755\n",
		"build/Dockerfile file 644 FROM x\n",
		"node_modules/keep.txt file 644 k\n",
		NULL
	};
	struct context_params	 p;
	struct context_stats	 st;
	char			 path[512], tar[512], err[512], listing[4096];
	int			 dfd;

	(void)state;
	dfd = new_tree(path, sizeof(path));
	/* Everything out, one file back; Dockerfile, .dockerignore forced. */
	put(dfd, ".dockerignore", "*\n!build\n!node_modules/keep.txt\n"
	    "build/*.o\n", 0644);
	put(dfd, "build/Dockerfile", "FROM x\n", 0644);
	put(dfd, "build/a.o", "o\n", 0644);
	put(dfd, "node_modules/keep.txt", "k\n", 0644);
	put(dfd, "node_modules/dep/index.js", "js\n", 0644);
	put(dfd, "secret.env", "TOKEN=1\n", 0644);
	/* Left out, so not judged: a link out that is never sent. */
	assert_int_equal(symlinkat("/etc/shadow", dfd, "shadow"), 0);
	memset(&p, 0, sizeof(p));
	p.dockerfile = "build/Dockerfile";
	if (write_context(dfd, &p, tar, sizeof(tar), err, sizeof(err),
	    &st) == -1)
		fail_msg("refused: %s", err);
	list_tar(tar, listing, sizeof(listing));
	assert_listing(listing, want);
	close(dfd);
}

/* --- symlinks ------------------------------------------------------------- */

struct link_case {
	const char	*name;
	const char	*target;
	const char	*error;		/* NULL: kept */
};

static void
test_symlinks(void **state)
{
	static const struct link_case cases[] = {
		{ "a/inside", "../b/file", NULL },
		{ "a/self", ".", NULL },
		{ "a/dangling", "missing/file", NULL },
		{ "a/shadow", "/etc/shadow",
		    "symlink a/shadow points outside the workspace "
		    "(-> /etc/shadow)" },
		{ "a/escape", "../../etc/passwd",
		    "symlink a/escape points outside the workspace "
		    "(-> ../../etc/passwd)" },
		{ "a/sneaky", "../b/../../x", "symlink a/sneaky points" },
		/* Inside as written, but a/self is a/: a/self/../.. is out. */
		{ "a/through", "self/../..",
		    "symlink a/through points outside" },
		/* Through a link that goes up: b/up is the root's parent. */
		{ "b/up", "..", NULL },
		{ "b/upper", "up/..", "symlink b/upper points outside" },
		{ "a/loop1", "loop2", "symlink a/loop1 points outside" },
	};
	struct context_stats	 st;
	char			 path[512], tar[512], err[512];
	size_t			 i;
	int			 dfd;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dfd = new_tree(path, sizeof(path));
		put(dfd, "b/file", "f\n", 0644);
		(void)mkdirat(dfd, "a", 0755);
		if (strcmp(cases[i].name, "a/through") == 0)
			assert_int_equal(symlinkat(".", dfd, "a/self"), 0);
		if (strcmp(cases[i].name, "b/upper") == 0)
			assert_int_equal(symlinkat("..", dfd, "b/up"), 0);
		if (strcmp(cases[i].name, "a/loop1") == 0)
			assert_int_equal(symlinkat("loop1", dfd, "a/loop2"),
			    0);
		assert_int_equal(symlinkat(cases[i].target, dfd,
		    cases[i].name), 0);
		if (write_context(dfd, NULL, tar, sizeof(tar), err,
		    sizeof(err), &st) == 0) {
			if (cases[i].error != NULL)
				fail_msg("%s -> %s kept", cases[i].name,
				    cases[i].target);
			assert_true(ends_whole(tar));
		} else if (cases[i].error == NULL)
			fail_msg("%s -> %s refused: %s", cases[i].name,
			    cases[i].target, err);
		else if (strstr(err, cases[i].error) == NULL)
			fail_msg("%s: got \"%s\"", cases[i].name, err);
		else if (ends_whole(tar))
			fail_msg("%s: a refused stream ends like a whole one",
			    cases[i].name);
		close(dfd);
	}
}

/* --- sizes and memory ----------------------------------------------------- */

static double
seconds(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_sparse_refused(void **state)
{
	struct context_params	 p;
	struct context_stats	 st;
	char			 path[512], tar[512], err[512];
	double			 t0;
	int			 dfd, fd;

	(void)state;
	dfd = new_tree(path, sizeof(path));
	put(dfd, "a.txt", "a\n", 0644);
	assert_true((fd = openat(dfd, "big.img", O_WRONLY | O_CREAT, 0644)) !=
	    -1);
	assert_int_equal(ftruncate(fd, 2LL << 30), 0);
	close(fd);
	memset(&p, 0, sizeof(p));
	p.max_bytes = 1ULL << 30;
	t0 = seconds();
	assert_int_equal(write_context(dfd, &p, tar, sizeof(tar), err,
	    sizeof(err), &st), -1);
	assert_true(seconds() - t0 < 2.0);
	assert_string_equal(err, "big.img: 2147483648 bytes would take the "
	    "context over its limit of 1073741824 bytes");
	/* Nothing of it went out. */
	assert_true(st.tar_bytes < 1 << 20);

	/* The limit counts every file: 2 bytes fit in 2, 3 do not. */
	assert_int_equal(unlinkat(dfd, "big.img", 0), 0);
	p.max_bytes = 2;
	assert_int_equal(write_context(dfd, &p, tar, sizeof(tar), err,
	    sizeof(err), &st), 0);
	put(dfd, "b.txt", "b", 0644);
	assert_int_equal(write_context(dfd, &p, tar, sizeof(tar), err,
	    sizeof(err), &st), -1);
	close(dfd);
}

static long
vm_hwm_kb(void)
{
	char	 buf[4096], *p;
	ssize_t	 n;
	int	 fd;

	assert_true((fd = open("/proc/self/status", O_RDONLY)) != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(p = strstr(buf, "VmHWM:"));
	return strtol(p + 6, NULL, 10);
}

/* Start a new peak: VmHWM from here on. */
static void
vm_hwm_reset(void)
{
	int	 fd;

	assert_true((fd = open("/proc/self/clear_refs", O_WRONLY)) != -1);
	assert_int_equal(write(fd, "5", 1), 1);
	close(fd);
}

static void
test_many_files_bounded(void **state)
{
	struct context_params	 p;
	struct context_stats	 st;
	char			 path[512], name[64], err[512];
	long			 before, after;
	int			 dfd, sub = -1, i, null;

	(void)state;
	dfd = new_tree(path, sizeof(path));
	for (i = 0; i < 10000; i++) {
		if (i % 1000 == 0) {
			(void)snprintf(name, sizeof(name), "d%d", i / 1000);
			assert_int_equal(mkdirat(dfd, name, 0755), 0);
			assert_true((sub = openat(dfd, name, O_RDONLY |
			    O_DIRECTORY)) != -1);
		}
		(void)snprintf(name, sizeof(name), "file-%05d.txt", i);
		put(sub, name, "some small content\n", 0644);
		if (i % 1000 == 999)
			close(sub);
	}
	assert_true((null = open("/dev/null", O_WRONLY)) != -1);
	memset(&p, 0, sizeof(p));
	p.srcfd = dfd;
	p.outfd = null;
	p.max_bytes = 1ULL << 30;
	vm_hwm_reset();
	before = vm_hwm_kb();
	if (context_write(&p, &st, err, sizeof(err)) == -1)
		fail_msg("refused: %s", err);
	after = vm_hwm_kb();
	close(null);
	assert_int_equal(st.files, 10000);
	assert_true(st.tar_bytes > 10000 * 512);
	/*
	 * A buffer and a few directory streams, not the tree (>5 MB).
	 * AddressSanitizer keeps freed memory in quarantine: no bound there.
	 */
#ifndef BERTH_SANITIZE
	if (after - before > 2048)
		fail_msg("peak RSS grew by %ld kB", after - before);
#else
	(void)before;
	(void)after;
#endif
	close(dfd);
}

static void
test_reader_gone(void **state)
{
	struct context_params	 p;
	struct context_stats	 st;
	char			 path[512], err[512], big[8192];
	int			 dfd, fds[2];

	(void)state;
	dfd = new_tree(path, sizeof(path));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(dfd, "f", big, 0644);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	(void)signal(SIGPIPE, SIG_IGN);
	memset(&p, 0, sizeof(p));
	p.srcfd = dfd;
	p.outfd = fds[1];
	p.max_bytes = 1 << 20;
	assert_int_equal(context_write(&p, &st, err, sizeof(err)), -1);
	assert_string_equal(err, "the reader of the stream went away");
	close(fds[1]);
	close(dfd);
}

/* --- .dockerignore -------------------------------------------------------- */

struct ignore_case {
	const char	*patterns;
	const char	*path;
	int		 excluded;
};

static const struct ignore_case ignore_cases[] = {
	/* Docker's documented examples. */
	{ "*/temp*", "somedir/temporary.txt", 1 },
	{ "*/temp*", "somedir/sub/temporary.txt", 0 },
	{ "*/temp*", "temp", 0 },
	{ "*/*/temp*", "somedir/subdir/temporary.txt", 1 },
	{ "temp?", "tempa", 1 },
	{ "temp?", "tempab", 0 },
	{ "temp?", "tempa/inner.txt", 1 },	/* a parent matches */
	{ "**/*.go", "a/b/c.go", 1 },
	{ "**/*.go", "c.go", 1 },
	{ "*.md\n!README*.md\nREADME-secret.md", "README.md", 0 },
	{ "*.md\n!README*.md\nREADME-secret.md", "README-secret.md", 1 },
	{ "*.md\n!README*.md\nREADME-secret.md", "docs/x.md", 0 },
	{ "*.md\nREADME-secret.md\n!README*.md", "README-secret.md", 0 },
	/* Patterns are anchored at the root, * stays in one name. */
	{ "*.md", "README.md", 1 },
	{ "*.md", "docs/README.md", 0 },
	{ "node_modules", "node_modules", 1 },
	{ "node_modules", "node_modules/a/b.js", 1 },
	{ "node_modules", "app/node_modules/a.js", 0 },
	{ "**/node_modules", "app/node_modules/a.js", 1 },
	{ "docs/**", "docs", 0 },
	{ "docs/**", "docs/a/b", 1 },
	{ "foo/**/bar", "foo/bar", 1 },
	{ "foo/**/bar", "foo/x/y/bar", 1 },
	{ "foo/**/bar", "foo/xbar", 0 },
	{ "**", "anything/at/all", 1 },
	/* Cleaning, comments, spaces. */
	{ "/secret", "secret", 1 },
	{ "./a/../secret/", "secret/key", 1 },
	{ "  spaced.txt  ", "spaced.txt", 1 },
	{ "# comment.txt", "# comment.txt", 0 },
	{ " # not a comment", "# not a comment", 1 },
	{ "\n\n\r\nx\r\n", "x", 1 },
	{ "\xef\xbb\xbf" "bom", "bom", 1 },
	/* Classes and escapes. */
	{ "[a-c].txt", "b.txt", 1 },
	{ "[a-c].txt", "d.txt", 0 },
	{ "[^a-c].txt", "d.txt", 1 },
	{ "[!a-c].txt", "a.txt", 0 },
	{ "\\*.txt", "*.txt", 1 },
	{ "\\*.txt", "a.txt", 0 },
	{ "a?c", "a/c", 0 },
	/* Order: the last pattern that matches decides. */
	{ "!keep\nkeep", "keep", 1 },
	{ "keep\n!keep", "keep", 0 },
	{ "dir\n!dir/keep", "dir/keep", 0 },
	{ "dir\n!dir/keep", "dir/other", 1 },
};

static void
test_ignore_table(void **state)
{
	struct dockerignore	*ign;
	char			 err[256];
	size_t			 i;
	int			 got;

	(void)state;
	for (i = 0; i < sizeof(ignore_cases) / sizeof(ignore_cases[0]); i++) {
		const struct ignore_case *c = &ignore_cases[i];

		ign = dockerignore_parse(c->patterns, strlen(c->patterns),
		    err, sizeof(err));
		if (ign == NULL)
			fail_msg("\"%s\": %s", c->patterns, err);
		got = dockerignore_excluded(ign, c->path);
		if (got != c->excluded)
			fail_msg("patterns \"%s\", path \"%s\": excluded %d, "
			    "want %d", c->patterns, c->path, got,
			    c->excluded);
		dockerignore_free(ign);
	}
}

static void
test_ignore_bad(void **state)
{
	char	 err[256];

	(void)state;
	assert_null(dockerignore_parse("ok\n[abc\n", 9, err, sizeof(err)));
	assert_string_equal(err, ".dockerignore line 2: bad pattern");
	assert_null(dockerignore_parse("x\\", 2, err, sizeof(err)));
	assert_string_equal(err, ".dockerignore line 1: bad pattern");
	/* Worst case for a backtracking matcher: fast here. */
	assert_int_equal(dockerignore_match("*a*a*a*a*a*a*a*a*a*a*a*a*b",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    0);
	assert_int_equal(dockerignore_match("**/**/**/**/**/**/**/x",
	    "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/y"), 0);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_round_trip),
		cmocka_unit_test(test_generated_dockerfile),
		cmocka_unit_test(test_dockerignore_in_walk),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_sparse_refused),
		cmocka_unit_test(test_many_files_bounded),
		cmocka_unit_test(test_reader_gone),
		cmocka_unit_test(test_ignore_table),
		cmocka_unit_test(test_ignore_bad),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
