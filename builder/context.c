/*
 * context.c: the build context, written as a tar stream into a pipe by a
 * build child, from the checkout it holds.  The checkout is untrusted:
 * every name is opened relative to its directory's descriptor with
 * O_NOFOLLOW, a symlink is kept as a symlink and refused (with its path)
 * when it leads out of the checkout, files are counted against the size
 * limit before a byte of them is sent, and the tree is never held in
 * memory: one directory per level is open, one buffer is reused.
 *
 * .dockerignore follows Docker's rules (docker/cli's ReadAll and
 * moby/patternmatcher): one pattern a line, '#' starts a comment, a
 * leading '!' brings back what an earlier pattern left out, a pattern
 * is cleaned like a path and matched against the path relative to the
 * context root with * (within one name), ? [..] and ** (any number of
 * names), and it also matches everything below a directory it matches.
 * The last pattern that matches decides.  .dockerignore and the
 * Dockerfile are always sent.  .git is never sent.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "builder.h"

#define IGNORE_FILE		".dockerignore"
#define IGNORE_TEXT_MAX		(256 * 1024)
#define IGNORE_PATTERNS_MAX	4096
#define IGNORE_PATTERN_LEN	1024
#define WALK_DEPTH_MAX		128
#define LINK_HOPS_MAX		40	/* the kernel's own limit */
#define IO_BUF_SIZE		(64 * 1024)

struct ignore_pattern {
	char	*text;		/* cleaned, without the '!' */
	int	 reinclude;	/* it had a leading '!' */
};

struct dockerignore {
	struct ignore_pattern	*patterns;
	size_t			 n, size;
};

/* --- matching ------------------------------------------------------------- */

enum token {
	TOK_CHAR,		/* one literal byte */
	TOK_ONE,		/* ?: one byte but '/' */
	TOK_CLASS,		/* [...] */
	TOK_STAR,		/* *: any bytes but '/' */
	TOK_ANY,		/* ** at the end: anything */
	TOK_DIRS		/* ** before more: "" or anything to a '/' */
};

/*
 * The token at p: its kind, and where it ends.  NULL for a malformed
 * pattern (an unclosed class, a trailing backslash).
 */
static const char *
next_token(const char *p, enum token *tok, const char **start)
{
	*start = p;
	switch (*p) {
	case '*':
		if (p[1] != '*') {
			*tok = TOK_STAR;
			return p + 1;
		}
		p += 2;
		if (*p == '/')
			p++;
		*tok = *p == '\0' ? TOK_ANY : TOK_DIRS;
		return p;
	case '?':
		*tok = TOK_ONE;
		return p + 1;
	case '[':
		*tok = TOK_CLASS;
		p++;
		if (*p == '^' || *p == '!')
			p++;
		if (*p == ']')
			p++;
		for (; *p != ']'; p++) {
			if (*p == '\0')
				return NULL;
			if (*p == '\\' && *++p == '\0')
				return NULL;
		}
		return p + 1;
	case '\\':
		if (p[1] == '\0')
			return NULL;
		*start = p + 1;
		*tok = TOK_CHAR;
		return p + 2;
	default:
		*tok = TOK_CHAR;
		return p + 1;
	}
}

/* Does c fall in the class [start, end) ("[...]")? */
static int
class_match(const char *p, const char *end, unsigned char c)
{
	unsigned char	 lo, hi;
	int		 negate = 0, in = 0;

	p++;
	end--;			/* the closing ']' */
	if (*p == '^' || *p == '!') {
		negate = 1;
		p++;
	}
	for (; p < end; p++) {
		if (*p == '\\')
			p++;
		lo = hi = (unsigned char)*p;
		if (p + 2 < end && p[1] == '-') {
			p += 2;
			if (*p == '\\')
				p++;
			hi = (unsigned char)*p;
		}
		if (c >= lo && c <= hi)
			in = 1;
	}
	return in != negate;
}

