/*
 * runop.c: the one reader and the one writer of runner operations (the
 * JSON of IMSG_CTL_RUN and IMSG_RUN_REQUEST, see runop.h), and the check
 * of the runner's result JSON (IMSG_RUN_RESULT).  Linked into the parent,
 * berthctl and the runner; it allocates memory and nothing else: no
 * files, no sockets.
 *
 * The shape of a request is data: one table per JSON object naming each
 * key, its type, where it lands in struct run_request and its limits.
 * The decoder and the encoder walk the same tables, so what one accepts
 * the other writes back, and a key missing from a table is refused,
 * never dropped (Docker would drop it silently, GUIDE §7).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth.h"
#include "runop.h"

#define PATH_LEN		128
#define QUOTE_LEN		80

#define MEMORY_MIN		(6ULL * 1024 * 1024)	/* dockerd's floor */
#define MEMORY_MAX		(1ULL << 40)
#define NANO_CPUS_MIN		10000000LL		/* 0.01 CPU */
#define NANO_CPUS_MAX		1000000000000LL		/* 1000 CPUs */
#define PIDS_MAX		4194304LL		/* kernel pid_max */
#define SINCE_MAX		253402300799LL		/* year 9999 */
#define WORD_CHARS		"may hold only A-Z a-z 0-9 _ . : -"

_Static_assert(sizeof(enum run_op) == sizeof(int), "enum is an int");
_Static_assert(sizeof(enum run_restart) == sizeof(int), "enum is an int");

enum field_type {
	FT_STRING,	/* char[size] */
	FT_BOOL,	/* int, 0 or 1 */
	FT_NUMBER,	/* unsigned or int64_t of size bytes, in lo..hi */
	FT_ENUM,	/* int, the index of the string in names */
	FT_STRV,	/* char *[max] + size_t count; strings under size */
	FT_STRA,	/* char [max][size] + size_t count */
	FT_LABELS,	/* the labels object of struct run_spec */
	FT_OBJECT,	/* a nested struct, decoded by its own table */
	FT_OBJA		/* struct [max] of size bytes + size_t count */
};

struct dctx;

struct object_def {
	const struct field	*fields;
	size_t			 nfields;
	/* Checks across fields, once every field is in. */
	int			(*post)(struct dctx *, const char *, void *);
};

struct field {
	const char		*key;
	enum field_type		 type;
	size_t			 offset;
	size_t			 size;
	size_t			 count_offset;
	size_t			 max;
	int64_t			 lo, hi;	/* FT_NUMBER */
	int			 required;
	/* NULL or what is wrong with a string ("must match ...") */
	const char		*(*check)(const char *);
	const char *const	*names;		/* FT_ENUM, NULL-ended */
	const struct object_def	*object;	/* FT_OBJECT, FT_OBJA */
	const char		*range_phrase;	/* FT_NUMBER: "is not a port" */
};

struct dctx {
	char	*err;
	size_t	 errlen;
};

/* --- names --------------------------------------------------------------- */

static const char *const op_names[] = {
	[RUNOP_NONE] = "",
	[RUNOP_DEPLOY] = "deploy",
	[RUNOP_START] = "start",
	[RUNOP_STOP] = "stop",
	[RUNOP_RESTART] = "restart",
	[RUNOP_REMOVE] = "remove",
	[RUNOP_INSPECT] = "inspect",
	[RUNOP_LIST] = "list",
	[RUNOP_LOGS] = "logs",
	[RUNOP_STATS] = "stats",
	[RUNOP_WAIT] = "wait",
	[RUNOP_RENAME] = "rename",
	[RUNOP_IMAGE_REMOVE] = "image-remove",
	[RUNOP_IMAGE_PRUNE] = "image-prune",
	[RUNOP_IMAGE_BUILD] = "image-build",
	[RUNOP_EVENTS] = "events",
	[RUNOP_MAX] = NULL
};

static const char *const restart_names[] = {
	[RESTART_NO] = "no",
	[RESTART_ON_FAILURE] = "on-failure",
	[RESTART_UNLESS_STOPPED] = "unless-stopped",
	[RESTART_ALWAYS] = "always",
	NULL
};

static const char *const proto_names[] = { "tcp", "udp", NULL };

const char *
runop_name(enum run_op op)
{
	if ((unsigned int)op >= RUNOP_MAX || op == RUNOP_NONE)
		return "none";
	return op_names[op];
}

/* --- character sets ------------------------------------------------------ */

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
all_in(const char *s, const char *extra, int lower_only)
{
	for (; *s != '\0'; s++) {
		if (lower_only && *s >= 'A' && *s <= 'Z')
			return 0;
		if (!is_alnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return 0;
	}
	return 1;
}

static const char *
check_task(const char *s)
{
	return all_in(s, "_.:-", 0) ? NULL : WORD_CHARS;
}

static const char *
check_app(const char *s)
{
	if (!is_alnum((unsigned char)s[0]) || !all_in(s, "_.-", 1))
		return "must match [a-z0-9][a-z0-9_.-]*";
	return NULL;
}

/*
 * repo[:tag] or repo@sha256:hex: each '/' component starts with a letter
 * or digit, so no "." or ".." component can reach a Docker URL path.
 */
static const char *
check_image(const char *s)
{
	const char	*p;

	if (!all_in(s, "._/:@-", 0))
		return "may hold only A-Z a-z 0-9 . _ / : @ -";
	for (p = s; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (!is_alnum((unsigned char)*p))
			return "must start each / component with a letter "
			    "or digit";
	}
	return NULL;
}

/* Text other than NUL: arguments may hold newlines (sh -c scripts). */
static const char *
check_text(const char *s)
{
	(void)s;
	return NULL;
}

static const char *
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return "must not hold control characters";
	return NULL;
}

