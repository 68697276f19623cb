/*
 * buildreq.c: the one reader and the one writer of each builder message
 * (shapes in buildreq.h), and the repository URL check the builder and
 * its build children apply again before git runs.  Linked into the
 * parent and the builder; it allocates memory and nothing else: no
 * files, no sockets.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth.h"
#include "buildreq.h"

#define PATH_LEN	96	/* "allow.url_prefixes[15]" and the like */
#define QUOTE_LEN	80

struct dctx {
	char	*err;
	size_t	 errlen;
};

static const char *const kind_names[BUILD_KIND_MAX + 1] = {
	[BUILD_KIND_DOCKERFILE] = "dockerfile",
	[BUILD_KIND_NODE] = "node",
	[BUILD_KIND_PYTHON] = "python",
	[BUILD_KIND_GO] = "go",
	[BUILD_KIND_RUBY] = "ruby",
	[BUILD_KIND_PHP] = "php",
	[BUILD_KIND_STATIC] = "static",
	NULL
};

static const char *const stage_names[BUILD_STAGE_MAX + 1] = {
	[BUILD_STAGE_REQUEST] = "request",
	[BUILD_STAGE_CLONE] = "clone",
	[BUILD_STAGE_DETECT] = "detect",
	[BUILD_STAGE_CONTEXT] = "context",
	NULL
};

const char *
build_kind_name(enum build_kind kind)
{
	if ((unsigned int)kind >= BUILD_KIND_MAX)
		return "none";
	return kind_names[kind];
}

const char *
build_stage_name(enum build_stage stage)
{
	if ((unsigned int)stage >= BUILD_STAGE_MAX)
		return "none";
	return stage_names[stage];
}

/* --- errors --------------------------------------------------------------- */

static int	 fail(struct dctx *, const char *, const char *, ...)
		    __attribute__((__format__(printf, 3, 4)));

static int
fail(struct dctx *ctx, const char *path, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[256];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->errlen > 0)
		(void)snprintf(ctx->err, ctx->errlen, "%s: %s", path, msg);
	return -1;
}

/*
 * A string for an error message: quoted, cut at QUOTE_LEN bytes, and
 * anything but printable ASCII escaped, since it goes to logs.
 */
static const char *
quote(const char *s, char *buf, size_t len)
{
	size_t	 o = 0, shown = 0;

	buf[o++] = '"';
	for (; *s != '\0' && o + 8 < len; s++, shown++) {
		if (shown == QUOTE_LEN - 3) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '\\')
			o += snprintf(buf + o, len - o, "\\x%02x",
			    (unsigned char)*s);
		else
			buf[o++] = *s;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* --- character sets ------------------------------------------------------- */

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
all_in(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!is_alnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return 0;
	return 1;
}

static const char *
check_task(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	return all_in(s, "_.:-") ? NULL : "may hold only A-Z a-z 0-9 _ . : -";
}

/* A refusal may come before the task is known: "" is allowed there. */
static const char *
check_task_or_empty(const char *s)
{
	return s[0] == '\0' ? NULL : check_task(s);
}

static const char *
check_app(const char *s)
{
	const char	*p;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return "must match [a-z0-9][a-z0-9_.-]*";
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '.' || *p == '-'))
			return "must match [a-z0-9][a-z0-9_.-]*";
	return NULL;
}

static const char *
check_commit(const char *s)
{
	size_t	 i;

	if (s[0] == '\0')
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			break;
	if (i != BUILD_COMMIT_LEN - 1 || s[i] != '\0')
		return "must be 40 lower-case hex digits";
	return NULL;
}

static const char *
check_commit_required(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	return check_commit(s);
}

/*
 * A slash-separated relative name: no empty, "." or ".." component, not
 * absolute, no trailing slash.  Shared by refs and repository paths.
 */
static int
relative_normalised(const char *s)
{
	const char	*p = s, *end;
	size_t		 len;

	if (s[0] == '\0' || s[0] == '/')
		return 0;
	for (;;) {
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (end == NULL)
			return 1;
		p = end + 1;
	}
}

/*
 * A branch, a tag or a full ref: what git check-ref-format allows, cut
 * down to a plain character set, and never an option ("-...").
 */