static int
token_takes(enum token tok, const char *start, const char *end,
    unsigned char c)
{
	switch (tok) {
	case TOK_CHAR:
		return (unsigned char)*start == c;
	case TOK_ONE:
		return c != '/';
	case TOK_CLASS:
		return class_match(start, end, c);
	default:
		return 0;
	}
}

/*
 * One step of the match table: from cur (which prefixes of the path
 * match the pattern so far) to next, for one more token.
 */
static void
match_step(enum token tok, const char *start, const char *end,
    const char *path, size_t len, const unsigned char *cur,
    unsigned char *next)
{
	size_t	 j;
	int	 seen = 0;

	for (j = 0; j <= len; j++) {
		switch (tok) {
		case TOK_STAR:
			next[j] = cur[j] || (j > 0 && next[j - 1] &&
			    path[j - 1] != '/');
			break;
		case TOK_ANY:
			next[j] = cur[j] || (j > 0 && next[j - 1]);
			break;
		case TOK_DIRS:
			next[j] = cur[j] || (j > 0 && seen &&
			    path[j - 1] == '/');
			break;
		default:
			next[j] = j > 0 && cur[j - 1] &&
			    token_takes(tok, start, end,
			    (unsigned char)path[j - 1]);
			break;
		}
		/* TOK_DIRS: some shorter prefix matched before this one. */
		seen |= cur[j];
	}
}

/*
 * Docker's pattern language, without regular expressions or
 * backtracking: a table of which prefixes of the path the pattern
 * matches, one pattern token at a time, so any pattern costs at most
 * tokens x path length.  NULL for a malformed pattern; else the table,
 * a or b: entry j says whether the pattern matches path[0..j).
 */
static const unsigned char *
match_table(const char *pattern, const char *path, size_t len,
    unsigned char *a, unsigned char *b)
{
	unsigned char	*cur = a, *next = b, *swap;
	const char	*p = pattern, *start, *end;
	enum token	 tok;

	memset(cur, 0, len + 1);
	cur[0] = 1;
	while (*p != '\0') {
		if ((end = next_token(p, &tok, &start)) == NULL)
			return NULL;
		match_step(tok, start, end, path, len, cur, next);
		swap = cur;
		cur = next;
		next = swap;
		p = end;
	}
	return cur;
}

int
dockerignore_match(const char *pattern, const char *path)
{
	unsigned char		 a[PATH_MAX + 1], b[PATH_MAX + 1];
	const unsigned char	*t;
	size_t			 len = strlen(path);

	if (len > PATH_MAX ||
	    (t = match_table(pattern, path, len, a, b)) == NULL)
		return 0;
	return t[len];
}

/*
 * The pattern matches the path or one of the directories above it.
 * The directories are prefixes of the path ending before a '/', so one
 * table answers for all of them.
 */
static int
match_or_parent(const char *pattern, const char *path)
{
	unsigned char		 a[PATH_MAX + 1], b[PATH_MAX + 1];
	const unsigned char	*t;
	size_t			 len = strlen(path), j;

	if (len > PATH_MAX ||
	    (t = match_table(pattern, path, len, a, b)) == NULL)
		return 0;
	if (t[len])
		return 1;
	for (j = 1; j < len; j++)
		if (path[j] == '/' && t[j])
			return 1;
	return 0;
}

int
dockerignore_excluded(const struct dockerignore *ign, const char *path)
{
	size_t	 i;
	int	 excluded = 0;

	if (ign == NULL)
		return 0;
	for (i = 0; i < ign->n; i++) {
		/* Only a pattern that could change the answer is tried. */
		if (ign->patterns[i].reinclude != excluded)
			continue;
		if (match_or_parent(ign->patterns[i].text, path))
			excluded = !ign->patterns[i].reinclude;
	}
	return excluded;
}

/*
 * Could some "!" pattern bring back a path below the excluded directory
 * dir?  Its first names must match dir's names one by one (or a **
 * come first); if it runs out first, it names dir or a parent.
 */