static const char *
check_env(const char *s)
{
	const char	*p = s;

	if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= 'a' && *p <= 'z')))
		return "must be KEY=value with KEY [A-Za-z_][A-Za-z0-9_]*";
	for (p++; *p != '\0' && *p != '='; p++)
		if (!is_alnum((unsigned char)*p) && *p != '_')
			break;
	if (*p != '=')
		return "must be KEY=value with KEY [A-Za-z_][A-Za-z0-9_]*";
	return NULL;
}

static const char *
check_label_key(const char *s)
{
	if (s[0] == '\0' || !all_in(s, "._/-", 0))
		return "must be non-empty and hold only A-Z a-z 0-9 . _ / -";
	if (strncasecmp(s, "berth.", 6) == 0)
		return "uses the berth. prefix, which only berth may set";
	return NULL;
}

static const char *
check_cap(const char *s)
{
	if (s[0] == '\0')
		return "is empty";
	for (; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || *s == '_'))
			return "must be an upper-case name like "
			    "NET_BIND_SERVICE";
	return NULL;
}

static const char *
check_mode(const char *s)
{
	return all_in(s, "_.:-", 0) ? NULL : WORD_CHARS;
}

static const char *
check_user(const char *s)
{
	return all_in(s, "_.:-", 0) ? NULL : WORD_CHARS;
}

/* Printable ASCII, no space: a volume name or a host path. */
static const char *
check_source(const char *s)
{
	if (s[0] == '\0')
		return "is empty";
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return "must be printable ASCII without spaces";
	return NULL;
}

/* Absolute and normalised: no "." or ".." component, no "//", no final /. */
static const char *
check_abs_path(const char *s)
{
	const char	*p;

	if (s[0] != '/')
		return "is not an absolute path";
	if (check_source(s) != NULL)
		return "must be printable ASCII without spaces";
	for (p = s; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		if (p[1] == '/' || (p[1] == '\0' && p != s))
			return "is not normalised";
		if (p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
			return "is not normalised";
	}
	return NULL;
}

static const char *
check_target(const char *s)
{
	const char	*why;

	if ((why = check_abs_path(s)) != NULL)
		return why;
	return strcmp(s, "/") == 0 ? "must not be the root" : NULL;
}

static const char *
check_workdir(const char *s)
{
	return s[0] == '\0' ? NULL : check_abs_path(s);
}

/* A URL, ref or path judged in full by the builder: printable, no space. */
static const char *
check_word(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return "must not hold spaces or control characters";
	return NULL;
}

static const char *
check_commit(const char *s)
{
	if (strlen(s) != RUNOP_COMMIT_LEN - 1 ||
	    strspn(s, "0123456789abcdef") != RUNOP_COMMIT_LEN - 1)
		return "must be 40 lower-case hex digits";
	return NULL;
}

static const char *
check_repo_path(const char *s)
{
	if (s[0] == '/' || check_word(s) != NULL)
		return "must be a relative path without spaces";
	return NULL;
}

static const char *
check_ip(const char *s)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	if (s[0] == '\0' || inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1)
		return NULL;
	return "is not an IPv4 or IPv6 address";
}

/* --- the tables ---------------------------------------------------------- */

#define STR(st, f, req, chk) \
	{ .key = #f, .type = FT_STRING, .offset = offsetof(struct st, f), \
	  .size = sizeof(((struct st *)0)->f), .required = (req), \
	  .check = (chk) }
#define KSTR(k, st, f, req, chk) \
	{ .key = (k), .type = FT_STRING, .offset = offsetof(struct st, f), \
	  .size = sizeof(((struct st *)0)->f), .required = (req), \
	  .check = (chk) }
#define BOOL(k, st, f) \
	{ .key = (k), .type = FT_BOOL, .offset = offsetof(struct st, f), \
	  .size = sizeof(int) }
#define NUM(k, st, f, l, h, req, phrase) \
	{ .key = (k), .type = FT_NUMBER, .offset = offsetof(struct st, f), \
	  .size = sizeof(((struct st *)0)->f), .lo = (l), .hi = (h), \
	  .required = (req), .range_phrase = (phrase) }
#define ENUM(k, st, f, n, req) \
	{ .key = (k), .type = FT_ENUM, .offset = offsetof(struct st, f), \
	  .size = sizeof(int), .names = (n), .required = (req) }
#define STRV(k, st, f, n, len, chk, req) \
	{ .key = (k), .type = FT_STRV, .offset = offsetof(struct st, f), \
	  .count_offset = offsetof(struct st, n), .size = (len), \
	  .max = sizeof(((struct st *)0)->f) / sizeof(char *), \
	  .check = (chk), .required = (req) }