static const char *
check_ref(const char *s)
{
	size_t	 len = strlen(s);

	if (len == 0)
		return NULL;
	if (!all_in(s, "._/-") || s[0] == '-' || s[0] == '.' ||
	    strstr(s, "..") != NULL || strstr(s, "/.") != NULL ||
	    !relative_normalised(s) || s[len - 1] == '.' ||
	    (len >= 5 && strcmp(s + len - 5, ".lock") == 0))
		return "is not a plain branch, tag or ref name";
	return NULL;
}

static const char *
check_relpath(const char *s)
{
	if (s[0] == '\0')
		return NULL;
	if (!all_in(s, "._/-+@") || s[0] == '-')
		return "may hold only A-Z a-z 0-9 . _ / - + @ and not start "
		    "with -";
	if (!relative_normalised(s))
		return "must be a relative path without . or .. components";
	return NULL;
}

static const char *
check_relpath_required(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	return check_relpath(s);
}

/* repo[:tag] or repo@sha256:hex, each '/' component starting alnum. */
static const char *
check_image(const char *s)
{
	const char	*p;

	if (s[0] == '\0')
		return NULL;
	if (!all_in(s, "._/:@-"))
		return "may hold only A-Z a-z 0-9 . _ / : @ -";
	if (!is_alnum((unsigned char)s[0]))
		return "must start each / component with a letter or digit";
	for (p = strchr(s, '/'); p != NULL; p = strchr(p + 1, '/'))
		if (!is_alnum((unsigned char)p[1]))
			return "must start each / component with a letter "
			    "or digit";
	return NULL;
}

/* Log and error text: printable ASCII only, so it is safe in any log. */
static const char *
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return "must be printable ASCII";
	return NULL;
}

void
build_text_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* --- URLs ----------------------------------------------------------------- */

enum url_scheme { URL_HTTPS, URL_GIT, URL_SSH, URL_FILE, URL_NONE };

static const struct {
	const char	*prefix;
	enum url_scheme	 scheme;
} url_schemes[] = {
	{ "https://",	URL_HTTPS },
	{ "git://",	URL_GIT },
	{ "ssh://",	URL_SSH },
	{ "file://",	URL_FILE },
};

static enum url_scheme
url_scheme(const char *url, const char **rest)
{
	size_t	 i, len;

	for (i = 0; i < sizeof(url_schemes) / sizeof(url_schemes[0]); i++) {
		len = strlen(url_schemes[i].prefix);
		if (strncmp(url, url_schemes[i].prefix, len) == 0) {
			*rest = url + len;
			return url_schemes[i].scheme;
		}
	}
	return URL_NONE;
}

/*
 * Characters a URL may hold: printable ASCII without space, quotes,
 * backslash, and the characters that start a query or a fragment or mean
 * something to a shell or to git's own URL rewriting.
 */
static const char *
url_charset(const char *url)
{
	for (; *url != '\0'; url++)
		if (*url <= 0x20 || *url >= 0x7f ||
		    strchr("\"'`\\<>^{}|?#", *url) != NULL)
			return "may hold only printable ASCII without spaces, "
			    "quotes, \\ < > ^ { } | ? #";
	return NULL;
}

/* No empty, "." or ".." segment in the path: a prefix must mean a tree. */
static const char *
url_path(const char *path)
{
	const char	*p = path, *end;
	size_t		 len;

	for (;;) {
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return "must not hold a . or .. path segment";
		if (len == 0 && end != NULL)
			return "must not hold an empty path segment (//)";
		if (end == NULL)
			return NULL;
		p = end + 1;
	}
}

/*
 * The shape of scheme://authority/path.  A prefix (is_prefix) may stop
 * right after the authority's slash and must end with '/', so that
 * "https://example.com" cannot let "https://example.com.evil/" through.
 */