static int
may_match_below(const char *pattern, const char *dir)
{
	char		 pname[IGNORE_PATTERN_LEN], dname[NAME_MAX + 1];
	const char	*p = pattern, *d = dir, *pe, *de;
	size_t		 plen, dlen;

	for (;;) {
		pe = strchr(p, '/');
		plen = pe != NULL ? (size_t)(pe - p) : strlen(p);
		de = strchr(d, '/');
		dlen = de != NULL ? (size_t)(de - d) : strlen(d);
		if (plen >= sizeof(pname) || dlen >= sizeof(dname))
			return 1;
		memcpy(pname, p, plen);
		pname[plen] = '\0';
		memcpy(dname, d, dlen);
		dname[dlen] = '\0';
		if (strstr(pname, "**") != NULL)
			return 1;
		if (!dockerignore_match(pname, dname))
			return 0;
		if (de == NULL || pe == NULL)
			return 1;
		p = pe + 1;
		d = de + 1;
	}
}

static int
may_reinclude_below(const struct dockerignore *ign, const char *dir)
{
	size_t	 i;

	if (ign == NULL)
		return 0;
	for (i = 0; i < ign->n; i++)
		if (ign->patterns[i].reinclude &&
		    may_match_below(ign->patterns[i].text, dir))
			return 1;
	return 0;
}

int
dockerignore_has_exceptions(const struct dockerignore *ign)
{
	size_t	 i;

	for (i = 0; ign != NULL && i < ign->n; i++)
		if (ign->patterns[i].reinclude)
			return 1;
	return 0;
}

/* --- parsing -------------------------------------------------------------- */

/*
 * Go's filepath.Clean, then a leading '/' dropped: patterns are relative
 * to the context root whichever way they are written.
 */
static void
clean_pattern(char *s)
{
	char	*out = s, *p = s, *slash;
	size_t	 len, keep = 0;		/* leading ".." that cannot go */
	int	 rooted = *s == '/';

	if (rooted)
		p++;
	while (*p != '\0') {
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		len = (size_t)(slash - p);
		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (out - s > (ptrdiff_t)keep) {
				while (out > s + keep && *--out != '/')
					;
			} else if (!rooted) {
				if (out != s)
					*out++ = '/';
				memcpy(out, "..", 2);
				out += 2;
				keep = (size_t)(out - s);
			}
		} else {
			if (out != s)
				*out++ = '/';
			memmove(out, p, len);
			out += len;
		}
		p = *slash != '\0' ? slash + 1 : slash;
	}
	*out = '\0';
	if (s[0] == '\0' && !rooted)
		(void)strlcpy(s, ".", 2);
}

static int
ignore_add(struct dockerignore *ign, const char *text, int reinclude)
{
	struct ignore_pattern	*np;
	size_t			 size;

	if (ign->n == ign->size) {
		size = ign->size == 0 ? 16 : ign->size * 2;
		if ((np = reallocarray(ign->patterns, size,
		    sizeof(*np))) == NULL)
			return -1;
		ign->patterns = np;
		ign->size = size;
	}
	if ((ign->patterns[ign->n].text = strdup(text)) == NULL)
		return -1;
	ign->patterns[ign->n++].reinclude = reinclude;
	return 0;
}

static int
pattern_valid(const char *p)
{
	const char	*start;
	enum token	 tok;

	while (*p != '\0')
		if ((p = next_token(p, &tok, &start)) == NULL)
			return 0;
	return 1;
}