#define STRA(k, st, f, n, chk) \
	{ .key = (k), .type = FT_STRA, .offset = offsetof(struct st, f), \
	  .count_offset = offsetof(struct st, n), \
	  .size = sizeof(((struct st *)0)->f[0]), \
	  .max = sizeof(((struct st *)0)->f) / \
	    sizeof(((struct st *)0)->f[0]), .check = (chk) }
#define OBJ(k, st, f, def, req) \
	{ .key = (k), .type = FT_OBJECT, .offset = offsetof(struct st, f), \
	  .object = (def), .required = (req) }
#define OBJA(k, st, f, n, def) \
	{ .key = (k), .type = FT_OBJA, .offset = offsetof(struct st, f), \
	  .count_offset = offsetof(struct st, n), \
	  .size = sizeof(((struct st *)0)->f[0]), \
	  .max = sizeof(((struct st *)0)->f) / \
	    sizeof(((struct st *)0)->f[0]), .object = (def) }
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static int	 post_request(struct dctx *, const char *, void *);
static int	 post_spec(struct dctx *, const char *, void *);
static int	 post_volume(struct dctx *, const char *, void *);

static const struct field port_fields[] = {
	NUM("container", run_port, container_port, 1, 65535, 1,
	    "is not a port"),
	NUM("host", run_port, host_port, 0, 65535, 0, "is not a port"),
	ENUM("proto", run_port, udp, proto_names, 0),
	KSTR("host_ip", run_port, host_ip, 0, check_ip),
};
static const struct object_def port_def = {
	port_fields, NITEMS(port_fields), NULL
};

static const struct field volume_fields[] = {
	STR(run_volume, source, 1, check_source),
	STR(run_volume, target, 1, check_target),
	BOOL("bind", run_volume, bind),
	BOOL("read_only", run_volume, read_only),
};
static const struct object_def volume_def = {
	volume_fields, NITEMS(volume_fields), post_volume
};

static const struct field health_fields[] = {
	STRV("cmd", run_health, cmd, ncmd, RUNOP_ARG_LEN, check_text, 1),
	NUM("interval", run_health, interval_sec, 0, 86400, 0, NULL),
	NUM("timeout", run_health, timeout_sec, 0, 86400, 0, NULL),
	NUM("retries", run_health, retries, 0, 1000, 0, NULL),
};
static const struct object_def health_def = {
	health_fields, NITEMS(health_fields), NULL
};

static const struct field repo_fields[] = {
	STR(run_repo, url, 0, check_word),
	STR(run_repo, commit, 0, check_commit),
	STR(run_repo, ref, 0, check_word),
	STR(run_repo, dockerfile, 0, check_repo_path),
};
static const struct object_def repo_def = {
	repo_fields, NITEMS(repo_fields), NULL
};

/* image is required by post_request: a deploy from git has none. */
static const struct field spec_fields[] = {
	STR(run_spec, image, 0, check_image),
	STRV("cmd", run_spec, cmd, ncmd, RUNOP_ARG_LEN, check_text, 0),
	STRV("env", run_spec, env, nenv, RUNOP_ENV_LEN, check_env, 0),
	{ .key = "labels", .type = FT_LABELS },
	OBJA("ports", run_spec, ports, nports, &port_def),
	OBJA("volumes", run_spec, volumes, nvolumes, &volume_def),
	STRA("cap_add", run_spec, cap_add, ncap_add, check_cap),
	NUM("memory", run_spec, memory_bytes, 0, MEMORY_MAX, 0, NULL),
	NUM("nano_cpus", run_spec, nano_cpus, 0, NANO_CPUS_MAX, 0, NULL),
	NUM("pids_limit", run_spec, pids_limit, 0, PIDS_MAX, 0, NULL),
	ENUM("restart", run_spec, restart, restart_names, 0),
	NUM("restart_max_retries", run_spec, restart_max_retries, 0, 1000,
	    0, NULL),
	OBJ("health", run_spec, health, &health_def, 0),
	STR(run_spec, user, 0, check_user),
	STR(run_spec, workdir, 0, check_workdir),
	BOOL("read_only_root", run_spec, read_only_root),
	BOOL("privileged", run_spec, privileged),
	STR(run_spec, network_mode, 0, check_mode),
	STR(run_spec, pid_mode, 0, check_mode),
	STR(run_spec, ipc_mode, 0, check_mode),
	STRA("devices", run_spec, devices, ndevices, check_abs_path),
};
static const struct object_def spec_def = {
	spec_fields, NITEMS(spec_fields), post_spec
};

/* "op" comes first: a request refused later still knows its op. */
static const struct field request_fields[] = {
	ENUM("op", run_request, op, op_names, 1),
	STR(run_request, task, 0, check_task),
	STR(run_request, app, 0, check_app),
	OBJ("spec", run_request, spec, &spec_def, 0),
	NUM("stop_timeout", run_request, stop_timeout_sec, 0, 3600, 0, NULL),
	BOOL("follow", run_request, follow),
	NUM("tail", run_request, tail, 0, 10000000, 0, NULL),
	NUM("since", run_request, since, 0, SINCE_MAX, 0, NULL),
	STR(run_request, new_name, 0, check_app),
	STR(run_request, image_ref, 0, check_image),
	OBJ("repo", run_request, repo, &repo_def, 0),
};
static const struct object_def request_def = {
	request_fields, NITEMS(request_fields), post_request
};