static const char *
url_shape(const char *url, int is_prefix, enum url_scheme *schemep)
{
	enum url_scheme	 scheme;
	const char	*rest, *slash, *at, *why;
	size_t		 hostlen;

	if ((why = url_charset(url)) != NULL)
		return why;
	if ((scheme = url_scheme(url, &rest)) == URL_NONE)
		return "must start with https://, git://, ssh:// or file://";
	*schemep = scheme;
	if (is_prefix && url[strlen(url) - 1] != '/')
		return "must end with /";
	if ((slash = strchr(rest, '/')) == NULL)
		return "has no path";
	hostlen = (size_t)(slash - rest);
	if (scheme == URL_FILE) {
		/* file:///abs only: no host, and no escapes to decode. */
		if (hostlen != 0)
			return "must be file:/// and an absolute path";
		if (strchr(url, '%') != NULL)
			return "must not hold percent escapes";
	} else {
		if (hostlen == 0)
			return "has no host";
		at = memchr(rest, '@', hostlen);
		if (at != NULL && scheme != URL_SSH)
			return "must not hold credentials (user@)";
		if (at != NULL && (memchr(rest, ':', at - rest) != NULL ||
		    memchr(at + 1, '@', slash - at - 1) != NULL))
			return "must not hold a password";
	}
	if (!is_prefix && slash[1] == '\0')
		return "has no repository path";
	return url_path(slash + 1);
}

const char *
buildreq_check_url(const char *url, const struct build_allow *allow)
{
	enum url_scheme	 scheme = URL_NONE;
	const char	*why;
	size_t		 i, len;

	if (url[0] == '\0')
		return "must not be empty";
	if (strlen(url) >= BUILD_URL_LEN)
		return "is too long";
	if ((why = url_shape(url, 0, &scheme)) != NULL)
		return why;
	if (scheme == URL_SSH && !allow->ssh)
		return "uses ssh, which the policy does not allow";
	if (scheme == URL_FILE && !allow->file_urls)
		return "uses file, which the policy does not allow";
	for (i = 0; i < allow->nurl_prefixes && i < BUILD_PREFIXES_MAX; i++) {
		len = strnlen(allow->url_prefixes[i], BUILD_URL_LEN);
		if (len > 0 && strncmp(url, allow->url_prefixes[i], len) == 0)
			return NULL;
	}
	return "is not under any allowed URL prefix";
}

static const char *
check_prefix(const char *s)
{
	enum url_scheme	 scheme;

	return url_shape(s, 1, &scheme);
}

/* --- decoding helpers ----------------------------------------------------- */

static void
join(char *out, const char *parent, const char *key)
{
	(void)snprintf(out, PATH_LEN, "%s%s%s", parent,
	    parent[0] != '\0' ? "." : "", key);
}

static json_t *
load(struct dctx *ctx, const char *json, size_t len, const char *what)
{
	json_error_t	 jerr;
	json_t		*root;

	if (len > BUILDREQ_JSON_MAX) {
		(void)fail(ctx, what, "%zu bytes, at most %d allowed", len,
		    BUILDREQ_JSON_MAX);
		return NULL;
	}
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		(void)fail(ctx, what, "malformed JSON at line %d column %d: "
		    "%.100s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		(void)fail(ctx, what, "expected an object, got %s",
		    type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Every key of obj must be in keys (NULL-ended). */
static int
only_keys(struct dctx *ctx, const char *path, json_t *obj,
    const char *const *keys)
{
	const char	*key;
	json_t		*val;
	char		 q[QUOTE_LEN + 16];
	size_t		 i;

	json_object_foreach(obj, key, val) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (keys[i] == NULL)
			return fail(ctx, path, "unknown key %s",
			    quote(key, q, sizeof(q)));
	}
	return 0;
}

static int
decode_string(struct dctx *ctx, const char *path, json_t *v, char *dst,
    size_t size, const char *(*check)(const char *))
{
	const char	*s, *why;
	char		 q[QUOTE_LEN + 16];

	if (!json_is_string(v))
		return fail(ctx, path, "expected a string, got %s",
		    type_name(v));
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s))
		return fail(ctx, path, "holds a NUL byte");
	if (strlen(s) >= size)
		return fail(ctx, path, "%zu bytes, at most %zu allowed",
		    strlen(s), size - 1);
	if (check != NULL && (why = check(s)) != NULL)
		return fail(ctx, path, "%s %s", quote(s, q, sizeof(q)), why);
	(void)strlcpy(dst, s, size);
	return 0;
}