/* One line of .dockerignore into ign; 0, or -1 with err. */
static int
parse_line(struct dockerignore *ign, char *line, size_t lineno, char *err,
    size_t errlen)
{
	char	*p = line, *end;
	int	 reinclude = 0;

	if (line[0] == '#')
		return 0;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	p += strspn(p, " \t");
	if (*p == '!') {
		reinclude = 1;
		p++;
		p += strspn(p, " \t");
	}
	if (*p == '\0')
		return 0;
	if (strlen(p) >= IGNORE_PATTERN_LEN || !pattern_valid(p)) {
		builder_errset(err, errlen, "%s line %zu: bad pattern", IGNORE_FILE,
		    lineno);
		return -1;
	}
	clean_pattern(p);
	if (p[0] == '/' && p[1] != '\0')
		p++;
	if (ign->n >= IGNORE_PATTERNS_MAX) {
		builder_errset(err, errlen, "%s: more than %d patterns", IGNORE_FILE,
		    IGNORE_PATTERNS_MAX);
		return -1;
	}
	if (ignore_add(ign, p, reinclude) == -1) {
		builder_errset(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct dockerignore *
dockerignore_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct dockerignore	*ign;
	char			*copy, *line, *next;
	size_t			 lineno = 0;

	if ((ign = calloc(1, sizeof(*ign))) == NULL ||
	    (copy = malloc(len + 1)) == NULL) {
		free(ign);
		builder_errset(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	/* A byte-order mark, as some editors write one. */
	line = strncmp(copy, "\xef\xbb\xbf", 3) == 0 ? copy + 3 : copy;
	for (; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (parse_line(ign, line, lineno, err, errlen) == -1) {
			free(copy);
			dockerignore_free(ign);
			return NULL;
		}
	}
	free(copy);
	return ign;
}

void
dockerignore_free(struct dockerignore *ign)
{
	size_t	 i;

	if (ign == NULL)
		return;
	for (i = 0; i < ign->n; i++)
		free(ign->patterns[i].text);
	free(ign->patterns);
	free(ign);
}

/* --- symlinks ------------------------------------------------------------- */

/* Drop the last name of a relative path ("" is the root). */
static void
path_pop(char *path)
{
	char	*slash;

	if ((slash = strrchr(path, '/')) != NULL)
		*slash = '\0';
	else
		path[0] = '\0';
}

/*
 * Follow the symlink at relpath as the kernel would, name by name from
 * the context root, reading each link met on the way: 0 if every step
 * stays inside the root, -1 if one leaves it (an absolute target, a ".."
 * above the root) or the links loop.  Missing names are taken as they
 * are written, which can only err on the side of refusing.
 */
static int
link_stays_inside(int rootfd, const char *relpath, char *target,
    size_t targetlen)
{
	char		 cur[PATH_MAX], todo[PATH_MAX], rest[PATH_MAX];
	char		 link[PATH_MAX];
	struct stat	 st;
	const char	*name;
	char		*slash;
	ssize_t		 n;
	int		 hops = 0;

	(void)strlcpy(cur, relpath, sizeof(cur));
	if ((n = readlinkat(rootfd, cur, link, sizeof(link) - 1)) == -1)
		return -1;
	link[n] = '\0';
	(void)strlcpy(target, link, targetlen);
	path_pop(cur);
	(void)strlcpy(todo, link, sizeof(todo));
	for (;;) {
		if (todo[0] == '/')
			return -1;
		if (todo[0] == '\0')
			return 0;
		name = todo;
		rest[0] = '\0';
		if ((slash = strchr(todo, '/')) != NULL) {
			*slash = '\0';
			(void)strlcpy(rest, slash + 1, sizeof(rest));
		}
		if (strcmp(name, "..") == 0) {
			if (cur[0] == '\0')
				return -1;
			path_pop(cur);
		} else if (name[0] != '\0' && strcmp(name, ".") != 0) {
			if ((cur[0] != '\0' && strlcat(cur, "/", sizeof(cur)) >=
			    sizeof(cur)) || strlcat(cur, name, sizeof(cur)) >=
			    sizeof(cur))
				return -1;
			if (fstatat(rootfd, cur, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				if (++hops > LINK_HOPS_MAX)
					return -1;
				n = readlinkat(rootfd, cur, link,
				    sizeof(link) - 1);
				if (n == -1)
					return -1;
				link[n] = '\0';
				path_pop(cur);
				/* The link's target, then what followed it. */
				if (snprintf(todo, sizeof(todo), "%s%s%s", link,
				    rest[0] != '\0' ? "/" : "", rest) >=
				    (int)sizeof(todo))
					return -1;
				continue;
			}
		}
		(void)strlcpy(todo, rest, sizeof(todo));
	}
}

/* --- the tar stream ------------------------------------------------------- */

struct walk {
	const struct context_params *p;
	struct context_stats	*st;
	struct archive		*a;
	struct archive_entry	*entry;
	struct dockerignore	*ign;
	char			 path[PATH_MAX];
	size_t			 pathlen;
	char			*buf;
	int			 depth;
	int			 stopped;	/* write nothing more */
	int			 write_errno;
	char			*err;
	size_t			 errlen;
};

static la_ssize_t
tar_write(struct archive *a, void *arg, const void *data, size_t len)
{
	struct walk	*w = arg;
	const char	*p = data;
	size_t		 off = 0;
	ssize_t		 n;

	if (w->stopped) {
		archive_set_error(a, ECANCELED, "stream stopped");
		return -1;
	}
	while (off < len) {
		if ((n = write(w->p->outfd, p + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			w->write_errno = errno;
			archive_set_error(a, errno, "writing the stream");
			return -1;
		}
		off += (size_t)n;
	}
	w->st->tar_bytes += len;
	return (la_ssize_t)len;
}

static int
tar_fail(struct walk *w, const char *what)
{
	if (w->write_errno == EPIPE)
		builder_errset(w->err, w->errlen, "the reader of the stream went "
		    "away");
	else
		builder_errset(w->err, w->errlen, "%s %s: %s", what, w->path,
		    archive_error_string(w->a) != NULL ?
		    archive_error_string(w->a) : "tar error");
	return -1;
}

/* A header with what every entry shares: owner 0, the file's times. */
static void
entry_init(struct walk *w, const char *path, const struct stat *sb,
    mode_t type, mode_t perm)
{
	archive_entry_clear(w->entry);
	archive_entry_set_pathname(w->entry, path);
	archive_entry_set_filetype(w->entry, type);
	archive_entry_set_perm(w->entry, perm);
	archive_entry_set_uid(w->entry, 0);
	archive_entry_set_gid(w->entry, 0);
	if (sb != NULL)
		archive_entry_set_mtime(w->entry, sb->st_mtim.tv_sec,
		    sb->st_mtim.tv_nsec);
	else
		archive_entry_set_mtime(w->entry, time(NULL), 0);
}

static int
add_generated(struct walk *w)
{
	size_t	 len = strlen(w->p->generated);

	entry_init(w, w->p->generated_name, NULL, AE_IFREG, 0644);
	archive_entry_set_size(w->entry, (la_int64_t)len);
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK ||
	    archive_write_data(w->a, w->p->generated, len) != (la_ssize_t)len)
		return tar_fail(w, "generated");
	w->st->files++;
	return 0;
}

/* Copy exactly size bytes of fd into the archive. */
static int
copy_file(struct walk *w, int fd, off_t size)
{
	off_t	 left = size;
	ssize_t	 n;

	while (left > 0) {
		n = read(fd, w->buf, left < IO_BUF_SIZE ? (size_t)left :
		    IO_BUF_SIZE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			builder_errset(w->err, w->errlen, "%s: %s while reading",
			    w->path, n == 0 ? "shrank" : strerror(errno));
			return -1;
		}
		if (archive_write_data(w->a, w->buf, (size_t)n) != n)
			return tar_fail(w, "writing");
		left -= n;
	}
	return 0;
}

static int
add_file(struct walk *w, int dirfd, const char *name, const struct stat *sb)
{
	struct stat	 st;
	int		 fd, rc;

	/* Counted before a byte is read: a huge (sparse) file costs nothing. */
	if ((uint64_t)sb->st_size > w->p->max_bytes - w->st->file_bytes) {
		builder_errset(w->err, w->errlen, "%s: %lld bytes would take the "
		    "context over its limit of %llu bytes", w->path,
		    (long long)sb->st_size,
		    (unsigned long long)w->p->max_bytes);
		return -1;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		builder_errset(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_ino != sb->st_ino || st.st_size != sb->st_size) {
		close(fd);
		builder_errset(w->err, w->errlen, "%s changed while being read",
		    w->path);
		return -1;
	}
	entry_init(w, w->path, &st, AE_IFREG, st.st_mode & 0777);
	archive_entry_set_size(w->entry, st.st_size);
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
		rc = tar_fail(w, "header for");
	else
		rc = copy_file(w, fd, st.st_size);
	close(fd);
	if (rc == 0) {
		w->st->files++;
		w->st->file_bytes += (uint64_t)st.st_size;
	}
	return rc;
}

static int
add_symlink(struct walk *w, const struct stat *sb)
{
	char	 target[PATH_MAX], shown[PATH_MAX];

	target[0] = '\0';
	if (link_stays_inside(w->p->srcfd, w->path, target,
	    sizeof(target)) == -1) {
		(void)strlcpy(shown, target, sizeof(shown));
		build_text_clean(shown);
		builder_errset(w->err, w->errlen, "symlink %s points outside the "
		    "workspace (-> %.200s)", w->path, shown);
		return -1;
	}
	entry_init(w, w->path, sb, AE_IFLNK, 0777);
	archive_entry_set_symlink(w->entry, target);
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
		return tar_fail(w, "header for");
	w->st->symlinks++;
	return 0;
}

static int	 walk_dir(struct walk *, int);

static int
enter_dir(struct walk *w, int dirfd, const char *name, const struct stat *sb,
    int excluded)
{
	int	 fd;

	if (w->depth >= WALK_DEPTH_MAX) {
		builder_errset(w->err, w->errlen, "%s: directories nested deeper than "
		    "%d", w->path, WALK_DEPTH_MAX);
		return -1;
	}
	if (!excluded) {
		entry_init(w, w->path, sb, AE_IFDIR, sb->st_mode & 0777);
		if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
			return tar_fail(w, "header for");
		w->st->dirs++;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		builder_errset(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		return -1;
	}
	w->depth++;
	if (walk_dir(w, fd) == -1)
		return -1;
	w->depth--;
	return 0;
}

/* Dockerfile and .dockerignore go in whatever the patterns say. */
static int
forced(const struct walk *w)
{
	return strcmp(w->path, IGNORE_FILE) == 0 ||
	    (w->p->dockerfile != NULL &&
	    strcmp(w->path, w->p->dockerfile) == 0);
}

static int
add_entry(struct walk *w, int dirfd, const char *name)
{
	struct stat	 sb;
	int		 excluded;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		builder_errset(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		return -1;
	}
	excluded = !forced(w) && dockerignore_excluded(w->ign, w->path);
	if (S_ISDIR(sb.st_mode)) {
		if (excluded && !may_reinclude_below(w->ign, w->path)) {
			w->st->excluded++;
			return 0;
		}
		return enter_dir(w, dirfd, name, &sb, excluded);
	}
	if (excluded) {
		w->st->excluded++;
		return 0;
	}
	if (S_ISREG(sb.st_mode))
		return add_file(w, dirfd, name, &sb);
	if (S_ISLNK(sb.st_mode))
		return add_symlink(w, &sb);
	builder_errset(w->err, w->errlen, "%s is not a file, directory or symlink",
	    w->path);
	return -1;
}

/* Names the walk never sends: git's, and our generated Dockerfile's. */
static int
skipped(const struct walk *w, const char *name)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, ".git") == 0)
		return 1;
	return w->depth == 0 && w->p->generated_name != NULL &&
	    strcmp(name, w->p->generated_name) == 0;
}

/* Every entry of the directory dirfd (consumed), depth first. */
static int
walk_dir(struct walk *w, int dirfd)
{
	struct dirent	*de;
	DIR		*dir;
	size_t		 saved = w->pathlen, len;
	int		 rc = 0;

	if ((dir = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		builder_errset(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(dir)) != NULL) {
		if (skipped(w, de->d_name))
			continue;
		len = strlen(de->d_name);
		if (saved + 1 + len >= sizeof(w->path)) {
			builder_errset(w->err, w->errlen, "%s/%s: path too long",
			    w->path, de->d_name);
			rc = -1;
			break;
		}
		if (saved > 0)
			w->path[w->pathlen++] = '/';
		memcpy(w->path + w->pathlen, de->d_name, len + 1);
		w->pathlen += len;
		rc = add_entry(w, dirfd, de->d_name);
		w->pathlen = saved;
		w->path[saved] = '\0';
	}
	if (rc == 0 && errno != 0) {
		builder_errset(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		rc = -1;
	}
	closedir(dir);
	return rc;
}

/* .dockerignore of the checkout, or none. */
static int
load_ignore(struct walk *w)
{
	struct stat	 st;
	char		*text;
	ssize_t		 n;
	int		 fd;

	if ((fd = openat(w->p->srcfd, IGNORE_FILE, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		builder_errset(w->err, w->errlen, "%s: %s", IGNORE_FILE,
		    errno == ELOOP ? "is a symlink" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > IGNORE_TEXT_MAX) {
		close(fd);
		builder_errset(w->err, w->errlen, "%s: not a regular file of at most "
		    "%d bytes", IGNORE_FILE, IGNORE_TEXT_MAX);
		return -1;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL ||
	    (n = read(fd, text, (size_t)st.st_size + 1)) != st.st_size) {
		free(text);
		close(fd);
		builder_errset(w->err, w->errlen, "%s: cannot read it", IGNORE_FILE);
		return -1;
	}
	close(fd);
	w->ign = dockerignore_parse(text, (size_t)n, w->err, w->errlen);
	free(text);
	if (w->ign == NULL)
		return -1;
	/* As docker build does: these two are sent whatever it says. */
	if ((dockerignore_excluded(w->ign, IGNORE_FILE) &&
	    ignore_add(w->ign, IGNORE_FILE, 1) == -1) ||
	    (w->p->dockerfile != NULL &&
	    dockerignore_excluded(w->ign, w->p->dockerfile) &&
	    ignore_add(w->ign, w->p->dockerfile, 1) == -1)) {
		builder_errset(w->err, w->errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
walk_all(struct walk *w)
{
	int	 fd;

	if (load_ignore(w) == -1)
		return -1;
	if (w->p->generated_name != NULL && add_generated(w) == -1)
		return -1;
	/* The walk consumes its descriptor; the caller keeps srcfd. */
	if ((fd = openat(w->p->srcfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		builder_errset(w->err, w->errlen, "checkout: %s", strerror(errno));
		return -1;
	}
	if (walk_dir(w, fd) == -1)
		return -1;
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return tar_fail(w, "closing");
	return 0;
}

int
context_write(const struct context_params *p, struct context_stats *st,
    char *err, size_t errlen)
{
	struct walk	 w;
	int		 rc = -1;

	memset(st, 0, sizeof(*st));
	memset(&w, 0, sizeof(w));
	w.p = p;
	w.st = st;
	w.err = err;
	w.errlen = errlen;
	if ((w.buf = malloc(IO_BUF_SIZE)) == NULL ||
	    (w.entry = archive_entry_new()) == NULL ||
	    (w.a = archive_write_new()) == NULL) {
		builder_errset(err, errlen, "out of memory");
		goto out;
	}
	/* ustar, with pax headers only for what ustar cannot say. */
	if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
	    archive_write_open(w.a, &w, NULL, tar_write, NULL) != ARCHIVE_OK) {
		builder_errset(err, errlen, "tar: %s", archive_error_string(w.a));
		goto out;
	}
	rc = walk_all(&w);
 out:
	/*
	 * A failed stream must not end in a trailer that looks whole: the
	 * writer is stopped, then closed (which frees its buffers, where
	 * archive_write_fail() would leak them).
	 */
	w.stopped = rc == -1;
	if (w.a != NULL)
		archive_write_free(w.a);
	archive_entry_free(w.entry);
	dockerignore_free(w.ign);
	free(w.buf);
	return rc;
}