/* --- decoding ------------------------------------------------------------ */

static int	 decode_object(struct dctx *, const char *, json_t *,
		    const struct object_def *, void *);

static int
fail(struct dctx *ctx, const char *path, const char *fmt, ...)
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
		(void)snprintf(ctx->err, ctx->errlen, "%s%s%s",
		    path, path[0] != '\0' ? ": " : "", msg);
	return -1;
}

/*
 * A string for an error message: quoted, at most QUOTE_LEN bytes shown,
 * anything but printable ASCII escaped, since it ends up in logs and in
 * the audit trail.
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

/* The name of an object in messages: its path, or "request" at the top. */
static const char *
where(const char *path)
{
	return path[0] != '\0' ? path : "request";
}

/* out may be parent itself; a path too deep is cut short, not overrun. */
static void
join(char *out, const char *parent, const char *key)
{
	char	 tmp[PATH_LEN];

	if (snprintf(tmp, sizeof(tmp), "%s%s%s", parent,
	    parent[0] != '\0' ? "." : "", key) < 0)
		tmp[0] = '\0';
	memcpy(out, tmp, sizeof(tmp));
}

static void
join_index(char *out, const char *parent, size_t i)
{
	char	 tmp[PATH_LEN];

	if (snprintf(tmp, sizeof(tmp), "%s[%zu]", parent, i) < 0)
		tmp[0] = '\0';
	memcpy(out, tmp, sizeof(tmp));
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

/* A JSON string under size bytes that passes check. */
static int
decode_text(struct dctx *ctx, const char *path, json_t *v, size_t size,
    const char *(*check)(const char *), const char **out)
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
	*out = s;
	return 0;
}

static void
store_number(void *p, size_t size, int64_t v)
{
	uint16_t	 u16 = (uint16_t)v;
	uint32_t	 u32 = (uint32_t)v;

	/* Only non-negative values pass the ranges: one store fits all. */
	if (size == sizeof(u16))
		memcpy(p, &u16, size);
	else if (size == sizeof(u32))
		memcpy(p, &u32, size);
	else
		memcpy(p, &v, sizeof(v));
}

static int64_t
load_number(const void *p, size_t size)
{
	uint16_t	 u16;
	uint32_t	 u32;
	int64_t		 v;

	if (size == sizeof(u16)) {
		memcpy(&u16, p, size);
		return u16;
	}
	if (size == sizeof(u32)) {
		memcpy(&u32, p, size);
		return u32;
	}
	memcpy(&v, p, sizeof(v));
	return v;
}

static int
decode_number(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *dst)
{
	json_int_t	 n;

	if (!json_is_integer(v))
		return fail(ctx, path, "expected an integer, got %s",
		    type_name(v));
	n = json_integer_value(v);
	if (n < f->lo || n > f->hi) {
		if (f->range_phrase != NULL)
			return fail(ctx, path, "%lld %s", (long long)n,
			    f->range_phrase);
		return fail(ctx, path, "%lld is out of range (%lld..%lld)",
		    (long long)n, (long long)f->lo, (long long)f->hi);
	}
	store_number(dst, f->size, n);
	return 0;
}

static int
decode_enum(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *dst)
{
	const char	*s;
	char		 q[QUOTE_LEN + 16];
	int		 i;

	if (decode_text(ctx, path, v, 64, NULL, &s) == -1)
		return -1;
	for (i = 0; f->names[i] != NULL; i++)
		if (f->names[i][0] != '\0' && strcmp(s, f->names[i]) == 0)
			break;
	if (f->names[i] == NULL)
		return fail(ctx, path, "%s is not one of the known values",
		    quote(s, q, sizeof(q)));
	memcpy(dst, &i, sizeof(i));
	return 0;
}

static int
decode_array_of(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v)
{
	if (!json_is_array(v))
		return fail(ctx, path, "expected an array, got %s",
		    type_name(v));
	if (json_array_size(v) > f->max)
		return fail(ctx, path, "%zu entries, at most %zu allowed",
		    json_array_size(v), f->max);
	if (f->required && json_array_size(v) == 0)
		return fail(ctx, path, "must not be empty");
	return 0;
}

static int
decode_strv(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *obj)
{
	char		**vec = (char **)(void *)((char *)obj + f->offset);
	size_t		*count = (size_t *)(void *)((char *)obj +
			    f->count_offset);
	const char	*s;
	char		 sub[PATH_LEN];
	size_t		 i;

	if (decode_array_of(ctx, path, f, v) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		join_index(sub, path, i);
		if (decode_text(ctx, sub, json_array_get(v, i), f->size,
		    f->check, &s) == -1)
			return -1;
		if ((vec[i] = strdup(s)) == NULL)
			return fail(ctx, sub, "out of memory");
		*count = i + 1;
	}
	return 0;
}

static int
decode_stra(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *obj)
{
	char		*base = (char *)obj + f->offset;
	size_t		*count = (size_t *)(void *)((char *)obj +
			    f->count_offset);
	const char	*s;
	char		 sub[PATH_LEN];
	size_t		 i;

	if (decode_array_of(ctx, path, f, v) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		join_index(sub, path, i);
		if (decode_text(ctx, sub, json_array_get(v, i), f->size,
		    f->check, &s) == -1)
			return -1;
		(void)strlcpy(base + i * f->size, s, f->size);
		*count = i + 1;
	}
	return 0;
}