/* obj.key into dst; absent is "" unless required. */
static int
get_string(struct dctx *ctx, const char *parent, json_t *obj,
    const char *key, char *dst, size_t size, int required,
    const char *(*check)(const char *))
{
	char	 path[PATH_LEN];
	json_t	*v;

	join(path, parent, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return required ? fail(ctx, path, "required") : 0;
	return decode_string(ctx, path, v, dst, size, check);
}

static int
get_bool(struct dctx *ctx, const char *parent, json_t *obj, const char *key,
    int *dst, int required)
{
	char	 path[PATH_LEN];
	json_t	*v;

	join(path, parent, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return required ? fail(ctx, path, "required") : 0;
	if (!json_is_boolean(v))
		return fail(ctx, path, "expected a boolean, got %s",
		    type_name(v));
	*dst = json_is_true(v);
	return 0;
}

/* An integer in lo..hi; dst keeps its default when absent. */
static int
get_number(struct dctx *ctx, const char *parent, json_t *obj,
    const char *key, uint64_t lo, uint64_t hi, uint64_t *dst)
{
	char		 path[PATH_LEN];
	json_t		*v;
	json_int_t	 n;

	join(path, parent, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return 0;
	if (!json_is_integer(v))
		return fail(ctx, path, "expected an integer, got %s",
		    type_name(v));
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < lo || (uint64_t)n > hi)
		return fail(ctx, path, "%lld is out of range (%llu..%llu)",
		    (long long)n, (unsigned long long)lo,
		    (unsigned long long)hi);
	*dst = (uint64_t)n;
	return 0;
}

/* obj.key, an object with only the given keys; NULL when absent. */
static int
get_object(struct dctx *ctx, const char *parent, json_t *obj,
    const char *key, const char *const *keys, int required, json_t **out)
{
	char	 path[PATH_LEN];
	json_t	*v;

	*out = NULL;
	join(path, parent, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return required ? fail(ctx, path, "required") : 0;
	if (!json_is_object(v))
		return fail(ctx, path, "expected an object, got %s",
		    type_name(v));
	if (only_keys(ctx, path, v, keys) == -1)
		return -1;
	*out = v;
	return 0;
}

static int
get_enum(struct dctx *ctx, const char *parent, json_t *obj, const char *key,
    const char *const *names, int *dst)
{
	char	 path[PATH_LEN], value[32], q[QUOTE_LEN + 16];
	int	 i;

	if (get_string(ctx, parent, obj, key, value, sizeof(value), 1,
	    NULL) == -1)
		return -1;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(value, names[i]) == 0) {
			*dst = i;
			return 0;
		}
	join(path, parent, key);
	return fail(ctx, path, "%s is not one of the known values",
	    quote(value, q, sizeof(q)));
}

/* --- the build request ---------------------------------------------------- */

static const char *const request_keys[] = {
	"task", "app", "repo", "dockerfile", "buildpack", "limits", "allow",
	NULL
};
static const char *const repo_keys[] = { "url", "commit", "ref", NULL };
static const char *const limits_keys[] = {
	"timeout_sec", "workspace_bytes", NULL
};
static const char *const allow_keys[] = {
	"file_urls", "submodules", "ssh", "url_prefixes", NULL
};
/* Indexed by enum build_kind; the first has no image. */
static const char *const *const buildpack_keys = kind_names + 1;

static int
decode_prefixes(struct dctx *ctx, json_t *allow, struct build_allow *out)
{
	enum url_scheme	 scheme;
	char		 path[PATH_LEN];
	json_t		*v;
	size_t		 i;

	if ((v = json_object_get(allow, "url_prefixes")) == NULL)
		return fail(ctx, "allow.url_prefixes", "required");
	if (!json_is_array(v))
		return fail(ctx, "allow.url_prefixes", "expected an array, "
		    "got %s", type_name(v));
	if (json_array_size(v) == 0)
		return fail(ctx, "allow.url_prefixes", "must not be empty: "
		    "no repository could be fetched");
	if (json_array_size(v) > BUILD_PREFIXES_MAX)
		return fail(ctx, "allow.url_prefixes", "%zu entries, at most "
		    "%d allowed", json_array_size(v), BUILD_PREFIXES_MAX);
	for (i = 0; i < json_array_size(v); i++) {
		(void)snprintf(path, sizeof(path), "allow.url_prefixes[%zu]",
		    i);
		if (decode_string(ctx, path, json_array_get(v, i),
		    out->url_prefixes[i], BUILD_URL_LEN, check_prefix) == -1)
			return -1;
		(void)url_shape(out->url_prefixes[i], 1, &scheme);
		/* A prefix the policy can never use is a mistake: say so. */
		if ((scheme == URL_SSH && !out->ssh) ||
		    (scheme == URL_FILE && !out->file_urls))
			return fail(ctx, path, "%s URLs are not allowed "
			    "(allow.%s is false)", scheme == URL_SSH ? "ssh" :
			    "file", scheme == URL_SSH ? "ssh" : "file_urls");
		out->nurl_prefixes = i + 1;
	}
	return 0;
}

static int
decode_allow(struct dctx *ctx, json_t *root, struct build_allow *out)
{
	json_t	*allow;

	if (get_object(ctx, "", root, "allow", allow_keys, 1, &allow) == -1)
		return -1;
	if (get_bool(ctx, "allow", allow, "file_urls", &out->file_urls,
	    0) == -1 ||
	    get_bool(ctx, "allow", allow, "submodules", &out->submodules,
	    0) == -1 ||
	    get_bool(ctx, "allow", allow, "ssh", &out->ssh, 0) == -1)
		return -1;
	return decode_prefixes(ctx, allow, out);
}

static int
decode_repo(struct dctx *ctx, json_t *root, struct build_request *req)
{
	json_t	*repo;

	if (get_object(ctx, "", root, "repo", repo_keys, 1, &repo) == -1)
		return -1;
	if (get_string(ctx, "repo", repo, "url", req->url, sizeof(req->url),
	    1, url_charset) == -1 ||
	    get_string(ctx, "repo", repo, "commit", req->commit,
	    sizeof(req->commit), 0, check_commit) == -1 ||
	    get_string(ctx, "repo", repo, "ref", req->ref, sizeof(req->ref),
	    0, check_ref) == -1)
		return -1;
	if (req->commit[0] == '\0' && req->ref[0] == '\0')
		return fail(ctx, "repo", "needs a commit or a ref");
	return 0;
}

static int
decode_limits(struct dctx *ctx, json_t *root, struct build_request *req)
{
	json_t		*limits;
	uint64_t	 timeout = BUILD_TIMEOUT_DEFAULT;

	req->workspace_bytes = BUILD_WORKSPACE_DEFAULT;
	if (get_object(ctx, "", root, "limits", limits_keys, 0,
	    &limits) == -1)
		return -1;
	if (limits == NULL)
		goto out;
	if (get_number(ctx, "limits", limits, "timeout_sec", 1,
	    BUILD_TIMEOUT_MAX, &timeout) == -1 ||
	    get_number(ctx, "limits", limits, "workspace_bytes",
	    BUILD_WORKSPACE_MIN, BUILD_WORKSPACE_MAX,
	    &req->workspace_bytes) == -1)
		return -1;
 out:
	req->timeout_sec = (uint32_t)timeout;
	return 0;
}

static int
decode_buildpack(struct dctx *ctx, json_t *root, struct build_request *req)
{
	json_t	*bp;
	int	 kind;

	if (get_object(ctx, "", root, "buildpack", buildpack_keys, 0,
	    &bp) == -1)
		return -1;
	if (bp == NULL)
		return 0;
	for (kind = BUILD_KIND_DOCKERFILE + 1; kind < BUILD_KIND_MAX; kind++)
		if (get_string(ctx, "buildpack", bp, kind_names[kind],
		    req->buildpack[kind], BUILD_IMAGE_LEN, 0,
		    check_image) == -1)
			return -1;
	return 0;
}

static int
decode_build(struct dctx *ctx, json_t *root, struct build_request *req)
{
	const char	*why;
	char		 q[QUOTE_LEN + 16];

	/* The task first: a refusal of anything else can still name it. */
	if (get_string(ctx, "", root, "task", req->task, sizeof(req->task), 1,
	    check_task) == -1 ||
	    only_keys(ctx, "request", root, request_keys) == -1 ||
	    get_string(ctx, "", root, "app", req->app, sizeof(req->app), 1,
	    check_app) == -1 ||
	    decode_repo(ctx, root, req) == -1 ||
	    get_string(ctx, "", root, "dockerfile", req->dockerfile,
	    sizeof(req->dockerfile), 0, check_relpath) == -1 ||
	    decode_buildpack(ctx, root, req) == -1 ||
	    decode_limits(ctx, root, req) == -1 ||
	    decode_allow(ctx, root, &req->allow) == -1)
		return -1;
	/* The URL is judged against the policy that came with it. */
	if ((why = buildreq_check_url(req->url, &req->allow)) != NULL)
		return fail(ctx, "repo.url", "%s %s",
		    quote(req->url, q, sizeof(q)), why);
	return 0;
}

int
buildreq_decode(const char *json, size_t len, struct build_request *req,
    char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_t		*root;
	int		 rc;

	memset(req, 0, sizeof(*req));
	if (errlen > 0)
		err[0] = '\0';
	if ((root = load(&ctx, json, len, "request")) == NULL)
		return -1;
	if (json_object_get(root, "cancel") != NULL) {
		static const char *const cancel_keys[] = { "cancel", NULL };

		req->cancel = 1;
		rc = only_keys(&ctx, "request", root, cancel_keys);
		if (rc == 0)
			rc = get_string(&ctx, "", root, "cancel", req->task,
			    sizeof(req->task), 1, check_task);
	} else
		rc = decode_build(&ctx, root, req);
	json_decref(root);
	return rc;
}

/* --- the builder's answers ------------------------------------------------ */

static const char *const log_keys[] = { "task", "stage", "text", NULL };
static const char *const context_keys[] = {
	"task", "commit", "detected", "dockerfile", NULL
};
static const char *const done_keys[] = { "task", "ok", "error", NULL };

int
build_log_decode(const char *json, size_t len, struct build_log *log,
    char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_t		*root;
	int		 stage = 0, rc = -1;

	memset(log, 0, sizeof(*log));
	if ((root = load(&ctx, json, len, "log")) == NULL)
		return -1;
	if (only_keys(&ctx, "log", root, log_keys) == 0 &&
	    get_string(&ctx, "", root, "task", log->task, sizeof(log->task),
	    1, check_task) == 0 &&
	    get_enum(&ctx, "", root, "stage", stage_names, &stage) == 0 &&
	    get_string(&ctx, "", root, "text", log->text, sizeof(log->text),
	    1, check_text) == 0)
		rc = 0;
	log->stage = (enum build_stage)stage;
	json_decref(root);
	return rc;
}

int
build_context_decode(const char *json, size_t len, struct build_context *bc,
    char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_t		*root;
	int		 kind = 0, rc = -1;

	memset(bc, 0, sizeof(*bc));
	if ((root = load(&ctx, json, len, "context")) == NULL)
		return -1;
	if (only_keys(&ctx, "context", root, context_keys) == 0 &&
	    get_string(&ctx, "", root, "task", bc->task, sizeof(bc->task), 1,
	    check_task) == 0 &&
	    get_string(&ctx, "", root, "commit", bc->commit,
	    sizeof(bc->commit), 1, check_commit_required) == 0 &&
	    get_enum(&ctx, "", root, "detected", kind_names, &kind) == 0 &&
	    get_string(&ctx, "", root, "dockerfile", bc->dockerfile,
	    sizeof(bc->dockerfile), 1, check_relpath_required) == 0)
		rc = 0;
	bc->detected = (enum build_kind)kind;
	json_decref(root);
	return rc;
}

int
build_done_decode(const char *json, size_t len, struct build_done *done,
    char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_t		*root;
	int		 rc = -1;

	memset(done, 0, sizeof(*done));
	if ((root = load(&ctx, json, len, "done")) == NULL)
		return -1;
	if (only_keys(&ctx, "done", root, done_keys) == -1 ||
	    get_string(&ctx, "", root, "task", done->task,
	    sizeof(done->task), 1, check_task_or_empty) == -1 ||
	    get_bool(&ctx, "", root, "ok", &done->ok, 1) == -1 ||
	    get_string(&ctx, "", root, "error", done->error,
	    sizeof(done->error), 0, check_text) == -1)
		goto out;
	/* An error exactly when not ok, and it names a stage. */
	if (done->ok && json_object_get(root, "error") != NULL)
		(void)fail(&ctx, "error", "present although ok is true");
	else if (!done->ok && done->error[0] == '\0')
		(void)fail(&ctx, "error", "required when ok is false");
	else
		rc = 0;
 out:
	json_decref(root);
	return rc;
}

/* --- encoding ------------------------------------------------------------- */

/* Dump root, and keep it only if decode accepts it back. */
static char *
dump_checked(json_t *root, int (*check)(const char *, size_t))
{
	char	*s;

	if (root == NULL)
		return NULL;
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (s != NULL && check(s, strlen(s)) == -1) {
		free(s);
		return NULL;
	}
	return s;
}

static int
check_request(const char *s, size_t len)
{
	struct build_request	*req;
	int			 rc;

	if ((req = malloc(sizeof(*req))) == NULL)
		return -1;
	rc = buildreq_decode(s, len, req, NULL, 0);
	free(req);
	return rc;
}

static int
check_log(const char *s, size_t len)
{
	struct build_log	 log;

	return build_log_decode(s, len, &log, NULL, 0);
}

static int
check_context(const char *s, size_t len)
{
	struct build_context	 bc;

	return build_context_decode(s, len, &bc, NULL, 0);
}

static int
check_done(const char *s, size_t len)
{
	struct build_done	 done;

	return build_done_decode(s, len, &done, NULL, 0);
}

static json_t *
encode_allow(const struct build_allow *allow)
{
	json_t	*prefixes;
	size_t	 i;

	if ((prefixes = json_array()) == NULL)
		return NULL;
	for (i = 0; i < allow->nurl_prefixes && i < BUILD_PREFIXES_MAX; i++)
		if (json_array_append_new(prefixes,
		    json_string(allow->url_prefixes[i])) == -1) {
			json_decref(prefixes);
			return NULL;
		}
	return json_pack("{s:b,s:b,s:b,s:o}", "file_urls", allow->file_urls,
	    "submodules", allow->submodules, "ssh", allow->ssh,
	    "url_prefixes", prefixes);
}

char *
buildreq_encode(const struct build_request *req)
{
	json_t	*bp, *root;
	int	 kind;

	if (req->cancel)
		return dump_checked(json_pack("{s:s}", "cancel", req->task),
		    check_request);
	if ((bp = json_object()) == NULL)
		return NULL;
	for (kind = BUILD_KIND_DOCKERFILE + 1; kind < BUILD_KIND_MAX; kind++)
		if (req->buildpack[kind][0] != '\0' &&
		    json_object_set_new(bp, kind_names[kind],
		    json_string(req->buildpack[kind])) == -1) {
			json_decref(bp);
			return NULL;
		}
	root = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:o,s:{s:I,s:I},s:o*}",
	    "task", req->task, "app", req->app,
	    "repo", "url", req->url, "commit", req->commit, "ref", req->ref,
	    "dockerfile", req->dockerfile, "buildpack", bp,
	    "limits", "timeout_sec", (json_int_t)req->timeout_sec,
	    "workspace_bytes", (json_int_t)req->workspace_bytes,
	    "allow", encode_allow(&req->allow));
	return dump_checked(root, check_request);
}

char *
build_log_encode(const struct build_log *log)
{
	char	 text[BUILD_TEXT_LEN];

	(void)strlcpy(text, log->text, sizeof(text));
	build_text_clean(text);
	return dump_checked(json_pack("{s:s,s:s,s:s}", "task", log->task,
	    "stage", build_stage_name(log->stage), "text", text), check_log);
}

char *
build_context_encode(const struct build_context *bc)
{
	return dump_checked(json_pack("{s:s,s:s,s:s,s:s}", "task", bc->task,
	    "commit", bc->commit, "detected", build_kind_name(bc->detected),
	    "dockerfile", bc->dockerfile), check_context);
}

char *
build_done_encode(const struct build_done *done)
{
	char	 error[BUILD_ERROR_LEN];

	if (done->ok)
		return dump_checked(json_pack("{s:s,s:b}", "task", done->task,
		    "ok", 1), check_done);
	(void)strlcpy(error, done->error, sizeof(error));
	build_text_clean(error);
	return dump_checked(json_pack("{s:s,s:b,s:s}", "task", done->task,
	    "ok", 0, "error", error), check_done);
}