static int
decode_obja(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *obj)
{
	char		*base = (char *)obj + f->offset;
	size_t		*count = (size_t *)(void *)((char *)obj +
			    f->count_offset);
	char		 sub[PATH_LEN];
	size_t		 i;

	if (decode_array_of(ctx, path, f, v) == -1)
		return -1;
	for (i = 0; i < json_array_size(v); i++) {
		join_index(sub, path, i);
		if (decode_object(ctx, sub, json_array_get(v, i), f->object,
		    base + i * f->size) == -1)
			return -1;
		*count = i + 1;
	}
	return 0;
}

static int
label_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Labels are kept sorted by key, so that the encoding is canonical. */
static int
decode_labels(struct dctx *ctx, const char *path, json_t *v, void *obj)
{
	struct run_spec	*spec = obj;
	const char	*key, *value;
	char		 sub[PATH_LEN], q[QUOTE_LEN + 16];
	char		*pairs[RUNOP_LABELS_MAX][2];
	json_t		*val;
	size_t		 i, n = 0;

	if (!json_is_object(v))
		return fail(ctx, path, "expected an object, got %s",
		    type_name(v));
	if (json_object_size(v) > RUNOP_LABELS_MAX)
		return fail(ctx, path, "%zu labels, at most %d allowed",
		    json_object_size(v), RUNOP_LABELS_MAX);
	json_object_foreach(v, key, val) {
		join(sub, path, quote(key, q, sizeof(q)));
		if (strlen(key) >= RUNOP_LABEL_LEN)
			return fail(ctx, sub, "key of %zu bytes, at most %d "
			    "allowed", strlen(key), RUNOP_LABEL_LEN - 1);
		if (check_label_key(key) != NULL)
			return fail(ctx, sub, "key %s", check_label_key(key));
		if (decode_text(ctx, sub, val, RUNOP_LABEL_LEN,
		    check_printable, &value) == -1)
			return -1;
		pairs[n][0] = (char *)(uintptr_t)key;
		pairs[n][1] = (char *)(uintptr_t)value;
		n++;
	}
	qsort(pairs, n, sizeof(pairs[0]), label_cmp);
	for (i = 0; i < n; i++) {
		spec->label_keys[i] = strdup(pairs[i][0]);
		spec->label_values[i] = strdup(pairs[i][1]);
		spec->nlabels = i + 1;
		if (spec->label_keys[i] == NULL ||
		    spec->label_values[i] == NULL)
			return fail(ctx, path, "out of memory");
	}
	return 0;
}

static int
decode_field(struct dctx *ctx, const char *path, const struct field *f,
    json_t *v, void *obj)
{
	char		*dst = (char *)obj + f->offset;
	const char	*s;

	switch (f->type) {
	case FT_STRING:
		if (decode_text(ctx, path, v, f->size, f->check, &s) == -1)
			return -1;
		if (f->required && s[0] == '\0')
			return fail(ctx, path, "must not be empty");
		(void)strlcpy(dst, s, f->size);
		return 0;
	case FT_BOOL:
		if (!json_is_boolean(v))
			return fail(ctx, path, "expected a boolean, got %s",
			    type_name(v));
		*(int *)(void *)dst = json_is_true(v);
		return 0;
	case FT_NUMBER:
		return decode_number(ctx, path, f, v, dst);
	case FT_ENUM:
		return decode_enum(ctx, path, f, v, dst);
	case FT_STRV:
		return decode_strv(ctx, path, f, v, obj);
	case FT_STRA:
		return decode_stra(ctx, path, f, v, obj);
	case FT_LABELS:
		return decode_labels(ctx, path, v, obj);
	case FT_OBJECT:
		return decode_object(ctx, path, v, f->object, dst);
	case FT_OBJA:
		return decode_obja(ctx, path, f, v, obj);
	}
	return fail(ctx, path, "no decoder");
}

static int
decode_object(struct dctx *ctx, const char *path, json_t *v,
    const struct object_def *def, void *obj)
{
	const char	*key;
	json_t		*val;
	char		 sub[PATH_LEN], q[QUOTE_LEN + 16];
	size_t		 i;

	if (!json_is_object(v))
		return fail(ctx, where(path), "expected an object, got %s",
		    type_name(v));
	json_object_foreach(v, key, val) {
		for (i = 0; i < def->nfields; i++)
			if (strcmp(key, def->fields[i].key) == 0)
				break;
		if (i == def->nfields)
			return fail(ctx, where(path), "unknown key %s",
			    quote(key, q, sizeof(q)));
	}
	for (i = 0; i < def->nfields; i++) {
		join(sub, path, def->fields[i].key);
		if ((val = json_object_get(v, def->fields[i].key)) == NULL) {
			if (def->fields[i].required)
				return fail(ctx, sub, "required");
			continue;
		}
		if (decode_field(ctx, sub, &def->fields[i], val, obj) == -1)
			return -1;
	}
	return def->post != NULL ? def->post(ctx, path, obj) : 0;
}

/* --- checks across fields ------------------------------------------------ */

/* An image, or a repository to build it from (with what to fetch). */
static int
post_deploy(struct dctx *ctx, const struct run_request *req)
{
	const struct run_repo	*repo = &req->repo;

	if (repo->url[0] == '\0') {
		if (repo->commit[0] != '\0' || repo->ref[0] != '\0' ||
		    repo->dockerfile[0] != '\0')
			return fail(ctx, "repo.url", "required with the other "
			    "repo fields");
		if (!req->spec.given)
			return fail(ctx, "spec", "required by op deploy");
		if (req->spec.image[0] == '\0')
			return fail(ctx, "spec.image", "required");
		return 0;
	}
	if (req->spec.image[0] != '\0')
		return fail(ctx, "spec.image", "not with repo.url: the image "
		    "is the one built");
	if (repo->commit[0] == '\0' && repo->ref[0] == '\0')
		return fail(ctx, "repo", "needs commit or ref");
	return 0;
}

static int
post_request(struct dctx *ctx, const char *path, void *obj)
{
	struct run_request	*req = obj;
	const char		*op = runop_name(req->op);

	(void)path;
	if (req->op != RUNOP_LIST && req->op != RUNOP_IMAGE_PRUNE &&
	    req->op != RUNOP_IMAGE_REMOVE && req->op != RUNOP_EVENTS &&
	    req->app[0] == '\0')
		return fail(ctx, "app", "required by op %s", op);
	/* Refused rather than ignored: events are the node's, not one app's. */
	if (req->op == RUNOP_EVENTS && req->app[0] != '\0')
		return fail(ctx, "app", "not with op %s", op);
	if (req->op == RUNOP_DEPLOY)
		return post_deploy(ctx, req);
	if (req->op == RUNOP_IMAGE_BUILD && (req->repo.url[0] != '\0' ||
	    req->repo.ref[0] != '\0'))
		return fail(ctx, req->repo.url[0] != '\0' ? "repo.url" :
		    "repo.ref", "only with op deploy");
	if (req->op != RUNOP_IMAGE_BUILD && (req->repo.commit[0] != '\0' ||
	    req->repo.ref[0] != '\0' || req->repo.dockerfile[0] != '\0'))
		return fail(ctx, "repo", "only with op deploy or image-build");
	if (req->op == RUNOP_RENAME && req->new_name[0] == '\0')
		return fail(ctx, "new_name", "required by op %s", op);
	if (req->op == RUNOP_IMAGE_REMOVE && req->image_ref[0] == '\0')
		return fail(ctx, "image_ref", "required by op %s", op);
	return 0;
}

static int
env_key_equal(const char *a, const char *b)
{
	size_t	 la = strcspn(a, "="), lb = strcspn(b, "=");

	return la == lb && memcmp(a, b, la) == 0;
}

/* Docker keeps the last of a repeated key: refuse the ambiguity. */
static int
post_spec_unique(struct dctx *ctx, const char *path, struct run_spec *spec)
{
	char	 sub[PATH_LEN];
	size_t	 i, j;

	for (i = 0; i < spec->nenv; i++)
		for (j = 0; j < i; j++)
			if (env_key_equal(spec->env[i], spec->env[j])) {
				join(sub, path, "env");
				join_index(sub, sub, i);
				return fail(ctx, sub, "repeats the key of "
				    "env[%zu]", j);
			}
	for (i = 0; i < spec->nports; i++)
		for (j = 0; j < i; j++)
			if (spec->ports[i].container_port ==
			    spec->ports[j].container_port &&
			    spec->ports[i].udp == spec->ports[j].udp) {
				join(sub, path, "ports");
				join_index(sub, sub, i);
				return fail(ctx, sub, "publishes the port of "
				    "ports[%zu] again", j);
			}
	for (i = 0; i < spec->nvolumes; i++)
		for (j = 0; j < i; j++)
			if (strcmp(spec->volumes[i].target,
			    spec->volumes[j].target) == 0) {
				join(sub, path, "volumes");
				join_index(sub, sub, i);
				return fail(ctx, sub, "mounts on the target of "
				    "volumes[%zu] again", j);
			}
	return 0;
}

static int
post_spec(struct dctx *ctx, const char *path, void *obj)
{
	struct run_spec	*spec = obj;
	char		 sub[PATH_LEN];

	spec->given = 1;
	if (spec->memory_bytes != 0 && spec->memory_bytes < MEMORY_MIN) {
		join(sub, path, "memory");
		return fail(ctx, sub, "%llu is below Docker's minimum of %llu",
		    (unsigned long long)spec->memory_bytes, MEMORY_MIN);
	}
	if (spec->nano_cpus != 0 && spec->nano_cpus < NANO_CPUS_MIN) {
		join(sub, path, "nano_cpus");
		return fail(ctx, sub, "%llu is below the minimum of %lld "
		    "(0.01 CPU)", (unsigned long long)spec->nano_cpus,
		    NANO_CPUS_MIN);
	}
	if (spec->restart_max_retries != 0 &&
	    spec->restart != RESTART_ON_FAILURE) {
		join(sub, path, "restart_max_retries");
		return fail(ctx, sub, "only with restart on-failure");
	}
	return post_spec_unique(ctx, path, spec);
}

static int
post_volume(struct dctx *ctx, const char *path, void *obj)
{
	struct run_volume	*vol = obj;
	char			 sub[PATH_LEN];

	if (vol->bind && vol->source[0] != '/') {
		join(sub, path, "source");
		return fail(ctx, sub, "a bind mount needs an absolute host "
		    "path");
	}
	return 0;
}

int
runop_decode(const char *json, size_t len, struct run_request *req,
    char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_error_t	 jerr;
	json_t		*root, *op;
	const char	*s;
	int		 i, rc;

	memset(req, 0, sizeof(*req));
	if (errlen > 0)
		err[0] = '\0';
	if (len > RUNOP_JSON_MAX)
		return fail(&ctx, "request", "%zu bytes, at most %d allowed",
		    len, RUNOP_JSON_MAX);
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL)
		return fail(&ctx, "request", "malformed JSON at line %d "
		    "column %d: %.100s", jerr.line, jerr.column, jerr.text);
	/* Learn the op first, for the audit record of a refusal. */
	if ((op = json_object_get(root, "op")) != NULL &&
	    (s = json_string_value(op)) != NULL)
		for (i = 1; op_names[i] != NULL; i++)
			if (strcmp(s, op_names[i]) == 0)
				req->op = (enum run_op)i;
	rc = decode_object(&ctx, "", root, &request_def, req);
	json_decref(root);
	return rc;
}

void
runop_free(struct run_request *req)
{
	struct run_spec	*spec = &req->spec;
	size_t		 i;

	for (i = 0; i < spec->ncmd; i++)
		free(spec->cmd[i]);
	for (i = 0; i < spec->nenv; i++)
		free(spec->env[i]);
	for (i = 0; i < spec->nlabels; i++) {
		free(spec->label_keys[i]);
		free(spec->label_values[i]);
	}
	for (i = 0; i < spec->health.ncmd; i++)
		free(spec->health.cmd[i]);
	spec->ncmd = spec->nenv = spec->nlabels = spec->health.ncmd = 0;
}

/* --- encoding ------------------------------------------------------------ */

static json_t	*encode_object(const struct object_def *, const void *);

static int
names_count(const char *const *names)
{
	int	 n;

	for (n = 0; names[n] != NULL; n++)
		;
	return n;
}

static json_t *
encode_strings(char *const *vec, size_t n, size_t stride, const char *base)
{
	json_t	*a, *s;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		s = json_string(vec != NULL ? vec[i] : base + i * stride);
		if (json_array_append_new(a, s) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
encode_labels(const struct run_spec *spec)
{
	json_t	*o;
	size_t	 i;

	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < spec->nlabels; i++)
		if (json_object_set_new(o, spec->label_keys[i],
		    json_string(spec->label_values[i])) == -1) {
			json_decref(o);
			return NULL;
		}
	return o;
}

static json_t *
encode_obja(const struct field *f, const char *base, size_t n)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (json_array_append_new(a,
		    encode_object(f->object, base + i * f->size)) == -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/*
 * One field as JSON, or *skip when it holds its zero value: the canonical
 * form leaves defaults out.  NULL without skip is a failure.
 */
static json_t *
encode_field(const struct field *f, const void *obj, int *skip)
{
	const char	*src = (const char *)obj + f->offset;
	size_t		 n = 0;
	int		 i;
	json_t		*v;

	*skip = 1;
	if (f->type == FT_STRV || f->type == FT_STRA || f->type == FT_OBJA)
		memcpy(&n, (const char *)obj + f->count_offset, sizeof(n));
	switch (f->type) {
	case FT_STRING:
		if (src[0] == '\0')
			return NULL;
		*skip = 0;
		return json_string(src);
	case FT_BOOL:
		memcpy(&i, src, sizeof(i));
		if (i == 0)
			return NULL;
		*skip = 0;
		return json_true();
	case FT_NUMBER:
		if (load_number(src, f->size) == 0)
			return NULL;
		*skip = 0;
		return json_integer(load_number(src, f->size));
	case FT_ENUM:
		memcpy(&i, src, sizeof(i));
		if (i <= 0)
			return NULL;
		*skip = 0;
		if (i >= names_count(f->names))
			return NULL;
		*skip = 0;
		return json_string(f->names[i]);
	case FT_STRV:
	case FT_STRA:
		if (n == 0)
			return NULL;
		*skip = 0;
		return encode_strings(f->type == FT_STRV ?
		    (char *const *)(const void *)src : NULL, n, f->size, src);
	case FT_LABELS:
		if (((const struct run_spec *)obj)->nlabels == 0)
			return NULL;
		*skip = 0;
		return encode_labels(obj);
	case FT_OBJECT:
		if ((v = encode_object(f->object, src)) != NULL &&
		    json_object_size(v) == 0) {
			json_decref(v);
			return NULL;
		}
		*skip = 0;
		return v;
	case FT_OBJA:
		if (n == 0)
			return NULL;
		*skip = 0;
		return encode_obja(f, src, n);
	}
	*skip = 0;
	return NULL;
}

static json_t *
encode_object(const struct object_def *def, const void *obj)
{
	json_t	*o, *v;
	size_t	 i;
	int	 skip;

	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < def->nfields; i++) {
		v = encode_field(&def->fields[i], obj, &skip);
		if (skip)
			continue;
		if (v == NULL ||
		    json_object_set_new(o, def->fields[i].key, v) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

char *
runop_encode(const struct run_request *req)
{
	json_t	*root;
	char	*out;

	if ((unsigned int)req->op >= RUNOP_MAX || req->op == RUNOP_NONE)
		return NULL;
	if ((root = encode_object(&request_def, req)) == NULL)
		return NULL;
	out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (out != NULL && strlen(out) > RUNOP_JSON_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

/* --- results ------------------------------------------------------------- */

/*
 * The keys a runner result may carry at its top level (the shapes are in
 * runner/ops.h) and in each entry of "apps" and of its "ports".
 */
struct result_key {
	const char	*key;
	json_type	 type;	/* JSON_TRUE stands for either boolean */
};

static const struct result_key result_keys[] = {
	{ "ok",			JSON_TRUE },
	{ "error",		JSON_STRING },
	{ "app",		JSON_STRING },
	{ "id",			JSON_STRING },
	{ "name",		JSON_STRING },
	{ "image",		JSON_STRING },
	{ "state",		JSON_STRING },
	{ "running",		JSON_TRUE },
	{ "exit_code",		JSON_INTEGER },
	{ "started_at",		JSON_STRING },
	{ "health",		JSON_STRING },
	{ "apps",		JSON_ARRAY },
	{ "stream",		JSON_TRUE },
	{ "cpu_percent",	JSON_REAL },
	{ "memory_bytes",	JSON_INTEGER },
	{ "memory_limit",	JSON_INTEGER },
	{ "pids",		JSON_INTEGER },
	{ "deleted",		JSON_INTEGER },
	{ "space_reclaimed",	JSON_INTEGER },
	{ "engine_version",	JSON_STRING },
};

static const struct result_key app_keys[] = {
	{ "app",		JSON_STRING },
	{ "name",		JSON_STRING },
	{ "id",			JSON_STRING },
	{ "image",		JSON_STRING },
	{ "state",		JSON_STRING },
	{ "status",		JSON_STRING },
	{ "ports",		JSON_ARRAY },
};

static const struct result_key port_keys[] = {
	{ "container",		JSON_INTEGER },
	{ "host",		JSON_INTEGER },
	{ "host_ip",		JSON_STRING },
	{ "proto",		JSON_STRING },
};

static int
result_type_ok(json_type want, const json_t *v)
{
	if (want == JSON_TRUE)
		return json_is_boolean(v);
	if (want == JSON_REAL)
		return json_is_number(v);
	return json_typeof(v) == want;
}

static int
result_keys_check(struct dctx *ctx, const char *path, const json_t *obj,
    const struct result_key *keys, size_t nkeys)
{
	const char	*key;
	json_t		*v;
	char		 sub[PATH_LEN], q[QUOTE_LEN + 16];
	size_t		 i;

	if (!json_is_object(obj))
		return fail(ctx, where(path), "expected an object, got %s",
		    type_name(obj));
	json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
		for (i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i].key) == 0)
				break;
		if (i == nkeys)
			return fail(ctx, where(path), "unknown key %s",
			    quote(key, q, sizeof(q)));
		join(sub, path, key);
		if (!result_type_ok(keys[i].type, v))
			return fail(ctx, sub, "wrong type: %s", type_name(v));
	}
	return 0;
}

static int
result_apps_check(struct dctx *ctx, const json_t *apps)
{
	json_t	*app, *port, *ports;
	char	 sub[PATH_LEN], sub2[PATH_LEN];
	size_t	 i, j;

	json_array_foreach((json_t *)(uintptr_t)apps, i, app) {
		join_index(sub, "apps", i);
		if (result_keys_check(ctx, sub, app, app_keys,
		    NITEMS(app_keys)) == -1)
			return -1;
		if ((ports = json_object_get(app, "ports")) == NULL)
			continue;
		json_array_foreach(ports, j, port) {
			join(sub2, sub, "ports");
			join_index(sub2, sub2, j);
			if (result_keys_check(ctx, sub2, port, port_keys,
			    NITEMS(port_keys)) == -1)
				return -1;
		}
	}
	return 0;
}

int
runresult_check(const char *json, size_t len, char *err, size_t errlen)
{
	struct dctx	 ctx = { err, errlen };
	json_error_t	 jerr;
	json_t		*root, *ok, *error, *apps;
	int		 rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (len > RUNRESULT_JSON_MAX)
		return fail(&ctx, "result", "%zu bytes, at most %d allowed",
		    len, RUNRESULT_JSON_MAX);
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL)
		return fail(&ctx, "result", "malformed JSON at line %d "
		    "column %d: %.100s", jerr.line, jerr.column, jerr.text);
	if (result_keys_check(&ctx, "", root, result_keys,
	    NITEMS(result_keys)) == -1)
		goto done;
	ok = json_object_get(root, "ok");
	error = json_object_get(root, "error");
	if (ok == NULL)
		fail(&ctx, "ok", "required");
	else if (json_is_false(ok) && error == NULL)
		fail(&ctx, "error", "required when ok is false");
	else if (json_is_true(ok) && error != NULL)
		fail(&ctx, "error", "only when ok is false");
	else if ((apps = json_object_get(root, "apps")) == NULL ||
	    result_apps_check(&ctx, apps) == 0)
		rc = 0;
done:
	json_decref(root);
	return rc;
}
